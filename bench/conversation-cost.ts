/**
 * Cost of a follow-up turn as its conversation grows: one task, `turns` follow-ups one after
 * another (offline model, SQLite), each followed on its stream from the last event seen, with
 * Kiln's CPU per turn read from /proc over windows of `window` turns at the start and at the end.
 *
 *   npm run build && node dist/bench/conversation-cost.js [turns] [window] [KILN_CONTEXT_TOKENS]
 */
import { Api } from '../test/helpers/api.js';
import { startKiln } from '../test/helpers/kiln-process.js';
import { cpuMs } from './lib/proc.js';

const turns = Number(process.argv[2] ?? 1000);
const window = Number(process.argv[3] ?? 50);
const budget = process.argv[4];
const kiln = await startKiln({ env: { KILN_LOG_LEVEL: 'warn', ...(budget ? { KILN_CONTEXT_TOKENS: budget } : {}) } });
const api = Api.of(kiln);
const message = 'a follow-up of seventeen words, as people write them, to echo back like the bench does';
const id = await api.createTask({ message });
let seen = (await api.waitForEnd(id)).id!;

const readings: { from: number; to: number; cpuMsPerTurn: number; wallMsPerTurn: number }[] = [];
let start: { turn: number; cpu: number; wall: number } | null = null;
for (let turn = 2; turn <= turns; turn++) {
  const atStart = turn === 10 || turn === turns - window + 1;
  if (atStart) start = { turn, cpu: cpuMs(kiln.child.pid!)!, wall: performance.now() };
  await api.post(`/api/v1/tasks/${id}/messages`, { message });
  // Resumed from the last event seen: the stream does not replay the whole history each turn.
  const end = (await api.streamAll(id, seen)).at(-1)!;
  if (end.event !== 'done') throw new Error(`turn ${turn} ended with ${end.event}`);
  seen = end.id!;
  if (start && turn === start.turn + window - 1) {
    readings.push({
      from: start.turn,
      to: turn,
      cpuMsPerTurn: (cpuMs(kiln.child.pid!)! - start.cpu) / window,
      wallMsPerTurn: (performance.now() - start.wall) / window,
    });
    start = null;
  }
  if (turn % 200 === 0) process.stderr.write(`${turn} turns\n`);
}
await kiln.stop();
console.log(`one task, ${turns} turns, KILN_CONTEXT_TOKENS=${budget ?? 'default'}:`);
for (const r of readings) console.log(`  turns ${r.from}-${r.to}: ${r.cpuMsPerTurn.toFixed(2)} ms Kiln CPU, ${r.wallMsPerTurn.toFixed(2)} ms per turn`);
if (readings.length === 2) console.log(`  last / first: ${(readings[1]!.cpuMsPerTurn / readings[0]!.cpuMsPerTurn).toFixed(2)}x CPU`);

/**
 * Time of a turn that runs one command (`true`, offline model, bubblewrap sandbox), in an empty
 * workspace and in one of N files: what the walks around a command (giving the workspace to the
 * task's user, measuring it, looking for changed files after) cost as a workspace grows. Median of
 * 10 follow-up turns each. Then Kiln's CPU time during a turn whose command runs for 5 s
 * (`sleep 5`), in each workspace: what the size watchdog's walks cost while a command runs.
 *
 *   npm run build && node dist/bench/command-cost.js [files, default 10000]
 */
import { Api } from '../test/helpers/api.js';
import { cpuMs } from './lib/proc.js';
import { startKiln } from './lib/servers.js';
import { round } from './lib/stats.js';

const files = Math.max(100, Number(process.argv[2] ?? 10_000));
const kiln = await startKiln();
const api = new Api(kiln.url, kiln.key);

async function ended(taskId: string): Promise<void> {
  const end = await api.waitForEnd(taskId);
  if (end.event !== 'done') throw new Error(`the turn ended with ${end.event}: ${JSON.stringify(end.data)}`);
}

/** Median time of `n` one-command follow-ups of the task. */
async function medianTurnMs(taskId: string, n = 10): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const sent = await api.post(`/api/v1/tasks/${taskId}/messages`, { message: '$ true' });
    if (sent.status !== 200) throw new Error(`follow-up refused: ${sent.status} ${JSON.stringify(sent.body)}`);
    await ended(taskId);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

/** Kiln's CPU time during one follow-up turn of the task that runs `sleep 5`. */
async function longCommandCpuMs(taskId: string): Promise<number> {
  const before = cpuMs(kiln.pid)!;
  const sent = await api.post(`/api/v1/tasks/${taskId}/messages`, { message: '$ sleep 5' });
  if (sent.status !== 200) throw new Error(`follow-up refused: ${sent.status} ${JSON.stringify(sent.body)}`);
  await ended(taskId);
  return cpuMs(kiln.pid)! - before;
}

try {
  const empty = await api.createTask({ message: '$ true', autoExecute: true });
  await ended(empty);
  // Folders of 100 files each, as a source tree spreads them.
  const full = await api.createTask({
    message: `$ mkdir -p tree && cd tree && for d in $(seq 1 ${Math.ceil(files / 100)}); do mkdir $d && (cd $d && seq 1 100 | xargs touch); done`,
    autoExecute: true,
  });
  await ended(full);
  for (let run = 1; run <= 2; run++) {
    const [a, b] = [await medianTurnMs(empty), await medianTurnMs(full)];
    console.log(`run ${run}: one-command turn, median of 10: empty workspace ${round(a, 1)} ms; ${files} files ${round(b, 1)} ms`);
  }
  const [a, b] = [await longCommandCpuMs(empty), await longCommandCpuMs(full)];
  console.log(`a turn running \`sleep 5\`: Kiln's CPU ${round(a, 0)} ms in the empty workspace, ${round(b, 0)} ms in the one of ${files} files`);
} finally {
  await kiln.stop();
}

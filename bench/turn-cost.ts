/**
 * CPU cost of the agent loop alone, in this process: turns of the offline model with an empty
 * sink (no database, no HTTP), so that what the loop and the model interface cost per turn can be
 * compared between versions and across conversation and turn lengths.
 *
 *   npm run build && node dist/bench/turn-cost.js [turns] [thoughts per turn] [earlier turns]
 *
 * e.g. `turn-cost.js 2000 0 0` (a W2 echo turn), `turn-cost.js 20 0 1000` (a turn after 1,000
 * earlier turns), `turn-cost.js 3 10000 0` (10,000 thoughts in one turn).
 */
import type { ModelMessage } from 'ai';
import { OfflineModel } from '../src/adapters/models/offline-model.js';
import { runAgentTurn } from '../src/core/agent/agent-loop.js';
import { Redactor } from '../src/core/agent/redactor.js';
import { ToolGate } from '../src/core/agent/tool-gate.js';
import type { ToolContext } from '../src/core/agent/tool-types.js';
import { ToolExecutor } from '../src/core/agent/tools.js';
import { TurnTools } from '../src/core/agent/turn-tools.js';
import { McpToolbox } from '../src/core/mcp/mcp-toolbox.js';
import type { CommandRunner } from '../src/ports/command-runner.js';
import type { McpConnector } from '../src/ports/mcp-client.js';
import { NO_INSTRUMENTS } from '../src/ports/instruments.js';

const turns = Number(process.argv[2] ?? 200);
const thoughts = Number(process.argv[3] ?? 0);
const earlier = Number(process.argv[4] ?? 0);
const model = new OfflineModel();
const redactor = new Redactor({});
const signal = new AbortController().signal;
const noCommands = {} as CommandRunner;
const mcp = await McpToolbox.open(null, {} as McpConnector, { redactor, workspaceMb: 100 } as Parameters<typeof McpToolbox.open>[2]);
const message = thoughts > 0 ? Array.from({ length: thoughts }, (_, i) => `think step ${i}`).join('\n') : 'hello from the turn cost bench with seventeen words of text to echo back like W2 does';
const history: ModelMessage[] = [];
for (let i = 0; i < earlier; i++) {
  history.push({ role: 'user', content: [{ type: 'text', text: `question ${i} with a few words in it, as people write them` }] });
  history.push({ role: 'assistant', content: [{ type: 'reasoning', text: 'thinking about it' }, { type: 'text', text: `Echo: answer ${i} with a few words in it` }] });
}
const sink = { emit: () => {}, flush: async () => {}, saveModelMessages: async () => {} };

async function turn(): Promise<void> {
  const tools = new TurnTools(new ToolExecutor(noCommands, { commandTimeoutMs: 1000, commandOutputLimit: 1000, workspaceMb: 10 }), mcp, async () => {});
  await runAgentTurn(
    {
      model,
      system: 'You are Kiln.',
      messages: [...history, { role: 'user', content: [{ type: 'text', text: message }] }],
      tools,
      toolContext: {} as ToolContext,
      maxSteps: 10,
      redactor,
      gate: async () => new ToolGate(null, true, []),
      retry: { retries: 0, baseMs: 1 },
      signal,
      instruments: NO_INSTRUMENTS,
    },
    sink,
  );
}

for (let i = 0; i < Math.min(50, turns); i++) await turn();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < turns; i++) await turn();
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
console.log(
  `${turns} turns, ${thoughts} thoughts each, after ${earlier} earlier turns: ` +
    `${((cpu.user + cpu.system) / 1000 / turns).toFixed(3)} ms CPU and ${(wall / turns).toFixed(3)} ms per turn`,
);

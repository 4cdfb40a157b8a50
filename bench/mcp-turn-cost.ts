/**
 * What an agent's MCP servers add to each turn: the same turns (offline model, one model step and
 * no tool call) timed for an agent without servers and for one with a Streamable HTTP server (in
 * this process, on loopback) and a stdio server (in the task's sandbox). Each turn connects,
 * lists the tools and closes again, so the difference is the per-turn cost of the servers.
 *
 *   npm run build && node dist/bench/mcp-turn-cost.js [turns]
 */
import { Api, form } from '../test/helpers/api.js';
import { startKiln } from '../test/helpers/kiln-process.js';
import { startMcpHttpServer } from '../test/helpers/mcp-http-server.js';
import { stdioServerZip } from '../test/helpers/mcp-stdio-package.js';
import { percentile } from './lib/stats.js';

const turns = Number(process.argv[2] ?? 20);
const http = await startMcpHttpServer();
const kiln = await startKiln({ env: { KILN_MCP_ALLOW_PRIVATE: 'true', KILN_LOG_LEVEL: 'warn' } });
const api = Api.of(kiln);

async function agent(mcpServers: unknown): Promise<string> {
  return (await api.post('/api/v1/agents', { name: 'bench', mcpServers })).body.data.id;
}

/** Times `turns` follow-ups of one task (after a first turn that uploads the stdio server). */
async function measure(agentId: string, message: string): Promise<number[]> {
  const created = await api.request('POST', '/api/v1/tasks', { body: form({ message: 'ls', agentId }, [{ name: 'server.zip', content: stdioServerZip() }]) });
  const id = created.body.data.id as string;
  await api.waitForEnd(id);
  const times: number[] = [];
  for (let i = 0; i < turns; i++) {
    const last = (await api.streamAll(id)).at(-1)!.id!;
    const started = performance.now();
    await api.post(`/api/v1/tasks/${id}/messages`, { message });
    const events = await api.streamAll(id, last);
    times.push(performance.now() - started);
    if (events.at(-1)!.event !== 'done') throw new Error(`turn failed: ${JSON.stringify(events.at(-1))}`);
    if (events.some((e) => e.event === 'status' && e.data.message)) throw new Error(`a server was not used: ${JSON.stringify(events)}`);
  }
  return times;
}

const stdio = { command: 'node', args: ['server.mjs'], cwd: 'uploads/mcp-server' };
const rows: [string, number[]][] = [
  ['no MCP servers', await measure(await agent(null), 'hello')],
  ['HTTP server', await measure(await agent({ web: { type: 'http', url: `${http.url}/mcp` } }), 'hello')],
  ['stdio server', await measure(await agent({ local: stdio }), 'hello')],
  ['HTTP + stdio', await measure(await agent({ web: { type: 'http', url: `${http.url}/mcp` }, local: stdio }), 'hello')],
  ['HTTP + stdio, one call each', await measure(await agent({ web: { type: 'http', url: `${http.url}/mcp` }, local: stdio }), 'call web__echo {"text": "a"}\ncall local__echo {"text": "b"}')],
];
console.log(`${turns} turns each (POST follow-up → terminal event), ms:`);
for (const [name, times] of rows) {
  console.log(`  ${name.padEnd(30)} median ${percentile(times, 50)!.toFixed(0).padStart(5)}   p90 ${percentile(times, 90)!.toFixed(0).padStart(5)}`);
}
await kiln.stop();
await http.close();

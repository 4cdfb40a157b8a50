/**
 * A stdio MCP server for the tests, written with the official SDK. It is shipped into a task's
 * workspace (with the packages it imports) and started by Kiln inside the task's sandbox.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

/** A 1×1 PNG. */
const PIXEL = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const server = new McpServer({ name: 'kiln-test-stdio', version: '1.0.0' });
const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

server.registerTool('echo', { description: 'Says the text back', inputSchema: { text: z.string() } }, async ({ text: value }) => text(`echo: ${value}`));

server.registerTool('env_digest', { description: 'SHA-256 of an environment variable', inputSchema: { name: z.string() } }, async ({ name }) => {
  const value = process.env[name];
  return text(value === undefined ? `${name} is not set` : `${name} sha256=${createHash('sha256').update(value).digest('hex')}`);
});

server.registerTool('where', { description: 'Where the server runs', inputSchema: { probe: z.string() } }, async ({ probe }) =>
  text(JSON.stringify({ cwd: process.cwd(), home: process.env.HOME, probeVisible: fs.existsSync(probe), uid: process.getuid?.() })),
);

server.registerTool('note', { description: 'Writes a file next to the server', inputSchema: { name: z.string(), content: z.string() } }, async ({ name, content }) => {
  fs.writeFileSync(name, content);
  return text(`wrote ${name}`);
});

server.registerTool('picture', { description: 'Returns a picture' }, async () => ({
  content: [
    { type: 'text' as const, text: 'a red pixel' },
    { type: 'image' as const, data: PIXEL, mimeType: 'image/png' },
  ],
}));

server.registerTool('crash', { description: 'Exits at once' }, async () => {
  // The token, padded so that only its end falls in the last 2048 characters Kiln keeps of stderr.
  process.stderr.write(`token ${process.env.API_TOKEN}${'x'.repeat(2008)}\n`);
  process.stderr.write('stdio server: crashing on purpose\n');
  process.exit(3);
});

server.registerTool('hang', { description: 'Never answers' }, () => new Promise<never>(() => {}));

server.registerTool('big', { description: 'Returns that many bytes of text', inputSchema: { bytes: z.number() } }, async ({ bytes }) => text('x'.repeat(bytes)));

await server.connect(new StdioServerTransport());

import { randomBytes } from 'node:crypto';
import { jsonSchema, tool, type ToolSet } from 'ai';
import type { McpCallResult, McpConnection, McpConnector, McpTarget } from '../../ports/mcp-client.js';
import type { Redactor } from '../agent/redactor.js';
import { ToolArgumentError, type ToolContext, type ToolOutcome } from '../agent/tool-types.js';
import { writeToolFile } from '../agent/workspace-files.js';
import { DomainError } from '../errors.js';
import { MAX_TOOL_NAME, TOOL_SEPARATOR, toolAllowed, type McpServerConfig, type McpServers } from './mcp-servers.js';
import { MissingTemplateValue, TemplateValues } from './templates.js';

/** Limit of a call when the server's settings give none. */
export const DEFAULT_MCP_TIMEOUT_MS = 60_000;
/** Connecting (starting a stdio server, the handshake, listing tools) may take at least this long, whatever the call limit. */
const MIN_CONNECT_MS = 10_000;
/** Bytes of a result's text passed to the model and the event log; the rest is cut with a note. */
const RESULT_TEXT_LIMIT = 256 * 1024;
/** Largest image or resource saved into the workspace from one result. */
const MAX_SAVED_BYTES = 50 * 1024 * 1024;

/** What a turn needs to reach its agent's MCP servers. */
export interface McpTurnContext {
  taskId: string;
  workspace: string;
  /** The task's own env (with its secrets, what `{{mcp.KEY}}` is filled from). */
  env: Record<string, string>;
  /** Environment of sandboxed processes: base, the task's env and its secrets. */
  processEnv: Record<string, string>;
  secrets: Record<string, string>;
  redactor: Redactor;
  /** The workspace size limit, which files saved from results count against. */
  workspaceMb: number;
  signal: AbortSignal;
}

/** How results are kept: secrets redacted where a result is cut, saved files within the workspace limit. */
interface ResultRules {
  redactor: Redactor;
  workspaceMb: number;
}

interface OfferedTool {
  server: string;
  /** The server's own name of the tool. */
  tool: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

interface OpenServer {
  name: string;
  config: McpServerConfig;
  connection: McpConnection;
  /** Text that must not appear in messages about this server (resolved URL, secret headers). */
  hidden: string[];
}

/**
 * The MCP tools of one turn: made by connecting, at the start of the turn, to each enabled server
 * of the agent, with `{{mcp.KEY}}` placeholders filled from the task's env and secrets. Nothing
 * outlives the turn: {@link close} ends every connection and stops every stdio server. A server
 * that cannot be reached is reported once (in {@link problems}) and its tools are not offered.
 */
export class McpToolbox {
  private constructor(
    private readonly servers: Map<string, OpenServer>,
    private readonly offered: Map<string, OfferedTool>,
    /** One line per server that could not be used, or tool that could not be offered. */
    readonly problems: string[],
    private readonly results: ResultRules,
  ) {}

  static async open(configs: McpServers | null, connector: McpConnector, ctx: McpTurnContext): Promise<McpToolbox> {
    const enabled = Object.entries(configs ?? {}).filter(([, config]) => config.enabled);
    const rules = { redactor: ctx.redactor, workspaceMb: ctx.workspaceMb };
    if (enabled.length === 0) return new McpToolbox(new Map(), new Map(), [], rules);
    const problems: string[] = [];
    const servers = new Map<string, OpenServer>();
    const settled = await Promise.all(enabled.map(([name, config]) => connectOne(name, config, connector, ctx)));
    for (const result of settled) {
      if ('problem' in result) problems.push(result.problem);
      else servers.set(result.name, result);
    }
    const offered = new Map<string, OfferedTool>();
    for (const server of servers.values()) {
      for (const info of server.connection.tools) {
        if (!toolAllowed(server.config.tools, info.name)) continue;
        const exposed = `${server.name}${TOOL_SEPARATOR}${info.name.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
        if (exposed.length > MAX_TOOL_NAME || offered.has(exposed)) {
          problems.push(`MCP server "${server.name}": tool "${info.name}" is not offered (its name is too long or clashes with another tool)`);
          continue;
        }
        offered.set(exposed, { server: server.name, tool: info.name, description: info.description ?? '', inputSchema: info.inputSchema });
      }
    }
    return new McpToolbox(servers, offered, problems, rules);
  }

  /** The MCP tools as the model sees them: `<server>__<tool>`, with the server's description and schema. */
  definitions(): ToolSet {
    const set: ToolSet = {};
    for (const [name, info] of this.offered) {
      set[name] = tool({
        description: `${info.description || info.tool} (from the MCP server "${info.server}")`,
        inputSchema: jsonSchema(objectSchema(info.inputSchema)),
      });
    }
    return set;
  }

  /** The server of an offered tool; otherwise undefined. */
  serverOf(name: string): string | undefined {
    return this.offered.get(name)?.server;
  }

  has(name: string): boolean {
    return this.offered.has(name);
  }

  /**
   * Calls an MCP tool. Failures of the server (it crashed, hung past its timeout, broke the
   * connection) are error results the model sees; the turn goes on.
   */
  async call(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
    const info = this.offered.get(name)!;
    const server = this.servers.get(info.server)!;
    const gone = server.connection.ended();
    if (gone) return { status: 'error', output: `MCP server "${server.name}" is no longer available (${this.hide(server, gone)}); its tools cannot be used in this turn.` };
    const timeoutMs = server.config.timeout ?? DEFAULT_MCP_TIMEOUT_MS;
    let result: McpCallResult;
    let notes: string[] = [];
    try {
      result = await server.connection.call(info.tool, args, { timeoutMs, signal: ctx.signal });
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      const ended = server.connection.ended();
      const why = ended ? `the server stopped (${ended})` : describeCallError(error, timeoutMs);
      return { status: 'error', output: `MCP server "${server.name}", tool "${info.tool}": ${this.hide(server, why)}` };
    } finally {
      // A stdio server runs in the workspace and may have changed files there.
      if (server.config.type === 'stdio' && !ctx.signal.aborted) notes = (await ctx.files.commandRan()) ?? [];
    }
    const output = await renderResult(result, server.name, info.tool, ctx, this.results);
    return { status: result.isError ? 'error' : 'success', output: [output, ...notes].join('\n') };
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.values()].map((server) => server.connection.close()));
  }

  private hide(server: OpenServer, text: string): string {
    let out = text;
    for (const value of server.hidden) if (value.length > 0) out = out.split(value).join('[hidden]');
    return out;
  }
}

async function connectOne(
  name: string,
  config: McpServerConfig,
  connector: McpConnector,
  ctx: McpTurnContext,
): Promise<OpenServer | { problem: string }> {
  const hidden: string[] = [];
  let target: McpTarget;
  try {
    const values = new TemplateValues(name, ctx.env, ctx.secrets);
    if (config.type === 'stdio') {
      target = {
        kind: 'stdio',
        taskId: ctx.taskId,
        workspace: ctx.workspace,
        argv: [config.command, ...(config.args ?? [])],
        cwd: config.cwd ?? '',
        env: { ...ctx.processEnv, ...values.fillMap(config.env, 'env') },
      };
    } else {
      const url = values.fill(config.url, 'url').value;
      if (url !== config.url) hidden.push(url);
      const headers: Record<string, string> = {};
      for (const [header, template] of Object.entries(config.headers ?? {})) {
        const filled = values.fill(template, `headers.${header}`);
        headers[header] = filled.value;
        if (filled.usedSecret) hidden.push(filled.value);
      }
      target = { kind: 'remote', transport: config.type, url, headers };
    }
  } catch (error) {
    if (error instanceof MissingTemplateValue) return { problem: `${error.message}; this turn goes on without its tools.` };
    throw error;
  }
  try {
    const timeoutMs = Math.max(config.timeout ?? DEFAULT_MCP_TIMEOUT_MS, MIN_CONNECT_MS);
    const connection = await connector.connect(target, { timeoutMs, signal: ctx.signal });
    return { name, config, connection, hidden };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    let message = ctx.redactor.text(error instanceof Error ? error.message : String(error));
    for (const value of hidden) if (value.length > 0) message = message.split(value).join('[hidden]');
    return { problem: `MCP server "${name}" could not be reached: ${message}; this turn goes on without its tools.` };
  }
}

/** Tool schemas must describe an object; a server that sends none gets an open object. */
function objectSchema(schema: Record<string, unknown>): Parameters<typeof jsonSchema>[0] {
  if (schema && typeof schema === 'object' && schema.type === 'object') return schema as Parameters<typeof jsonSchema>[0];
  return { type: 'object', properties: {}, additionalProperties: true };
}

function describeCallError(error: unknown, timeoutMs: number): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/timed out|timeout/i.test(message)) return `no answer within its timeout of ${timeoutMs} ms; the call was abandoned`;
  return message.replace(/^MCP error -?\d+: /, '');
}

/**
 * A result as the model reads it: its text, with images, audio and embedded binary resources
 * saved into the workspace under `mcp/<server>/` (so they become artifacts) and named in the text.
 */
async function renderResult(result: McpCallResult, server: string, toolName: string, ctx: ToolContext, rules: ResultRules): Promise<string> {
  const parts: string[] = [];
  const stamp = randomBytes(3).toString('hex');
  let n = 0;
  for (const part of result.content) {
    switch (part.type) {
      case 'text':
        parts.push(part.text);
        break;
      case 'image':
      case 'audio':
        parts.push(await saveBinary(ctx, `mcp/${server}/${safeName(toolName)}-${stamp}-${++n}.${extensionOf(part.mimeType)}`, part.data, part.type, rules.workspaceMb));
        break;
      case 'resource': {
        const { uri, text, blob, mimeType } = part.resource;
        if (text !== undefined) {
          parts.push(`[resource ${uri}]\n${text}`);
        } else if (blob !== undefined) {
          const file = `mcp/${server}/${resourceName(uri, ++n, stamp, mimeType)}`;
          parts.push(await saveBinary(ctx, file, blob, `resource ${uri}`, rules.workspaceMb));
        }
        break;
      }
      case 'resource_link':
        parts.push(`[resource link ${part.uri}${part.name ? ` (${part.name})` : ''}]`);
        break;
      default:
        parts.push(`[content of type ${part.kind} not shown]`);
    }
  }
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  return limitText(parts.join('\n'), rules.redactor);
}

async function saveBinary(ctx: ToolContext, relative: string, base64: string, what: string, workspaceMb: number): Promise<string> {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length > MAX_SAVED_BYTES) return `[${what} of ${bytes.length} bytes not saved: larger than ${MAX_SAVED_BYTES} bytes]`;
  try {
    const written = await writeToolFile(ctx, relative, bytes, workspaceMb);
    return `[${what} saved to ${written} (${bytes.length} bytes)]`;
  } catch (error) {
    // Refused (the workspace limit, a link in the way): the rest of the result still reaches the model.
    if (error instanceof ToolArgumentError || error instanceof DomainError) return `[${what} of ${bytes.length} bytes not saved: ${error.message}]`;
    throw error;
  }
}

/** The text within its limit; a secret cut at the limit is redacted, not left half there. */
function limitText(text: string, redactor: Redactor): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= RESULT_TEXT_LIMIT) return text;
  const kept = redactor.cutText(Buffer.from(text).subarray(0, RESULT_TEXT_LIMIT).toString('utf8').replace(/\uFFFD$/, ''));
  return `${kept}\n... (result truncated: ${bytes - Buffer.byteLength(kept)} more bytes not shown)`;
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
  'audio/mpeg': 'mp3',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'application/pdf': 'pdf',
  'application/json': 'json',
  'text/plain': 'txt',
};

function extensionOf(mimeType: string | undefined): string {
  return (mimeType && EXTENSIONS[mimeType.toLowerCase()]) ?? 'bin';
}

function safeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 80) || 'file';
}

/** A file name for an embedded resource: the last part of its URI when it is a usable name. */
function resourceName(uri: string, n: number, stamp: string, mimeType: string | undefined): string {
  const last = uri.split(/[/?#]/).filter(Boolean).pop() ?? '';
  const base = safeName(decodeURIComponentSafe(last));
  return /\.[a-zA-Z0-9]{1,8}$/.test(base) ? `${stamp}-${n}-${base}` : `resource-${stamp}-${n}.${extensionOf(mimeType)}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

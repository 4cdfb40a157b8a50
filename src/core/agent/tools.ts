import { jsonSchema, tool, type ToolSet } from 'ai';
import type { CommandRunner } from '../../ports/command-runner.js';
import type { OutboundFetch } from '../../ports/outbound-http.js';
import { DomainError } from '../errors.js';
import { listWorkspaceFolder, pathNames } from '../workspace/workspace-fs.js';
import { editFile } from './file-edit.js';
import { searchFiles } from './file-search.js';
import { fetchUrl } from './fetch-url.js';
import { ToolArgumentError, type ToolContext, type ToolOutcome } from './tool-types.js';
import { readToolFile, writeToolFile } from './workspace-files.js';


/** Kiln's own tools (fetch_url is offered only where tasks have the network). */
export const TOOL_NAMES = ['list_directory', 'read_file', 'write_file', 'edit_file', 'search_files', 'run_command', 'fetch_url'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const READ_LIMIT = 256 * 1024;
const LIST_LIMIT = 1000;

/** A JSON Schema object of string properties; written once, so no call converts or validates a schema. */
function stringsSchema(properties: Record<string, string>, required: string[]) {
  return jsonSchema<Record<string, string>>({
    type: 'object',
    properties: Object.fromEntries(Object.entries(properties).map(([name, description]) => [name, { type: 'string', description }])),
    required,
    additionalProperties: false,
  });
}

/**
 * The tools as the model sees them. They carry no `execute`: Kiln runs each call itself, and
 * checks the arguments there.
 */
const DEFINITIONS: Record<ToolName, ToolSet[string]> = {
  list_directory: tool({
    description: 'List the files and folders at a path in the workspace (default: the workspace root).',
    inputSchema: stringsSchema({ path: 'Path relative to the workspace root (default ".")' }, []),
  }),
  read_file: tool({
    description: 'Read a text file from the workspace.',
    inputSchema: stringsSchema({ path: 'Path relative to the workspace root' }, ['path']),
  }),
  write_file: tool({
    description: 'Create or replace a file in the workspace with the given text. Put deliverables in downloads/.',
    inputSchema: stringsSchema({ path: 'Path relative to the workspace root', content: 'The complete new content of the file' }, ['path', 'content']),
  }),
  edit_file: tool({
    description:
      'Change part of a text file: replaces old_text, which must occur exactly once in the file (copy it exactly, with its spaces and line breaks), by new_text. Prefer it to rewriting a whole file.',
    inputSchema: stringsSchema(
      { path: 'Path relative to the workspace root', old_text: 'The exact text to replace; include enough lines to make it unique', new_text: 'The text to put in its place' },
      ['path', 'old_text', 'new_text'],
    ),
  }),
  search_files: tool({
    description:
      'Search the text files of the workspace for a regular expression (JavaScript syntax); returns matching lines as path:line: text. Use it to find where something is before reading whole files.',
    inputSchema: stringsSchema(
      { pattern: 'Regular expression matched against each line', path: 'Folder or file to search (default ".")', glob: 'Only files whose path matches this glob, e.g. "*.py" or "src/**/*.ts"' },
      ['pattern'],
    ),
  }),
  run_command: tool({
    description: 'Run a shell command (sh -c) with the workspace as the working directory. Returns its output and exit code.',
    inputSchema: stringsSchema({ command: 'The command line to run' }, ['command']),
  }),
  fetch_url: tool({
    description: 'Fetch a web page or file over http(s) (GET) and return it as text (HTML is turned into readable text). Size and time are limited.',
    inputSchema: stringsSchema({ url: 'Absolute http:// or https:// URL' }, ['url']),
  }),
};

/** Runs Kiln's own tools against a task's workspace. */
export class ToolExecutor {
  /** The tools offered to the model. */
  readonly definitions: ToolSet;
  readonly names: readonly ToolName[];

  constructor(
    private readonly commands: CommandRunner,
    private readonly limits: { commandTimeoutMs: number; commandOutputLimit: number; workspaceMb: number },
    /** Kiln's outbound fetch when tasks have the network (fetch_url), else null. */
    private readonly web: OutboundFetch | null = null,
  ) {
    this.names = TOOL_NAMES.filter((name) => name !== 'fetch_url' || web !== null);
    this.definitions = Object.fromEntries(this.names.map((name) => [name, DEFINITIONS[name]]));
  }

  offers(name: string): boolean {
    return (this.names as readonly string[]).includes(name);
  }

  async execute(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
    try {
      switch (this.offers(name) ? (name as ToolName) : null) {
        case 'list_directory':
          return await this.listDirectory(ctx.workspace, stringArg(args, 'path', '.'));
        case 'read_file':
          return await this.readFile(ctx, stringArg(args, 'path'));
        case 'write_file':
          return await this.writeFile(ctx, stringArg(args, 'path'), stringArg(args, 'content', ''));
        case 'edit_file':
          return await editFile(ctx, { path: stringArg(args, 'path'), oldText: stringArg(args, 'old_text'), newText: stringArg(args, 'new_text', '') }, this.limits.workspaceMb);
        case 'search_files':
          return await searchFiles(ctx, { pattern: stringArg(args, 'pattern'), path: stringArg(args, 'path', '.') || '.', glob: stringArg(args, 'glob', '') || null });
        case 'run_command':
          return await this.runCommand(stringArg(args, 'command'), ctx);
        case 'fetch_url':
          return await fetchUrl(this.web!, stringArg(args, 'url'), ctx.signal);
        default:
          return { status: 'error', output: `Unknown tool "${name}". Available tools: ${this.names.join(', ')}.` };
      }
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      if (error instanceof DomainError || isFsError(error)) return { status: 'error', output: describeFsError(error) };
      throw error;
    }
  }

  private async listDirectory(workspace: string, relative: string): Promise<ToolOutcome> {
    const names = pathNames(relative);
    const entries = await listWorkspaceFolder(workspace, relative);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    const lines: string[] = [];
    for (const { name, stat } of entries.slice(0, LIST_LIMIT)) {
      if (stat.isDirectory()) lines.push(`${name}/`);
      else if (stat.isFile()) lines.push(`${name}  (${stat.size} bytes)`);
      else if (stat.isSymbolicLink()) lines.push(`${name}@`);
      else lines.push(name);
    }
    if (entries.length > LIST_LIMIT) lines.push(`... and ${entries.length - LIST_LIMIT} more`);
    const where = names.join('/') || '.';
    return { status: 'success', output: lines.length > 0 ? lines.join('\n') : `(${where} is empty)` };
  }

  private async readFile(ctx: ToolContext, relative: string): Promise<ToolOutcome> {
    const { bytes, size, path: read } = await readToolFile(ctx, relative, READ_LIMIT);
    await ctx.files.read(read);
    if (bytes.includes(0)) return { status: 'success', output: `(binary file, ${size} bytes)` };
    const more = size > bytes.length ? `\n... (${size - bytes.length} more bytes not shown)` : '';
    return { status: 'success', output: bytes.toString('utf8') + more };
  }

  private async writeFile(ctx: ToolContext, relative: string, content: string): Promise<ToolOutcome> {
    const bytes = Buffer.from(content);
    const written = await writeToolFile(ctx, relative, bytes, this.limits.workspaceMb);
    return { status: 'success', output: `Wrote ${bytes.length} bytes to ${written}` };
  }

  private async runCommand(command: string, ctx: ToolContext): Promise<ToolOutcome> {
    const result = await this.commands.run({
      taskId: ctx.taskId,
      command,
      workspace: ctx.workspace,
      env: ctx.env,
      timeoutMs: this.limits.commandTimeoutMs,
      outputLimit: this.limits.commandOutputLimit,
      signal: ctx.signal,
    });
    if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error('cancelled');
    const notes = (await ctx.files.commandRan()) ?? [];
    let output = result.output;
    if (result.droppedBytes > 0) output += `\n... (${result.droppedBytes} more bytes of output dropped)`;
    if (notes.length > 0) output = `${output}${output === '' || output.endsWith('\n') ? '' : '\n'}${notes.join('\n')}`;
    if (result.stopped?.reason === 'limit') return { status: 'error', output: `${output}\n[command stopped: ${result.stopped.limit} reached]`.trimStart() };
    if (result.exitCode === null) return { status: 'error', output };
    let tail = `[exit code ${result.exitCode}]`;
    if (result.likelyLimit) tail += `\n[the command probably ran into the ${result.likelyLimit}]`;
    return { status: result.exitCode === 0 ? 'success' : 'error', output: output ? `${output}${output.endsWith('\n') ? '' : '\n'}${tail}` : tail };
  }
}

function stringArg(args: Record<string, unknown>, key: string, fallback?: string): string {
  const value = args[key];
  if (typeof value === 'string') return value;
  if (value === undefined && fallback !== undefined) return fallback;
  throw new ToolArgumentError(`Missing or non-string argument "${key}".`);
}

function isFsError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof ToolArgumentError || (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string');
}

function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'No such file or directory.';
    case 'ENOTDIR':
      return 'A part of the path is not a directory.';
    case 'EISDIR':
      return 'That path is a directory.';
    case 'EACCES':
    case 'EPERM':
      return 'Permission denied.';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'No space left for the workspace.';
    default:
      // Errno messages name host paths; only the code is shown.
      return e.code ? `The file operation failed (${e.code}).` : e.message;
  }
}

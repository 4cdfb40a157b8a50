import { jsonSchema, tool, type ToolSet } from 'ai';
import type { CommandRunner } from '../../ports/command-runner.js';
import { DomainError } from '../errors.js';
import { entryStat, listWorkspaceFolder, openForRead, pathNames, workspaceBytes, writeWorkspaceFile } from '../workspace/workspace-fs.js';

export const TOOL_NAMES = ['list_directory', 'read_file', 'write_file', 'run_command'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

const READ_LIMIT = 256 * 1024;
const LIST_LIMIT = 1000;
const MB = 1024 * 1024;

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
export const TOOL_DEFINITIONS: ToolSet = {
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
  run_command: tool({
    description: 'Run a shell command (sh -c) with the workspace as the working directory. Returns its output and exit code.',
    inputSchema: stringsSchema({ command: 'The command line to run' }, ['command']),
  }),
};

export interface ToolContext {
  taskId: string;
  workspace: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Told about file reads and changes, so that every change becomes an artifact version. */
  files: WorkspaceObserver;
}

export interface WorkspaceObserver {
  read(relative: string): Promise<void>;
  written(relative: string): Promise<void>;
  /**
   * A command ran: anything in the workspace may have changed. Resolves with notes for the
   * agent about changes that could not be recorded (the workspace limit, say).
   */
  commandRan(): Promise<string[] | void>;
}

export interface ToolOutcome {
  status: 'success' | 'error';
  output: string;
}

/** Runs tool calls against a task's workspace. */
export class ToolExecutor {
  constructor(
    private readonly commands: CommandRunner,
    private readonly limits: { commandTimeoutMs: number; commandOutputLimit: number; workspaceMb: number },
  ) {}

  async execute(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
    try {
      switch (name) {
        case 'list_directory':
          return await this.listDirectory(ctx.workspace, stringArg(args, 'path', '.'));
        case 'read_file':
          return await this.readFile(ctx, stringArg(args, 'path'));
        case 'write_file':
          return await this.writeFile(ctx, stringArg(args, 'path'), stringArg(args, 'content', ''));
        case 'run_command':
          return await this.runCommand(stringArg(args, 'command'), ctx);
        default:
          return { status: 'error', output: `Unknown tool "${name}". Available tools: ${TOOL_NAMES.join(', ')}.` };
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
    const clean = pathNames(relative).join('/');
    const { handle, stat } = await openForRead(ctx.workspace, relative);
    try {
      if (stat.isDirectory()) return { status: 'error', output: `${relative} is a directory; use list_directory.` };
      if (!stat.isFile()) return { status: 'error', output: `${relative} is not a regular file.` };
      const buffer = Buffer.alloc(Math.min(stat.size, READ_LIMIT));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const bytes = buffer.subarray(0, bytesRead);
      await ctx.files.read(clean);
      if (bytes.includes(0)) return { status: 'success', output: `(binary file, ${stat.size} bytes)` };
      const more = stat.size > bytesRead ? `\n... (${stat.size - bytesRead} more bytes not shown)` : '';
      return { status: 'success', output: bytes.toString('utf8') + more };
    } finally {
      await handle.close();
    }
  }

  private async writeFile(ctx: ToolContext, relative: string, content: string): Promise<ToolOutcome> {
    const written = pathNames(relative).join('/');
    const existing = await entryStat(ctx.workspace, relative);
    if (existing && !existing.isFile() && !existing.isSymbolicLink()) return { status: 'error', output: `${relative} exists and is not a regular file.` };
    const size = Buffer.byteLength(content);
    const after = (await workspaceBytes(ctx.workspace)) - (existing?.isFile() ? existing.size : 0) + size;
    if (after > this.limits.workspaceMb * MB) {
      return { status: 'error', output: `Not written: ${written} would take the workspace past its size limit of ${this.limits.workspaceMb} MB. Delete files to make room.` };
    }
    await writeWorkspaceFile(ctx.workspace, relative, Buffer.from(content));
    await ctx.files.written(written);
    return { status: 'success', output: `Wrote ${size} bytes to ${written}` };
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

class ToolArgumentError extends Error {}

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

import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { InvalidInput } from '../errors.js';
import { resolveInside } from '../workspace/workspace-paths.js';
import type { SearchReply, SearchRequest } from './search-worker.js';
import type { ToolContext, ToolOutcome } from './tool-types.js';

const MAX_MATCHES = 200;
const MAX_FILES = 20_000;
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const MAX_LINE_CHARS = 300;
/** A search that runs longer (a pathological pattern) is stopped. */
const SEARCH_TIME_LIMIT_MS = 10_000;

/**
 * `search_files {pattern, path?, glob?}`: the lines of the workspace's text files that match a
 * regular expression, as `path:line: text`. Paths resolve inside the workspace as for the other
 * file tools; symbolic links are not followed and special files not read; output is bounded.
 */
export async function searchFiles(ctx: ToolContext, args: { pattern: string; path: string; glob: string | null }): Promise<ToolOutcome> {
  try {
    new RegExp(args.pattern, 'u');
  } catch (error) {
    throw new InvalidInput(`pattern is not a valid regular expression: ${(error as Error).message}`, 'pattern');
  }
  const start = await resolveInside(ctx.workspace, args.path);
  await fs.lstat(start);
  const request: SearchRequest = {
    workspace: ctx.workspace,
    start,
    pattern: args.pattern,
    glob: args.glob,
    maxMatches: MAX_MATCHES,
    maxFiles: MAX_FILES,
    maxFileBytes: MAX_FILE_BYTES,
    maxLineChars: MAX_LINE_CHARS,
  };
  const reply = await runWorker(request, ctx.signal);
  if (reply === 'timeout') return { status: 'error', output: `The search took longer than ${SEARCH_TIME_LIMIT_MS / 1000} s and was stopped; use a simpler pattern or a narrower path.` };
  const where = args.path === '.' ? 'the workspace' : args.path;
  if (reply.lines.length === 0) return { status: 'success', output: `No matches in ${where} (${reply.filesSearched} files searched).` };
  const note = reply.cut ? `\n... (${reply.cut}; narrow the search to see more)` : '';
  return { status: 'success', output: reply.lines.join('\n') + note };
}

function runWorker(request: SearchRequest, signal: AbortSignal): Promise<SearchReply | 'timeout'> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./search-worker.js', import.meta.url), { workerData: request });
    const stop = (outcome: () => void) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      void worker.terminate();
      outcome();
    };
    const timer = setTimeout(() => stop(() => resolve('timeout')), SEARCH_TIME_LIMIT_MS);
    const onAbort = () => stop(() => reject(signal.reason ?? new Error('cancelled')));
    signal.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: { ok: true; reply: SearchReply } | { ok: false; code: string }) => {
      stop(() => (message.ok ? resolve(message.reply) : reject(Object.assign(new Error(`search failed (${message.code})`), { code: message.code }))));
    });
    worker.once('error', (error) => stop(() => reject(error)));
  });
}

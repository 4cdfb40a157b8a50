import { Worker } from 'node:worker_threads';
import picomatch from 'picomatch';
import { InvalidInput } from '../errors.js';
import { entryStat, openRegularFile, pathNames, SymlinkInTheWay, walkWorkspace } from '../workspace/workspace-fs.js';
import type { SearchBatch, SearchBatchReply, SearchSetup } from './search-worker.js';
import type { ToolContext, ToolOutcome } from './tool-types.js';

const MAX_MATCHES = 200;
const MAX_FILES = 20_000;
const MAX_FILE_BYTES = 5 * 1024 * 1024;
const MAX_LINE_CHARS = 300;
/** Bytes of text handed to the worker at once. */
const BATCH_BYTES = 1024 * 1024;
/** A search that runs longer (a pathological pattern) is stopped. */
const SEARCH_TIME_LIMIT_MS = 10_000;

class SearchTimedOut extends Error {}

/**
 * `search_files {pattern, path?, glob?}`: the lines of the workspace's text files that match a
 * regular expression, as `path:line: text`, files in path order. The server walks the workspace
 * and reads each file through workspace-fs.ts (no link followed, links and special files
 * skipped); the matching runs in a worker thread, which only ever sees file contents. Output is
 * bounded.
 */
export async function searchFiles(ctx: ToolContext, args: { pattern: string; path: string; glob: string | null }): Promise<ToolOutcome> {
  try {
    new RegExp(args.pattern, 'u');
  } catch (error) {
    throw new InvalidInput(`pattern is not a valid regular expression: ${(error as Error).message}`, 'pattern');
  }
  const { files, cut: walkCut } = await filesToSearch(ctx.workspace, args.path, args.glob);
  const search = new SearchThread({ pattern: args.pattern, maxLineChars: MAX_LINE_CHARS }, ctx.signal);
  const lines: string[] = [];
  let filesSearched = 0;
  let cut = walkCut;
  try {
    let batch: SearchBatch['files'] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      lines.push(...(await search.match({ files: batch, room: MAX_MATCHES - lines.length })).lines);
      batch = [];
      batchBytes = 0;
    };
    for (const file of files) {
      const text = await readText(ctx.workspace, file);
      if (text === null) continue;
      filesSearched++;
      batch.push({ path: file, text });
      batchBytes += text.length;
      if (batchBytes >= BATCH_BYTES) await flush();
      if (lines.length >= MAX_MATCHES) break;
    }
    await flush();
  } catch (error) {
    if (error instanceof SearchTimedOut) return { status: 'error', output: `The search took longer than ${SEARCH_TIME_LIMIT_MS / 1000} s and was stopped; use a simpler pattern or a narrower path.` };
    throw error;
  } finally {
    search.stop();
  }
  if (lines.length >= MAX_MATCHES) cut = `stopped at ${MAX_MATCHES} matches`;
  const where = pathNames(args.path).length === 0 ? 'the workspace' : args.path;
  if (lines.length === 0) return { status: 'success', output: `No matches in ${where} (${filesSearched} files searched).` };
  const note = cut ? `\n... (${cut}; narrow the search to see more)` : '';
  return { status: 'success', output: lines.slice(0, MAX_MATCHES).join('\n') + note };
}

/**
 * The workspace-relative paths of the regular files under `relative` (or that file itself) whose
 * path below it matches `glob`, sorted. Links are listed by the walk but never followed.
 */
async function filesToSearch(workspace: string, relative: string, glob: string | null): Promise<{ files: string[]; cut: string | null }> {
  const names = pathNames(relative);
  const start = names.join('/');
  if (names.length > 0) {
    const stat = await entryStat(workspace, start);
    if (!stat) throw Object.assign(new Error('not found'), { code: 'ENOENT' });
    if (stat.isSymbolicLink()) throw new SymlinkInTheWay(start);
    if (!stat.isDirectory()) return { files: stat.isFile() ? [start] : [], cut: null };
  }
  const matches = glob ? picomatch(glob, { dot: true, basename: !glob.includes('/') }) : null;
  const prefix = start === '' ? '' : `${start}/`;
  const files: string[] = [];
  await walkWorkspace(
    workspace,
    ({ relative: path, stat }) => {
      if (path === null || !stat.isFile() || stat.size > MAX_FILE_BYTES) return;
      if (matches && !matches(path.slice(prefix.length))) return;
      files.push(path);
    },
    start,
  );
  files.sort((a, b) => a.localeCompare(b));
  if (files.length <= MAX_FILES) return { files, cut: null };
  return { files: files.slice(0, MAX_FILES), cut: `stopped after ${MAX_FILES} files` };
}

/** A text file's content, read without following links; null when it is gone, not regular, too big or binary. */
async function readText(workspace: string, relative: string): Promise<string | null> {
  const opened = await openRegularFile(workspace, relative).catch(() => null);
  if (!opened) return null;
  try {
    if (opened.stat.size > MAX_FILE_BYTES) return null;
    const buffer = Buffer.alloc(opened.stat.size);
    const { bytesRead } = await opened.handle.read(buffer, 0, buffer.length, 0);
    const bytes = buffer.subarray(0, bytesRead);
    return bytes.subarray(0, 8192).includes(0) ? null : bytes.toString('utf8');
  } finally {
    await opened.handle.close();
  }
}

/** The worker that matches, stopped at the time limit or when the turn is. */
class SearchThread {
  private readonly worker: Worker;
  private readonly timer: NodeJS.Timeout;
  private failed: Error | null = null;
  private pending: { resolve: (reply: SearchBatchReply) => void; reject: (error: Error) => void } | null = null;

  constructor(
    setup: SearchSetup,
    private readonly signal: AbortSignal,
  ) {
    this.worker = new Worker(new URL('./search-worker.js', import.meta.url), { workerData: setup });
    this.worker.on('message', (reply: SearchBatchReply) => {
      const pending = this.pending;
      this.pending = null;
      pending?.resolve(reply);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.timer = setTimeout(() => this.fail(new SearchTimedOut()), SEARCH_TIME_LIMIT_MS);
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  match(batch: SearchBatch): Promise<SearchBatchReply> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(batch);
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
    void this.worker.terminate();
  }

  private readonly onAbort = () => this.fail(this.signal.reason instanceof Error ? this.signal.reason : new Error('cancelled'));

  private fail(error: Error): void {
    this.failed ??= error;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(this.failed);
    this.stop();
  }
}

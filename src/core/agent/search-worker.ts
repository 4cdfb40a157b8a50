/**
 * The body of `search_files`, run in a worker thread so that a regular expression that takes
 * too long (the model chooses it) can be stopped without stalling the server.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import picomatch from 'picomatch';

export interface SearchRequest {
  /** Absolute path of the workspace. */
  workspace: string;
  /** Absolute path to search under (a folder or one file) inside the workspace. */
  start: string;
  pattern: string;
  glob: string | null;
  maxMatches: number;
  maxFiles: number;
  maxFileBytes: number;
  maxLineChars: number;
}

export interface SearchReply {
  lines: string[];
  filesSearched: number;
  /** Why the search stopped early, when it did. */
  cut: string | null;
}

function search(request: SearchRequest): SearchReply {
  const regex = new RegExp(request.pattern, 'u');
  const matches = request.glob ? picomatch(request.glob, { dot: true, basename: !request.glob.includes('/') }) : null;
  const lines: string[] = [];
  let filesSearched = 0;
  let cut: string | null = null;
  const startStat = fs.lstatSync(request.start);
  const queue: string[] = [request.start];

  while (queue.length > 0 && cut === null) {
    const current = queue.shift()!;
    const stat = current === request.start ? startStat : fs.lstatSync(current, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(current, { withFileTypes: true });
      } catch {
        continue;
      }
      entries.sort((a, b) => a.name.localeCompare(b.name));
      // Symbolic links and special files are never followed or read.
      for (const entry of entries) if (entry.isDirectory() || entry.isFile()) queue.push(path.join(current, entry.name));
      continue;
    }
    if (!stat.isFile() || stat.size > request.maxFileBytes) continue;
    const relative = path.relative(request.workspace, current).split(path.sep).join('/');
    if (matches && current !== request.start && !matches(path.relative(request.start, current).split(path.sep).join('/'))) continue;
    if (filesSearched >= request.maxFiles) {
      cut = `stopped after ${request.maxFiles} files`;
      break;
    }
    filesSearched++;
    const text = readNoFollow(current);
    if (text === null) continue;
    const fileLines = text.split('\n');
    for (let i = 0; i < fileLines.length; i++) {
      const line = fileLines[i]!;
      if (!regex.test(line)) continue;
      const shown = line.length > request.maxLineChars ? `${line.slice(0, request.maxLineChars)}...` : line;
      lines.push(`${relative}:${i + 1}: ${shown}`);
      if (lines.length >= request.maxMatches) {
        cut = `stopped at ${request.maxMatches} matches`;
        break;
      }
    }
  }
  return { lines, filesSearched, cut };
}

/** A text file's content, opened without following a link planted in its place; null for binary files. */
function readNoFollow(file: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const bytes = fs.readFileSync(fd);
    if (bytes.subarray(0, 8192).includes(0)) return null;
    return bytes.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

if (parentPort) {
  try {
    parentPort.postMessage({ ok: true, reply: search(workerData as SearchRequest) });
  } catch (error) {
    // Only the error code: errno messages name host paths.
    parentPort.postMessage({ ok: false, code: (error as NodeJS.ErrnoException).code ?? 'ESEARCH' });
  }
}

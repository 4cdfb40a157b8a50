/**
 * The matching of `search_files`, run in a worker thread so that a regular expression that takes
 * too long (the model chooses it) can be stopped without stalling the server. It is given file
 * contents, never paths: the files are read by the server through workspace-fs.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface SearchSetup {
  pattern: string;
  maxLineChars: number;
}

/** Files to match, with how many more lines may be reported. */
export interface SearchBatch {
  files: { path: string; text: string }[];
  room: number;
}

/** The matching lines of a batch, as `path:line: text`, at most `room` of them. */
export interface SearchBatchReply {
  lines: string[];
}

function matcher(setup: SearchSetup): (batch: SearchBatch) => SearchBatchReply {
  const regex = new RegExp(setup.pattern, 'u');
  return ({ files, room }) => {
    const lines: string[] = [];
    for (const file of files) {
      const fileLines = file.text.split('\n');
      for (let i = 0; i < fileLines.length && lines.length < room; i++) {
        const line = fileLines[i]!;
        if (!regex.test(line)) continue;
        const shown = line.length > setup.maxLineChars ? `${line.slice(0, setup.maxLineChars)}...` : line;
        lines.push(`${file.path}:${i + 1}: ${shown}`);
      }
      if (lines.length >= room) break;
    }
    return { lines };
  };
}

if (parentPort) {
  const port = parentPort;
  const match = matcher(workerData as SearchSetup);
  port.on('message', (batch: SearchBatch) => port.postMessage(match(batch)));
}

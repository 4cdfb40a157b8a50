import { Transform } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { CommandRequest, CommandResult, CommandRunner, SpawnedProcess, SpawnRequest } from '../../ports/command-runner.js';
import type { Redactor } from './redactor.js';

/**
 * A command runner for one turn whose output is redacted where it was cut. Output is cut at the
 * output limit (or when the command is stopped), possibly inside a secret value; the redactor
 * replaces whole values only, so the part of the secret before the cut would be kept. Here the
 * cut is known, and an end that could be the start of a secret is redacted too.
 *
 * Processes it spawns (stdio MCP servers) get their stderr redacted as it streams, so the tail
 * kept to say why one stopped never holds a secret or a piece of one; stdout is their protocol
 * and its results are redacted where the tool results are.
 */
export function redactingCommands(runner: CommandRunner, redactor: Redactor): CommandRunner {
  if (!redactor.active) return runner;
  return {
    async run(request: CommandRequest): Promise<CommandResult> {
      const result = await runner.run(request);
      const cut = result.droppedBytes > 0 || result.stopped !== null;
      return { ...result, output: cut ? redactor.cutText(result.output) : redactor.text(result.output) };
    },
    async spawn(request: SpawnRequest): Promise<SpawnedProcess> {
      const child = await runner.spawn(request);
      return { ...child, stderr: child.stderr.pipe(redactingStream(redactor)) };
    },
  };
}

function redactingStream(redactor: Redactor): Transform {
  const decoder = new StringDecoder('utf8');
  const filter = redactor.stream();
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(null, filter.push(decoder.write(chunk)));
    },
    flush(done) {
      done(null, filter.push(decoder.end()) + filter.end());
    },
  });
}

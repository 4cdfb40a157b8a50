import type { CommandRequest, CommandResult, CommandRunner } from '../../ports/command-runner.js';
import type { Redactor } from './redactor.js';

/**
 * A command runner for one turn whose output is redacted where it was cut. Output is cut at the
 * output limit (or when the command is stopped), possibly inside a secret value; the redactor
 * replaces whole values only, so the part of the secret before the cut would be kept. Here the
 * cut is known, and an end that could be the start of a secret is redacted too.
 */
export function redactingCommands(runner: CommandRunner, redactor: Redactor): CommandRunner {
  if (!redactor.active) return runner;
  return {
    async run(request: CommandRequest): Promise<CommandResult> {
      const result = await runner.run(request);
      const cut = result.droppedBytes > 0 || result.stopped !== null;
      return { ...result, output: cut ? redactor.cutText(result.output) : redactor.text(result.output) };
    },
  };
}

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { errorMessage } from '../logger.js';

/** A mistake in how the command was called: exit code 2, with the message. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses a command's arguments; `--help` and `--json` are accepted everywhere. */
export function parse(command: string, args: string[], options: Options, positionals = false): Parsed {
  try {
    const { values, positionals: rest } = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, ...options },
      allowPositionals: positionals,
      strict: true,
    });
    return { values: values as Parsed['values'], positionals: rest };
  } catch (error) {
    throw new UsageError(`${errorMessage(error)}. Run \`kiln ${command} --help\` for its options.`);
  }
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A whole number option within bounds. */
export function int(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}.`);
  return n;
}

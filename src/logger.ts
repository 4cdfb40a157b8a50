import type { LogFormat, LogLevel } from './config.js';

/**
 * One line per entry, either plain text (`2026-11-23T10:00:00.000Z info  task 1f2c… completed
 * task=… ms=12`) or one JSON object (`{"time","level","message",...fields}`) for log shippers.
 * Callers pass facts as fields; fields are never request bodies, env values or secrets.
 *
 * @example
 * logger.child({ task: id }).info('turn completed', { ms: 12 });
 */
export interface Logger {
  /** Start-up and shut-down facts an operator always wants to see: printed at every level but `silent`. */
  notice(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

export type LogFields = Record<string, string | number | boolean | null | undefined>;

const RANK: Record<LogLevel | 'notice', number> = { debug: 10, info: 20, warn: 30, error: 40, notice: 50, silent: 100 };

type Formatter = (time: string, level: Exclude<LogLevel, 'silent'>, message: string, fields: LogFields) => string;

const FORMATTERS: Record<LogFormat, Formatter> = {
  text(time, level, message, fields) {
    const tail = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ');
    return `${time} ${level.padEnd(5)} ${message}${tail ? ' ' + tail : ''}\n`;
  },
  json(time, level, message, fields) {
    // The entry's own keys come first and are never overwritten by a field of the same name.
    const entry: Record<string, unknown> = { time, level, message };
    for (const [key, value] of Object.entries(fields)) if (!(key in entry)) entry[key] = value;
    return `${JSON.stringify(entry)}\n`;
  },
};

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  format: LogFormat = 'text',
): Logger {
  const threshold = RANK[level];
  const formatter = FORMATTERS[format];
  const make = (bindings: LogFields): Logger => {
    const log = (lvl: Exclude<LogLevel, 'silent'> | 'notice', message: string, fields?: LogFields) => {
      if (RANK[lvl] < threshold) return;
      write(formatter(new Date().toISOString(), lvl === 'notice' ? 'info' : lvl, message, { ...bindings, ...fields }));
    };
    return {
      notice: (m, f) => log('notice', m, f),
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

function formatValue(value: unknown): string {
  const s = String(value);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** The message of anything thrown, without a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

import { InvalidExpiresIn } from '../errors.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** The longest a widget token may live. */
export const MAX_TOKEN_SECONDS = 7 * 86_400;
export const DEFAULT_TOKEN_LIFETIME = '1h';

/**
 * A token lifetime in seconds, from a duration like `"30m"`, `"1h"` or `"7d"` (a whole number
 * and one unit: `s`, `m`, `h` or `d`), from 1 minute up to {@link MAX_TOKEN_SECONDS}.
 *
 * @example
 * lifetimeSeconds('30m'); // 1800
 */
export function lifetimeSeconds(text: unknown): number {
  const match = typeof text === 'string' ? /^([1-9][0-9]{0,6})([smhd])$/.exec(text.trim()) : null;
  if (!match) throw new InvalidExpiresIn(`expiresIn must be a duration like "30m", "1h" or "7d" (a whole number and s, m, h or d); got ${JSON.stringify(text)}.`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds < 60 || seconds > MAX_TOKEN_SECONDS) {
    throw new InvalidExpiresIn(`expiresIn must be from 1 minute up to 7 days ("7d"); got ${JSON.stringify(text)}.`);
  }
  return seconds;
}

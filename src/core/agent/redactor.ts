/** Secret values shorter than this are not redacted: they would match ordinary text everywhere. */
export const MIN_REDACTED_LENGTH = 4;
export const REDACTED = '[redacted]';

/**
 * Replaces a task's secret values with `[redacted]` in text before it is stored or streamed.
 *
 * @example
 * const r = new Redactor({ TOKEN: 's3cr3t-value' });
 * r.text('token is s3cr3t-value'); // 'token is [redacted]'
 */
export class Redactor {
  private readonly values: string[];

  constructor(secrets: Record<string, string> | null | undefined) {
    this.values = [...new Set(Object.values(secrets ?? {}))]
      .filter((v) => v.length >= MIN_REDACTED_LENGTH)
      // Longest first, so a secret that contains another is replaced whole.
      .sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.values.length > 0;
  }

  text(input: string): string {
    let out = input;
    for (const value of this.values) if (out.includes(value)) out = out.split(value).join(REDACTED);
    return out;
  }

  /**
   * Redacts text that was cut short: besides whole secrets, an end that is the start of a secret
   * (the rest of it lost at the cut) is replaced too, however short.
   *
   * @example
   * new Redactor({ TOKEN: 's3cr3t-value' }).cutText('token is s3cr3t-v'); // 'token is [redacted]'
   */
  cutText(input: string): string {
    const out = this.text(input);
    const partial = this.pendingPrefix(out);
    return partial > 0 ? out.slice(0, out.length - partial) + REDACTED : out;
  }

  /** Redacts every string inside a JSON-like value. */
  deep<T>(value: T): T {
    if (!this.active) return value;
    return walk(value, (s) => this.text(s)) as T;
  }

  /**
   * A filter for text that arrives in pieces: it holds back the end of a piece while it could be
   * the start of a secret that continues in the next one.
   */
  stream(): { push(piece: string): string; end(): string } {
    let held = '';
    return {
      push: (piece) => {
        const text = held + piece;
        const keep = this.pendingPrefix(text);
        held = text.slice(text.length - keep);
        return this.text(text.slice(0, text.length - keep));
      },
      end: () => {
        const rest = this.text(held);
        held = '';
        return rest;
      },
    };
  }

  /** Length of the longest end of `text` that is a proper prefix of a secret. */
  private pendingPrefix(text: string): number {
    let longest = 0;
    for (const value of this.values) {
      for (let n = Math.min(value.length - 1, text.length); n > longest; n--) {
        if (text.endsWith(value.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}

function walk(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, fn));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, fn)]));
  }
  return value;
}

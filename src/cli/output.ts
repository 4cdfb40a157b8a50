import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** Where a command writes: stdout for results, stderr for notes; colours only on a terminal. */
export class Output {
  readonly colour: boolean;

  constructor(
    readonly stdout: NodeJS.WriteStream,
    readonly stderr: NodeJS.WriteStream,
    readonly json: boolean,
    noColour: boolean,
  ) {
    this.colour = Boolean(stderr.isTTY) && !noColour;
  }

  style(style: Style, text: string): string {
    return this.colour ? styleText(style, text) : text;
  }

  dim = (text: string) => this.style('dim', text);
  bold = (text: string) => this.style('bold', text);
  red = (text: string) => this.style('red', text);
  green = (text: string) => this.style('green', text);
  yellow = (text: string) => this.style('yellow', text);
  cyan = (text: string) => this.style('cyan', text);

  /** A result line on stdout. */
  line(text = ''): void {
    this.stdout.write(`${text}\n`);
  }

  /** A note for the person on stderr (kept out of what is piped). */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  /** One JSON document (or one line of a JSON-lines stream) on stdout. */
  data(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Prints rows as aligned columns. */
  table(headers: string[], rows: string[][]): void {
    const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const format = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
    this.line(this.bold(format(headers)));
    for (const row of rows) this.line(format(row));
  }
}

/** One line, at most `max` characters. */
export function oneLine(text: string, max = 100): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function bytes(size: number): string {
  if (size < 1024) return `${size} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

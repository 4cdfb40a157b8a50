import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

/**
 * Asks questions at the terminal, one at a time. A Ctrl-C while a question is open answers
 * null (the terminal is in raw mode then, so no SIGINT reaches the process).
 */
export class Prompter {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {}

  ask(question: string, options: { hidden?: boolean } = {}): Promise<string | null> {
    const asked = this.queue.then(() => this.askNow(question, options.hidden ?? false));
    this.queue = asked.catch(() => undefined);
    return asked;
  }

  private askNow(question: string, hidden: boolean): Promise<string | null> {
    let muted = false;
    // A typed secret is not echoed: the interface writes through this, which drops it.
    const output = new Writable({
      write: (chunk, encoding, done) => {
        if (!muted) this.output.write(chunk, encoding);
        done();
      },
    });
    const rl = createInterface({ input: this.input, output: hidden ? output : this.output, terminal: Boolean(this.input.isTTY) });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (answer: string | null) => {
        if (settled) return;
        settled = true;
        rl.close();
        if (hidden) this.output.write('\n');
        resolve(answer);
      };
      rl.on('SIGINT', () => {
        this.output.write('\n');
        finish(null);
      });
      rl.on('close', () => finish(null));
      rl.question(question, (answer) => finish(answer));
      muted = hidden;
    });
  }
}

import { Kiln } from '@kiln/sdk';
import { clientSettings } from './client-settings.js';
import { Output } from './output.js';

/** What every command gets: the environment, the terminal, and a way to reach Kiln. */
export class CliContext {
  constructor(
    readonly env: NodeJS.ProcessEnv,
    readonly stdin: NodeJS.ReadStream = process.stdin,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  output(json: boolean): Output {
    // NO_COLOR: any non-empty value turns colours off (https://no-color.org).
    return new Output(this.stdout, this.stderr, json, Boolean(this.env.NO_COLOR));
  }

  /** A client of the configured server (KILN_URL and KILN_API_KEY, or `kiln login`'s file). */
  client(): Kiln {
    const { url, apiKey } = clientSettings(this.env);
    return new Kiln({ baseUrl: url, apiKey });
  }

  /** Whether questions can be asked: a person at a terminal. */
  get interactive(): boolean {
    return Boolean(this.stdin.isTTY);
  }
}

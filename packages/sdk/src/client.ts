import { Agents } from './agents.js';
import { Artifacts } from './artifacts.js';
import { Gumloop } from './gumloop.js';
import { Keys, Users } from './keys.js';
import { Session } from './session.js';
import { Syntropic } from './syntropic.js';
import { Tasks } from './tasks.js';
import { Transport, type TransportOptions } from './transport.js';

export type KilnOptions = TransportOptions;

/**
 * A client of one Kiln server.
 *
 * @example
 * import { Kiln } from '@kiln/sdk';
 * const kiln = new Kiln({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.KILN_API_KEY! });
 * const { id } = await kiln.tasks.create({ message: 'What is 2+2?' });
 * for await (const e of kiln.tasks.stream(id)) if (e.event === 'content') console.log(e.data.text);
 */
export class Kiln {
  readonly tasks: Tasks;
  readonly artifacts: Artifacts;
  readonly agents: Agents;
  readonly keys: Keys;
  readonly users: Users;
  readonly gumloop: Gumloop;
  readonly syntropic: Syntropic;
  /** The console's cookie sign-in (browsers). */
  readonly session: Session;
  /** Sends requests; `transport.send` reaches any route with the client's key. */
  readonly transport: Transport;

  constructor(options: KilnOptions) {
    this.transport = new Transport(options);
    this.tasks = new Tasks(this.transport);
    this.artifacts = new Artifacts(this.transport);
    this.agents = new Agents(this.transport);
    this.keys = new Keys(this.transport);
    this.users = new Users(this.transport);
    this.gumloop = new Gumloop(this.transport);
    this.syntropic = new Syntropic(this.transport);
    this.session = new Session(this.transport);
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }
}

import pg from 'pg';

/** How long the connection may stay idle before it is closed (the pool's own idle timeout). */
const IDLE_MS = 10_000;

/**
 * One PostgreSQL connection in pipeline mode, shared by every statement that runs outside a
 * transaction: a statement is sent at once, without waiting for the answers to those before it.
 * The server runs them in order, each on its own (a failing one fails alone), and answers them
 * in order. Statements issued together share round trips, and the server process stays awake
 * while there is work queued for it instead of being woken for each statement.
 *
 * A connection that breaks fails the statements in flight, as a pool connection would; the next
 * statement opens a new one. One left idle for {@link IDLE_MS} is closed, as the pool closes its
 * idle ones, so that a connection dropped silently while idle (by a NAT or a firewall) is not
 * written to.
 */
export class PipelinedConnection {
  private client: Promise<pg.Client> | null = null;
  private closed = false;
  /** When each statement in flight was sent, oldest first (answers come back in that order). */
  private readonly sentAt: number[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  /** When a statement was last answered (with none left in flight, when the connection fell idle). */
  private answeredAt = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly backend: { opened(serverProcessId: number): void; closed(serverProcessId: number): void },
  ) {}

  async query(query: pg.QueryConfig): Promise<pg.QueryResult> {
    const sent = performance.now();
    this.sentAt.push(sent);
    try {
      return await (await this.connected()).query(query);
    } finally {
      this.answeredAt = performance.now();
      const at = this.sentAt.indexOf(sent);
      if (at >= 0) this.sentAt.splice(at, 1);
      if (this.sentAt.length === 0) this.closeWhenIdle();
    }
  }

  /** One timer at a time, not one per statement: when it fires early, it waits out the rest. */
  private closeWhenIdle(): void {
    if (this.idleTimer) return;
    const check = (delay: number) => {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (this.sentAt.length > 0 || !this.client) return;
        const left = this.answeredAt + IDLE_MS - performance.now();
        if (left > 0) return check(left);
        const idle = this.client;
        this.client = null;
        void idle.then((client) => client.end()).catch(() => {});
      }, delay);
      this.idleTimer.unref();
    };
    check(IDLE_MS);
  }

  /**
   * How long statements in flight have gone without an answer: since the oldest was sent or the
   * last answer came, whichever is later; 0 when none is in flight. A connection whose answers
   * keep coming is moving even when the oldest statement has waited long (behind a busy event
   * loop, say); one held up by a statement that waits for a lock gets no answers at all.
   */
  stalledMs(): number {
    return this.sentAt.length === 0 ? 0 : performance.now() - Math.max(this.sentAt[0]!, this.answeredAt);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const client = await this.client?.catch(() => null);
    this.client = null;
    await client?.end().catch(() => {});
  }

  private connected(): Promise<pg.Client> {
    if (this.closed) return Promise.reject(new Error('the database connection is closed'));
    if (!this.client) {
      const opening = this.open(() => {
        if (this.client === opening) this.client = null;
      });
      this.client = opening;
    }
    return this.client;
  }

  /** A new pipelined connection; `gone` is called once it fails to open, breaks or ends. */
  private async open(gone: () => void): Promise<pg.Client> {
    const client = new pg.Client({ ...this.config, pipeline: true });
    client.on('error', () => {
      gone();
      client.end().catch(() => {});
    });
    try {
      await client.connect();
    } catch (error) {
      gone();
      throw error;
    }
    const pid = processId(client);
    if (pid) this.backend.opened(pid);
    client.on('end', () => {
      gone();
      if (pid) this.backend.closed(pid);
    });
    return client;
  }
}

/** node-pg keeps the server process id of each connection (it cancels queries with it). */
function processId(client: pg.Client): number | undefined {
  return (client as pg.Client & { processID?: number }).processID ?? undefined;
}

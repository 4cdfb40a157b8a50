import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { EventHub } from '../../core/events/event-hub.js';
import { errorMessage, type Logger } from '../../logger.js';
import type { TaskStore } from '../../ports/storage.js';
import type { QueuedAmount, TaskSignals } from '../../ports/task-signals.js';
import type { PostgresDatabase } from './postgres-database.js';

const SWEEP_MS = 1000;
const RECONNECT_MS = 1000;

/**
 * Task signals and live events across processes, over PostgreSQL LISTEN/NOTIFY, on the
 * installation's own channels (named here as they are without a schema; see
 * {@link PostgresDatabase.channels}).
 *
 * - `kiln_queued` wakes workers (payload `unknown` when it stands for an unknown number of turns,
 *   empty for one; the task store sends it itself with a new task or follow-up, in the statement
 *   that stores it); `kiln_stop <taskId>` stops a turn wherever it runs;
 *   `kiln_turn_ended <taskId:turn>` lets the process holding that turn's secrets drop them.
 * - `kiln_events <taskId:first:last>` (sent by the store when events commit) makes each process
 *   with streams on that task read those events once and hand them to its hub.
 *
 * PostgreSQL delivers a process's own notifications to it too; those are skipped.
 * Notifications are only a shortcut: a sweep compares watched tasks with the log every second,
 * so a notification lost while the listening connection was down delays events, never drops them.
 */
export class PgNotifications implements TaskSignals {
  private readonly local = new EventEmitter().setMaxListeners(0);
  private client: pg.PoolClient | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private relaying = new Map<string, Promise<void>>();
  /** A queued signal waiting for the end of this turn of the event loop, to go out as one notification. */
  private queuedSoon: { amount: QueuedAmount } | null = null;
  /** Notifications on their way to PostgreSQL; closing waits for them (a worker's last word is often one). */
  private readonly sending = new Set<Promise<unknown>>();

  constructor(
    private readonly db: PostgresDatabase,
    private readonly deps: { hub: EventHub; tasks: TaskStore; logger: Logger },
  ) {}

  async start(): Promise<void> {
    await this.listen();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.sendQueued();
    await Promise.all(this.sending);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.release(true);
    }
  }

  queued(amount: QueuedAmount = 'one'): void {
    this.local.emit('queued', amount);
    // Turns queued in the same turn of the event loop go out as one notification (a busy API
    // process queues many at once); more than one is an amount the listeners claim until empty.
    if (this.queuedSoon) {
      this.queuedSoon.amount = 'unknown';
      return;
    }
    this.queuedSoon = { amount };
    setImmediate(() => this.sendQueued());
  }

  queuedHere(): void {
    this.local.emit('queued', 'one');
  }

  private sendQueued(): void {
    const soon = this.queuedSoon;
    this.queuedSoon = null;
    if (soon) this.notify(this.db.channels.queued, soon.amount === 'one' ? '' : soon.amount);
  }

  onQueued(listener: (amount: QueuedAmount) => void): () => void {
    this.local.on('queued', listener);
    return () => this.local.off('queued', listener);
  }

  onStop(listener: (taskId: string) => void): () => void {
    this.local.on('stop', listener);
    return () => this.local.off('stop', listener);
  }

  stop(taskId: string): void {
    this.local.emit('stop', taskId);
    this.notify(this.db.channels.stop, taskId);
  }

  turnEnded(taskId: string, turn: number): void {
    this.local.emit('turnEnded', taskId, turn);
    this.notify(this.db.channels.turnEnded, `${taskId}:${turn}`);
  }

  onTurnEnded(listener: (taskId: string, turn: number) => void): () => void {
    this.local.on('turnEnded', listener);
    return () => this.local.off('turnEnded', listener);
  }

  private notify(channel: string, payload: string): void {
    const sent = this.db.get('SELECT pg_notify(?, ?)', [channel, payload]).catch((error) => this.deps.logger.error('notify failed', { channel, error: errorMessage(error) }));
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
  }

  private async listen(): Promise<void> {
    const client = await this.db.listener();
    client.on('notification', (message) => {
      // What this process sent, it already acted on here: signals are emitted locally as they are
      // sent, and events are published to the hub by their writer once committed.
      if (!this.db.sentByThisProcess(message.processId)) this.received(message.channel, message.payload ?? '');
    });
    client.on('error', (error) => {
      this.deps.logger.warn('the notification connection to PostgreSQL failed; reconnecting', { error: errorMessage(error) });
      client.removeAllListeners();
      client.release(true);
      if (this.client === client) this.client = null;
      this.reconnect();
    });
    for (const channel of Object.values(this.db.channels)) await client.query(`LISTEN ${channel}`);
    this.client = client;
  }

  private reconnect(): void {
    if (this.stopped) return;
    setTimeout(() => {
      this.listen().then(
        // Whatever was announced while disconnected: wake workers and catch streams up.
        () => {
          this.local.emit('queued', 'unknown');
          this.sweep();
        },
        () => this.reconnect(),
      );
    }, RECONNECT_MS).unref();
  }

  private received(channel: string, payload: string): void {
    const channels = this.db.channels;
    if (channel === channels.queued) this.local.emit('queued', payload === 'unknown' ? 'unknown' : 'one');
    else if (channel === channels.stop) this.local.emit('stop', payload);
    else if (channel === channels.turnEnded) {
      const [taskId, turn] = payload.split(':');
      if (taskId && turn) this.local.emit('turnEnded', taskId, Number(turn));
    }
    else if (channel === channels.events) {
      const [taskId, , last] = payload.split(':');
      if (taskId && last) this.relay(taskId, Number(last));
    }
  }

  /** Reads the events of `taskId` this process has not delivered yet (up to `logSeq`) and publishes them. */
  private relay(taskId: string, logSeq: number): void {
    if (this.deps.hub.behind(taskId, logSeq) === undefined) return;
    // One read per task at a time; a relay that arrives meanwhile is covered by the next one.
    const previous = this.relaying.get(taskId) ?? Promise.resolve();
    const next = previous.then(async () => {
      const from = this.deps.hub.behind(taskId, logSeq);
      if (from === undefined) return;
      const events = await this.deps.tasks.eventsAfter(taskId, from, logSeq - from);
      this.deps.hub.publish(taskId, events);
    });
    const tracked = next.catch((error) => this.deps.logger.error('relaying events failed', { task: taskId, error: errorMessage(error) }));
    this.relaying.set(taskId, tracked);
    void tracked.finally(() => {
      if (this.relaying.get(taskId) === tracked) this.relaying.delete(taskId);
    });
  }

  private sweep(): void {
    const watched = this.deps.hub.watchedTasks();
    if (watched.length === 0) return;
    this.deps.tasks
      .lastEventSeqs(watched)
      .then((seqs) => {
        for (const [taskId, seq] of seqs) this.relay(taskId, seq);
      })
      .catch((error) => this.deps.logger.error('event sweep failed', { error: errorMessage(error) }));
  }
}

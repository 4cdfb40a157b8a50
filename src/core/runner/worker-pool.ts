import { randomUUID } from 'node:crypto';
import { errorMessage, type Logger } from '../../logger.js';
import type { ClaimedTurn, TaskStore, TurnLease } from '../../ports/storage.js';
import type { QueuedAmount, TaskSignals } from '../../ports/task-signals.js';
import { StopReason, type TurnRunner } from './turn-runner.js';

export interface WorkerPoolOptions {
  concurrency: number;
  /** Turns of one user run at once; the rest wait in the queue, in order. */
  userConcurrency: number;
  /** How long a claim holds without renewal; renewed every third of it. */
  leaseMs: number;
  /**
   * Run every half lease: ends turns whose worker died. The same tick also looks for queued work,
   * in case a wake-up signal was lost. `runningHere` tells the turns this pool still runs: their
   * lease may have run out only because renewing it failed (a full disk), and they are not dead.
   */
  sweep: (runningHere: (taskId: string, leaseOwner: string) => boolean) => Promise<void>;
}

/** A place for one turn in a pool, held until the turn is handed over or the place let go. */
export interface TurnSlot {
  /** The claim to store the turn with. */
  lease: TurnLease;
  /** Runs the turn, stored with {@link lease}. */
  run(turn: ClaimedTurn): void;
  /** Lets the place go: the turn was not stored with the lease. */
  release(): void;
}

/**
 * Claims queued turns from the database and runs up to `concurrency` of them at once, at most
 * `userConcurrency` of one user, taking turns of the users with the fewest running first.
 * The per-user count needs no coordination with other processes: each counts its own claims.
 * It sleeps until a signal says work was queued or a slot frees up with work announced and not
 * claimed yet: there is no polling loop.
 *
 * It claims only while there may be work for it: a queued signal announces one turn or an unknown
 * number of them, a claim that finds nothing means nothing more can be claimed until the next
 * signal, and a turn ending lets its user's waiting turns be claimed when that user was at its
 * limit. At start, after each sweep and on a signal of an unknown amount (a restart, a restored
 * backup, turns handed back by a dead or stopping worker), it claims until a claim finds nothing.
 *
 * A task made in this process may have its first turn stored already claimed by this pool and
 * handed over without a claim ({@link reserve}), within the same limits.
 */
export class WorkerPool {
  /** Identifies this process's claims in the database. */
  readonly owner = `worker-${randomUUID()}`;
  private readonly running = new Map<string, { userId: string; controller: AbortController; done: Promise<void> }>();
  /** The users of places held for turns being stored, one entry per place. */
  private readonly reserved: string[] = [];
  private started = false;
  /**
   * Turns announced and not claimed yet, as far as this pool knows (other processes claim too);
   * infinite while the amount is unknown.
   */
  private announced = Number.POSITIVE_INFINITY;
  /** Announcements ever received: tells those that arrived while a claim was under way. */
  private announcements = 0;
  private filling = false;
  private fillAgain = false;
  private stopping = false;
  private readonly unsubscribe: (() => void)[] = [];
  private renewTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: { tasks: TaskStore; signals: TaskSignals; runner: TurnRunner; logger: Logger },
    private readonly options: WorkerPoolOptions,
  ) {}

  /** True between start and stop: the pool claims work. */
  get isRunning(): boolean {
    return this.started && !this.stopping;
  }

  start(): void {
    this.started = true;
    this.unsubscribe.push(this.deps.signals.onQueued((amount) => this.announce(amount)));
    this.unsubscribe.push(this.deps.signals.onStop((taskId) => this.running.get(taskId)?.controller.abort(new StopReason('cancelled'))));
    this.renewTimer = setInterval(() => this.renewLeases(), Math.max(1000, this.options.leaseMs / 3));
    this.renewTimer.unref();
    this.sweepTimer = setInterval(() => {
      this.options
        .sweep((taskId, leaseOwner) => leaseOwner === this.owner && this.running.has(taskId))
        .catch((error) => this.deps.logger.error('sweeping abandoned turns failed', { error: errorMessage(error) }))
        .finally(() => {
          this.announced = Number.POSITIVE_INFINITY;
          this.fill();
        });
    }, Math.max(500, this.options.leaseMs / 2));
    this.sweepTimer.unref();
    this.fill();
  }

  /**
   * Stops claiming, lets running turns finish for up to `graceMs`, then stops the rest, which
   * hand their turns back to the queue for another worker (or the next start) to continue.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    if ((await Promise.race([all(), graceOver])) === 'timeout') {
      for (const { controller } of this.running.values()) controller.abort(new StopReason('shutdown'));
      await all();
      // Workers of other processes may be idle: tell them the handed-back turns are waiting.
      this.deps.signals.queued('unknown');
    }
    clearTimeout(timer);
  }

  /**
   * A place for a turn made in this process, so that it runs here without being queued and
   * claimed: only while this pool has room for it and for its user, and knows of no queued turn
   * that would go first. Null when the turn must be queued.
   */
  reserve(userId: string): TurnSlot | null {
    if (!this.isRunning || this.announced > 0) return null;
    if (this.running.size + this.reserved.length >= this.options.concurrency) return null;
    const ofUser = this.reserved.filter((user) => user === userId).length;
    if (this.runningOf(userId) + ofUser >= this.options.userConcurrency) return null;
    this.reserved.push(userId);
    let held = true;
    const letGo = () => {
      if (!held) return false;
      held = false;
      this.reserved.splice(this.reserved.indexOf(userId), 1);
      return true;
    };
    return {
      lease: { owner: this.owner, until: new Date(Date.now() + this.options.leaseMs).toISOString() },
      run: (turn) => {
        if (!letGo()) return;
        // A claim made meanwhile counted the user's turns in the database without this one.
        if (this.stopping || this.runningOf(userId) >= this.options.userConcurrency) this.handBack(turn);
        else this.launch(turn);
      },
      release: () => {
        if (letGo()) this.fill();
      },
    };
  }

  /**
   * A turn stored as this pool's that it cannot run (it began to stop, or the user reached the
   * limit meanwhile): back to the queue, behind the turns waiting there.
   */
  private handBack({ task }: ClaimedTurn): void {
    const fence = { taskId: task.id, turn: task.turn, leaseOwner: this.owner };
    this.deps.tasks
      .releaseTurn(fence, new Date().toISOString())
      .then(() => this.deps.signals.queued('unknown'))
      .catch((error) => this.deps.logger.error('handing a turn back failed', { task: task.id, error: errorMessage(error) }));
  }

  /** A queued signal says one more turn is waiting, or some. */
  private announce(amount: QueuedAmount): void {
    this.announced = amount === 'one' ? this.announced + 1 : Number.POSITIVE_INFINITY;
    this.announcements++;
    this.fill();
  }

  /** Claims announced work until the pool is full or nothing announced is left. Re-entrant calls coalesce. */
  fill(): void {
    if (this.stopping) return;
    if (this.filling) {
      this.fillAgain = true;
      return;
    }
    this.filling = true;
    void this.claimLoop()
      .catch((error) => this.deps.logger.error('claiming queued tasks failed', { error: errorMessage(error) }))
      .finally(() => {
        this.filling = false;
        if (this.fillAgain) {
          this.fillAgain = false;
          this.fill();
        }
      });
  }

  private async claimLoop(): Promise<void> {
    while (!this.stopping && this.announced > 0 && this.running.size + this.reserved.length < this.options.concurrency) {
      this.fillAgain = false;
      const now = Date.now();
      const mark = this.announcements;
      const claimed = await this.deps.tasks.claimNext(
        this.owner,
        new Date(now + this.options.leaseMs).toISOString(),
        new Date(now).toISOString(),
        this.options.userConcurrency,
      );
      if (!claimed) {
        // Work announced while this claim ran may have been committed after it looked.
        this.announced = this.announcements - mark;
        if (this.announced === 0) return;
        continue;
      }
      this.announced = Math.max(0, this.announced - 1);
      this.launch(claimed);
    }
  }

  private launch(claimed: ClaimedTurn): void {
    const { task } = claimed;
    const controller = new AbortController();
    const done = this.deps.runner
      .run(claimed, this.owner, controller.signal)
      .catch((error) => this.deps.logger.error('turn runner crashed', { task: task.id, error: errorMessage(error) }))
      .finally(() => {
        const userWasAtLimit = this.runningOf(task.userId) >= this.options.userConcurrency;
        this.running.delete(task.id);
        if (userWasAtLimit) this.announced = Math.max(this.announced, 1);
        this.fill();
      });
    this.running.set(task.id, { userId: task.userId, controller, done });
  }

  private runningOf(userId: string): number {
    let count = 0;
    for (const turn of this.running.values()) if (turn.userId === userId) count++;
    return count;
  }

  private renewLeases(): void {
    if (this.running.size === 0) return;
    const until = new Date(Date.now() + this.options.leaseMs).toISOString();
    this.deps.tasks
      .renewLeases(this.owner, [...this.running.keys()], until)
      .catch((error) => this.deps.logger.error('renewing task leases failed', { error: errorMessage(error) }));
  }
}

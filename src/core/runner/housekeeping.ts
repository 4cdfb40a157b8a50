import { errorMessage, type Logger } from '../../logger.js';

interface Job {
  name: string;
  everyMs: number;
  run: () => Promise<void>;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
}

/**
 * Background chores on timers (expired idempotency keys, retention, webhook deliveries): each
 * job runs once at start and then every `everyMs` after the previous run ended, so a slow run
 * never overlaps the next. Failures are logged; the job runs again next time.
 *
 * @example
 * const chores = new Housekeeping(logger);
 * chores.every('expired idempotency keys', 600_000, () => keys.removeExpired());
 * chores.start();
 */
export class Housekeeping {
  private readonly jobs: Job[] = [];
  private stopped = true;

  constructor(private readonly logger: Logger) {}

  every(name: string, everyMs: number, run: () => Promise<unknown>): void {
    this.jobs.push({ name, everyMs, run: async () => void (await run()) });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const job of this.jobs) this.schedule(job, 0);
  }

  /** Stops the timers and waits for runs in progress. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs) clearTimeout(job.timer);
    await Promise.all(this.jobs.map((job) => job.running));
  }

  private schedule(job: Job, delayMs: number): void {
    if (this.stopped) return;
    job.timer = setTimeout(() => {
      job.running = job
        .run()
        .catch((error) => this.logger.error(`${job.name} failed`, { error: errorMessage(error) }))
        .finally(() => {
          job.running = undefined;
          this.schedule(job, job.everyMs);
        });
    }, delayMs);
    job.timer.unref();
  }
}

import type { TaskEventBody } from '../events/event-types.js';

/** A turn spent its budget; the turn fails with code `BUDGET_EXCEEDED`. */
export class BudgetExceeded extends Error {
  override name = 'BudgetExceeded';
}

/** The longest a Node timer waits: 2^31 - 1 ms, about 24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface BudgetLimits {
  maxTokens: number | null;
  maxDurationSeconds: number | null;
}

/**
 * Watches one turn's spending: the tokens of its `usage` events and its running time. When a
 * limit is passed, `stop` is called once with the reason; the turn then ends after the model
 * step in progress (tokens are known only once a step ends).
 *
 * @example
 * const budget = new TurnBudget({ maxTokens: 10_000, maxDurationSeconds: 600 }, (why) => controller.abort(why));
 * budget.count(event); // for every event the turn emits
 * budget.end();        // when the turn ends or parks
 */
export class TurnBudget {
  private tokens = 0;
  private spent = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: BudgetLimits,
    private readonly stop: (reason: BudgetExceeded) => void,
  ) {
    if (limits.maxDurationSeconds !== null) {
      const seconds = limits.maxDurationSeconds;
      this.after(Date.now() + seconds * 1000, () =>
        this.exceeded(`This turn ran for its limit of ${seconds} s (maxDurationSeconds) and was stopped. Send a follow-up message to continue.`),
      );
    }
  }

  count(event: TaskEventBody): void {
    if (event.type !== 'usage' || this.limits.maxTokens === null) return;
    this.tokens += event.data.totalTokens;
    if (this.tokens > this.limits.maxTokens) {
      this.exceeded(`This turn used ${this.tokens} tokens, more than its limit of ${this.limits.maxTokens} (maxTokens), and was stopped. Send a follow-up message to continue.`);
    }
  }

  end(): void {
    clearTimeout(this.timer);
  }

  /** Calls `then` at `deadline`; a timer waits at most MAX_TIMER_MS, so longer waits are chained. */
  private after(deadline: number, then: () => void): void {
    const left = deadline - Date.now();
    this.timer = setTimeout(() => (left > MAX_TIMER_MS ? this.after(deadline, then) : then()), Math.min(left, MAX_TIMER_MS));
    this.timer.unref();
  }

  private exceeded(message: string): void {
    if (this.spent) return;
    this.spent = true;
    this.end();
    this.stop(new BudgetExceeded(message));
  }
}

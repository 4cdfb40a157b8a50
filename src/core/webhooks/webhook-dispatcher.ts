import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { errorMessage, type Logger } from '../../logger.js';
import type { WebhookStore } from '../../ports/storage.js';
import type { WebhookSender } from '../../ports/webhook-sender.js';
import type { DueDelivery } from './webhook-types.js';

export interface DispatcherOptions {
  pollMs: number;
  timeoutMs: number;
  retryBaseMs: number;
  disableAfterMs: number;
  /** Deliveries sent at once by this process. */
  batch?: number;
}

const MAX_RETRY_DELAY_MS = 3_600_000;
/** A claim lasts twice the attempt time and this much more, so that a slow answer is not sent twice meanwhile. */
const LEASE_MARGIN_MS = 1000;

/**
 * Delivers the webhook outbox, in a loop of its own (a turn never waits for it): claims due
 * deliveries with a lease (so a worker that dies mid-delivery hands them over when the lease
 * runs out), signs each per Standard Webhooks, sends it, and records the outcome. Failures are
 * retried with doubling delays until the delivery's retry period is over. Delivery is at least
 * once: receivers drop duplicates by `webhook-id`.
 */
export class WebhookDispatcher {
  readonly owner = `webhooks-${randomUUID()}`;
  private readonly stopped = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly deps: { store: WebhookStore; sender: WebhookSender; logger: Logger },
    private readonly options: DispatcherOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops claiming and waits for attempts in flight. Idempotent. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const batch = this.options.batch ?? 16;
    while (!this.stopped.signal.aborted) {
      let claimed = 0;
      try {
        const now = Date.now();
        const due = await this.deps.store.claimDue(
          this.owner,
          new Date(now).toISOString(),
          new Date(now + 2 * this.options.timeoutMs + LEASE_MARGIN_MS).toISOString(),
          batch,
        );
        claimed = due.length;
        await Promise.all(due.map((delivery) => this.deliver(delivery)));
      } catch (error) {
        this.deps.logger.error('webhook delivery failed', { error: errorMessage(error) });
      }
      // A full batch means more may be due: look again at once.
      if (claimed < batch) await sleep(this.options.pollMs, undefined, { signal: this.stopped.signal }).catch(() => {});
    }
  }

  private async deliver(delivery: DueDelivery): Promise<void> {
    const sentAt = new Date();
    const headers = {
      'webhook-id': delivery.id,
      'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
      'webhook-signature': new Webhook(delivery.secret).sign(delivery.id, sentAt, delivery.payload),
    };
    const outcome = await this.deps.sender.post(delivery.url, headers, delivery.payload);
    const now = Date.now();
    const retryAt = now + this.retryDelay(delivery.attempts);
    const nextAttemptAt = outcome.ok || now >= Date.parse(delivery.giveUpAfter) ? null : new Date(retryAt).toISOString();
    const hours = Math.round((this.options.disableAfterMs / 3_600_000) * 10) / 10;
    const recorded = await this.deps.store.recordAttempt(this.owner, delivery, outcome, new Date(now).toISOString(), nextAttemptAt, {
      before: new Date(now - this.options.disableAfterMs).toISOString(),
      reason: `Disabled by Kiln: every delivery failed for more than ${hours} h (last: ${outcome.error ?? `HTTP ${outcome.statusCode}`}). Enable it again with PATCH {"enabled": true}.`,
    });
    if (!outcome.ok) {
      const log = nextAttemptAt ? this.deps.logger.info.bind(this.deps.logger) : this.deps.logger.warn.bind(this.deps.logger);
      log(nextAttemptAt ? 'webhook delivery failed; will retry' : 'webhook delivery given up', {
        delivery: delivery.id,
        endpoint: delivery.endpointId,
        attempt: delivery.attempts,
        error: outcome.error ?? `HTTP ${outcome.statusCode}`,
        ...(nextAttemptAt ? { retryAt: nextAttemptAt } : {}),
        ...(recorded ? {} : { note: 'another worker took the delivery over meanwhile' }),
      });
    }
  }

  /** Doubling delays from the base, at most an hour, with a little jitter so that retries spread out. */
  private retryDelay(attempts: number): number {
    const delay = Math.min(this.options.retryBaseMs * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_MS);
    return Math.round(delay * (0.9 + Math.random() * 0.2));
  }
}

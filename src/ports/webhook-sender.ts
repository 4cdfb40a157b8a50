import type { AttemptOutcome } from '../core/webhooks/webhook-types.js';

/**
 * Sends webhook requests to the addresses users register, under the address rules (by default
 * no loopback, private or link-local addresses, checked on every address a name resolves to).
 */
export interface WebhookSender {
  /** Throws InvalidInput when `url` is not an address webhooks may be sent to. */
  check(url: string): Promise<void>;
  /** POSTs `body`; a 2xx answer is success. Redirects are not followed (they are failures). */
  post(url: string, headers: Record<string, string>, body: string): Promise<AttemptOutcome>;
}

import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IdempotencyStore, KeyOwner, StoredAnswer } from '../../ports/storage.js';
import { IdempotencyInProgress, IdempotencyKeyReused, InvalidInput } from '../errors.js';

/** How long a key and its answer are kept. */
export const KEY_LIFETIME_MS = 24 * 60 * 60 * 1000;
/** A claim lasts this long unless renewed; a worker that died lets go of its keys after it. */
const CLAIM_MS = 60_000;
const RENEW_EVERY_MS = 20_000;
/** How long a repeat waits for the first request's answer before it is told to retry. */
const WAIT_FOR_FIRST_MS = 10_000;
const WAIT_STEP_MS = 100;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

/** What a request with an `Idempotency-Key` leads to: the work (under a claim), or the first answer again. */
export type IdempotencyOutcome = { kind: 'claimed'; claim: IdempotencyClaim } | { kind: 'replay'; answer: StoredAnswer };

/** The right to do a request's work once; ends with {@link complete} or {@link release}. */
export interface IdempotencyClaim {
  /** Records the answer, replayed from then on to repeats of the request. */
  complete(answer: StoredAnswer): Promise<void>;
  /** Gives the key back without an answer: a repeat runs the request again. */
  release(): Promise<void>;
}

/**
 * Idempotency keys: the same key from the same user with the same request, within 24 hours,
 * gets the first answer again and does nothing again; with another request it is refused.
 * Requests are told apart by a fingerprint of everything they carry (route, parameters, fields,
 * the SHA-256 of each file).
 *
 * @example
 * const outcome = await keys.begin(userId, key, fingerprintOf({ route, body }));
 * if (outcome.kind === 'replay') return outcome.answer;
 */
export class IdempotencyKeys {
  constructor(private readonly store: IdempotencyStore) {}

  /**
   * Checks the shape of a key as sent in the header, and gives the key it is kept under. Keys
   * are per user; an end user's (widget token) are their own too, so that two end users of an
   * app who pick the same key never get each other's answer.
   */
  static check(key: string, caller: KeyOwner): string {
    if (!KEY_SHAPE.test(key)) throw new InvalidInput('Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).', 'Idempotency-Key');
    // A sent key has no spaces, so a key kept for an end user cannot be one sent with an API key.
    return caller.endUser ? `${caller.endUser.appId} ${caller.endUser.endUserId} ${key}` : key;
  }

  /**
   * Claims the key for this request, or returns the answer of the first request with it. While
   * the first is still being worked on (in this process or another), waits briefly for its
   * answer, then throws {@link IdempotencyInProgress}. Throws {@link IdempotencyKeyReused} when
   * the key was used for a different request.
   */
  async begin(userId: string, key: string, fingerprint: string): Promise<IdempotencyOutcome> {
    const owner = randomUUID();
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    for (;;) {
      const now = Date.now();
      const held = await this.store.claim(userId, key, fingerprint, owner, iso(now), iso(now + CLAIM_MS), iso(now + KEY_LIFETIME_MS));
      if (!held) return { kind: 'claimed', claim: this.claim(userId, key, owner) };
      if (held.fingerprint !== fingerprint) throw new IdempotencyKeyReused();
      if (held.answer) return { kind: 'replay', answer: held.answer };
      if (Date.now() >= deadline) throw new IdempotencyInProgress();
      await sleep(WAIT_STEP_MS);
    }
  }

  /** Removes expired keys, `batch` at a time, until none is left; returns how many. */
  async removeExpired(batch = 500): Promise<number> {
    let total = 0;
    for (;;) {
      const removed = await this.store.removeExpired(new Date().toISOString(), batch);
      total += removed;
      if (removed < batch) return total;
    }
  }

  private claim(userId: string, key: string, owner: string): IdempotencyClaim {
    const renewal = setInterval(() => {
      this.store.renew(userId, key, owner, iso(Date.now() + CLAIM_MS)).catch(() => {
        // A missed renewal only shortens the claim; the next one (or the answer) follows.
      });
    }, RENEW_EVERY_MS);
    renewal.unref();
    let settled = false;
    const settle = async (action: () => Promise<void>) => {
      if (settled) return;
      settled = true;
      clearInterval(renewal);
      await action();
    };
    return {
      complete: (answer) => settle(() => this.store.complete(userId, key, owner, answer)),
      release: () => settle(() => this.store.release(userId, key, owner)),
    };
  }
}

/** A stable SHA-256 of a value: object keys sorted, so that the order of JSON fields does not count. */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

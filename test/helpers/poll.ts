import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Reads until `done` holds for what was read, every `everyMs`; after `withinMs` it fails, saying
 * what it waited for and what it read last (not a silent hang until the file's time limit).
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, { withinMs = 30_000, everyMs = 20 } = {}): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${withinMs / 1000} s; last read ${JSON.stringify(value)}`);
    await sleep(everyMs);
  }
}

import { randomBytes } from 'node:crypto';

/** A conversation id in the documented shape: epoch milliseconds, a dash, 9 lowercase base-36 characters. */
export function newConversationId(now = Date.now()): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const bytes = randomBytes(9);
  let suffix = '';
  for (const byte of bytes) suffix += alphabet[byte % 36];
  return `${now}-${suffix}`;
}

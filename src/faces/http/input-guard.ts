import type { FastifyInstance } from 'fastify';
import { InvalidInput } from '../../core/errors.js';

/** Deeper JSON than any field of the API needs; deeper input is refused before it reaches a parser or the database. */
export const MAX_JSON_DEPTH = 32;

/**
 * Refuses, for every route of every face, input no store can keep: a NUL character in any
 * string (path parameters, query, JSON or form body, keys included; PostgreSQL cannot store it
 * in text) and JSON nested deeper than {@link MAX_JSON_DEPTH}. The error goes through the face's
 * own error handler. Multipart fields are checked as they are read (`multipart.ts`).
 */
export function guardInput(app: FastifyInstance): void {
  app.addHook('preValidation', async function refuseUnstorableInput(request) {
    checkValue(request.params, 'path');
    checkValue(request.query, 'query');
    checkValue(request.body, 'body');
  });
}

/** Throws {@link InvalidInput} naming where a NUL character is, or that the value nests too deep. */
export function checkValue(value: unknown, where: string): void {
  // Iterative, so that hostile nesting cannot overflow the stack.
  const pending: [unknown, string, number][] = [[value, where, 0]];
  while (pending.length > 0) {
    const [item, at, depth] = pending.pop()!;
    if (typeof item === 'string') {
      if (item.includes('\0')) throw new InvalidInput(`${at} contains a NUL character (\\u0000), which is not allowed in text.`, at);
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) throw new InvalidInput(`The ${where} is nested more than ${MAX_JSON_DEPTH} levels deep.`, where);
    for (const [key, child] of Object.entries(item)) {
      if (key.includes('\0')) throw new InvalidInput(`${at} has a key with a NUL character (\\u0000), which is not allowed.`, at);
      pending.push([child, `${at}.${key}`, depth + 1]);
    }
  }
}

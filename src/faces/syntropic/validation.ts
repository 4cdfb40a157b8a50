import type { z } from 'zod';

/** One entry of FastAPI's 422 body. */
export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
}

/** Input that fails the schema: answered 422 `{ detail: [...] }`, the way FastAPI does. */
export class UnprocessableInput extends Error {
  constructor(readonly detail: ValidationDetail[]) {
    super(detail.map((d) => d.msg).join('; '));
  }
}

/** Parses `input` (found at `where`: body or query), turning zod issues into FastAPI's detail entries. */
export function parseOr422<T>(schema: z.ZodType<T>, input: unknown, where: 'body' | 'query'): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const detail: ValidationDetail[] = [];
  for (const issue of result.error.issues) {
    const loc = [where, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    const value = valueAt(input, issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) detail.push({ type: 'extra_forbidden', loc: [...loc, key], msg: 'Extra inputs are not permitted', input: valueAt(input, [...issue.path, key]) });
    } else if (issue.code === 'invalid_type' && value === undefined) {
      detail.push({ type: 'missing', loc, msg: 'Field required', input: where === 'body' ? input : null });
    } else {
      detail.push({ type: fastApiType(issue), loc, msg: issue.message, input: value });
    }
  }
  throw new UnprocessableInput(detail);
}

function fastApiType(issue: z.core.$ZodIssue): string {
  if (issue.code === 'too_small') return 'greater_than_equal';
  if (issue.code === 'too_big') return 'less_than_equal';
  if (issue.code === 'invalid_type') return `${issue.expected}_type`;
  if (issue.code === 'custom') return (issue.params?.type as string | undefined) ?? 'value_error';
  return 'value_error';
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

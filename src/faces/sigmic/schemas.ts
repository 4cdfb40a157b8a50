import { z } from 'zod';
import { TOOL_NAMES } from '../../core/agent/tools.js';
import { InvalidEnv, InvalidInput } from '../../core/errors.js';
import { isMcpToolPattern } from '../../core/mcp/mcp-servers.js';
import { mcpServers } from './mcp-schema.js';

/**
 * Input schemas of the native face. Everything a route receives passes through one of these;
 * the core gets typed values only.
 */

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_ENTRIES = 200;
const MAX_ENV_VALUE = 32 * 1024;
export const MAX_MESSAGE_LENGTH = 1_000_000;

const toolPolicy = z
  .record(z.string(), z.enum(['allow', 'ask', 'deny'], { error: 'toolPolicy values must be "allow", "ask" or "deny"' }))
  .superRefine((policy, ctx) => {
    for (const key of Object.keys(policy)) {
      if ((TOOL_NAMES as readonly string[]).includes(key) || isMcpToolPattern(key)) continue;
      ctx.addIssue(`toolPolicy names an unknown tool ("${key}"); the tools are ${TOOL_NAMES.join(', ')}, and MCP tools as <server>__<tool> or <server>__*`);
    }
  });

function tag(field: string) {
  return z
    .string({ error: `${field} must be a string` })
    .min(1, `${field} must not be empty`)
    .max(200, `${field} may be at most 200 characters`);
}

/** A per-turn budget: a whole number from 1, or null for none. */
function budget(field: string) {
  return z
    .number({ error: `${field} must be a whole number or null` })
    .int(`${field} must be a whole number`)
    .min(1, `${field} must be at least 1`)
    .max(2_147_483_647, `${field} must be at most 2147483647`)
    .nullable()
    .optional();
}

export const agentSettings = z.object({
  name: z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200),
  systemPrompt: z.string({ error: 'systemPrompt must be a string or null' }).max(100_000).nullable().optional(),
  model: z.string({ error: 'model must be a string like "openai:gpt-4.1"' }).min(1).max(200).nullable().optional(),
  toolPolicy: toolPolicy.nullable().optional(),
  autoExecute: z.boolean({ error: 'autoExecute must be true or false' }).optional(),
  mcpServers: mcpServers.nullable().optional(),
  maxTokens: budget('maxTokens'),
  maxDurationSeconds: budget('maxDurationSeconds'),
  retentionDays: z
    .number({ error: 'retentionDays must be a whole number of days or null' })
    .int('retentionDays must be a whole number of days')
    .min(1, 'retentionDays must be at least 1')
    .max(36_500, 'retentionDays must be at most 36500')
    .nullable()
    .optional(),
});

export const agentChanges = agentSettings.partial().strict();

export const artifactQuery = z.object({
  path: z.string({ error: 'path must be given once, as text' }).optional(),
  version: z.string({ error: 'version must be given once, as a whole number' }).optional(),
});

const message = z
  .string({ error: 'message is required and must be a string' })
  .max(MAX_MESSAGE_LENGTH, `message may be at most ${MAX_MESSAGE_LENGTH} characters`)
  .refine((m) => m.trim() !== '', 'message must not be empty');

export const createTaskJson = z.object({
  message,
  systemPrompt: z.string({ error: 'systemPrompt must be a string or null' }).max(100_000).nullable().optional(),
  showInHistory: z.boolean({ error: 'showInHistory must be true or false' }).optional(),
  autoExecute: z.boolean({ error: 'autoExecute must be true or false' }).optional(),
  toolPolicy: toolPolicy.nullable().optional(),
  model: z.string({ error: 'model must be a string like "openai:gpt-4.1"' }).min(1).max(200).nullable().optional(),
  agentId: z.string({ error: 'agentId must be a string' }).min(1).max(200).nullable().optional(),
  workflowId: tag('workflowId').nullable().optional(),
  phaseId: tag('phaseId').nullable().optional(),
  env: z.unknown().optional(),
  secrets: z.unknown().optional(),
  maxTokens: budget('maxTokens'),
  maxDurationSeconds: budget('maxDurationSeconds'),
});

export const createTaskForm = z.object({
  message,
  systemPrompt: z.string().max(100_000).optional(),
  model: z.string().min(1).max(200).optional(),
  agentId: z.string().min(1).max(200).optional(),
  workflowId: tag('workflowId').optional(),
  phaseId: tag('phaseId').optional(),
  showInHistory: z.string().optional(),
  autoExecute: z.string().optional(),
  maxTokens: z.string().optional(),
  maxDurationSeconds: z.string().optional(),
});

export const followUpJson = z.object({
  message,
  secrets: z.unknown().optional(),
  // The contract documents no env for follow-ups; silently dropping one would surprise.
  env: z
    .undefined({ error: 'env is set when the task is created and cannot be changed by a follow-up (secrets may be sent again)' })
    .optional(),
});
export const followUpForm = z.object({ message });

export const TASK_STATUSES = ['pending', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled'] as const;

export const listQuery = z.object({
  limit: z.string({ error: 'limit must be given once, as a whole number' }).optional(),
  offset: z.string({ error: 'offset must be given once, as a whole number' }).optional(),
  status: z.enum(TASK_STATUSES, { error: `status must be one of ${TASK_STATUSES.join(', ')}` }).optional(),
  q: z.string({ error: 'q must be given once, as text' }).max(200, 'q may be at most 200 characters').optional(),
});

export const usageQuery = z.object({
  days: z.string({ error: 'days must be given once, as a whole number' }).optional(),
});

export const openSessionBody = z.object({
  key: z.string({ error: 'key is required: an API key, "kiln_..."' }).min(1, 'key must not be empty').max(200),
});

export const streamQuery = z.object({
  lastEventId: z.string({ error: 'lastEventId must be given once, as a whole number' }).optional(),
});

/** Purging takes no options: a body with fields is refused rather than ignored. */
export const purgeBody = z.object({}).strict();

export const approveBody = z.object({
  outcome: z.enum(['proceed_once', 'proceed_always', 'cancel'], {
    error: 'outcome must be one of proceed_once, proceed_always, cancel',
  }),
});

/** Parses input with a schema, turning the first problem into a {@link InvalidInput} that names the field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.');
  const missing = issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined;
  const text = missing ? `${field || 'body'} is required` : issue.message;
  throw new InvalidInput(text.startsWith(field) || !field ? text : `${field}: ${text}`, field || undefined);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A multipart or form boolean: "true" or "false" in any case. Anything else is refused, never guessed. */
export function formBoolean(value: string | undefined, field: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidInput(`${field} must be "true" or "false", got "${value}"`, field);
}

/** An env or secrets map: variable-name keys, string values. Throws {@link InvalidEnv}. */
export function envMap(value: unknown, field: 'env' | 'secrets'): Record<string, string> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidEnv(`${field} must be an object of string values`, field);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_ENV_ENTRIES) throw new InvalidEnv(`${field} may have at most ${MAX_ENV_ENTRIES} entries`, field);
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (!ENV_KEY.test(key)) {
      throw new InvalidEnv(`${field}: "${key}" is not a valid variable name (letters, digits and _, not starting with a digit)`, field);
    }
    // A secret's value must never be echoed, so errors name the key only.
    if (typeof v !== 'string') throw new InvalidEnv(`${field}.${key} must be a string`, field);
    if (v.length > MAX_ENV_VALUE) throw new InvalidEnv(`${field}.${key} is longer than ${MAX_ENV_VALUE} characters`, field);
    out[key] = v;
  }
  return out;
}

/** The largest number a query may carry: what every integer column (32-bit in PostgreSQL) can hold. */
export const MAX_QUERY_INTEGER = 2_147_483_647;

/** A non-negative integer query value up to {@link MAX_QUERY_INTEGER}, or the fallback when absent. */
export function queryInteger(value: string | undefined, field: string, fallback: number, min: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value.trim())) throw new InvalidInput(`${field} must be a whole number, got "${value}"`, field);
  const n = Number(value.trim());
  if (n < min) throw new InvalidInput(`${field} must be at least ${min}`, field);
  if (n > MAX_QUERY_INTEGER) throw new InvalidInput(`${field} must be at most ${MAX_QUERY_INTEGER}`, field);
  return n;
}

export const createKeyBody = z.object({
  name: z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200, 'name may be at most 200 characters').nullable().optional(),
  userId: z.string({ error: 'userId must be a string (a user id or name)' }).trim().min(1, 'userId must not be empty').max(200).nullable().optional(),
  admin: z.boolean({ error: 'admin must be true or false' }).optional(),
}).strict();

export const keyListQuery = z.object({
  userId: z.string().min(1, 'userId must not be empty').optional(),
  all: z.enum(['true', 'false'], { error: 'all must be "true" or "false"' }).optional(),
});

const widgetAppName = z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200, 'name may be at most 200 characters');
const allowedOrigins = z.array(z.string({ error: 'allowedOrigins must be a list of origins (strings)' }).max(300), { error: 'allowedOrigins must be a list of origins like "https://shop.example"' });

export const widgetAppSettings = z.object({
  name: widgetAppName,
  allowedOrigins: allowedOrigins.optional(),
  agentId: z.string({ error: 'agentId must be a string or null' }).min(1).max(200).nullable().optional(),
  autoExecute: z.boolean({ error: 'autoExecute must be true, false or null' }).nullable().optional(),
  env: z.unknown().optional(),
  secrets: z.unknown().optional(),
}).strict();

export const widgetAppChanges = widgetAppSettings.partial().strict();

/** The token exchange's fields; each is checked by the exchange itself, with its documented code. */
export const tokenExchangeBody = z.object({
  appId: z.unknown().optional(),
  appSecret: z.unknown().optional(),
  endUserId: z.unknown().optional(),
  expiresIn: z.unknown().optional(),
  env: z.unknown().optional(),
  secrets: z.unknown().optional(),
}).strict();

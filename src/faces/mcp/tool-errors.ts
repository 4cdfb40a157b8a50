import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { errorMessage, type Logger } from '../../logger.js';
import { clientErrorOf } from '../http/framework-errors.js';

/**
 * A failed tool call as MCP wants it: a result with `isError: true` whose text the model can
 * act on (`NOT_FOUND: Task not found`). Unexpected errors are logged and told apart from
 * mistakes of the caller, without internals.
 */
export function toolError(error: unknown, logger: Logger): CallToolResult {
  const known = clientErrorOf(error);
  if (known) return { isError: true, content: [{ type: 'text', text: `${known.kind.toUpperCase()}: ${known.message}` }] };
  logger.error('MCP tool failed', { error: errorMessage(error) });
  return { isError: true, content: [{ type: 'text', text: 'INTERNAL_ERROR: the tool failed on the server; the server log has the details.' }] };
}

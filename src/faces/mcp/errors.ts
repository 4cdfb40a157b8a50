/**
 * The MCP face's error envelope: a JSON-RPC error object. -32000 is the JSON-RPC range for
 * server-defined errors; outside a parsed message there is no request id to answer.
 */
export function rpcError(message: string): { jsonrpc: '2.0'; error: { code: number; message: string }; id: null } {
  return { jsonrpc: '2.0', error: { code: -32000, message }, id: null };
}

/** An error the HTTP layer answers before the MCP route runs, in the MCP face's envelope. */
export function mcpEdgeError(_status: number, message: string): unknown {
  return rpcError(message);
}

/** FastAPI's envelope of an error the HTTP layer answers itself (timeouts, oversized requests). */
export function syntropicEdgeError(_status: number, message: string): unknown {
  return { detail: message };
}

/**
 * HTTP requests Kiln itself makes on a task's behalf (MCP servers, fetch_url). Implementations
 * refuse addresses the operator has not opened to tasks and never follow redirects themselves:
 * a 3xx response is returned as is, so each hop is checked again by the next request.
 */
export type OutboundFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

import type { ToolSet } from 'ai';
import type { McpToolbox } from '../mcp/mcp-toolbox.js';
import type { ToolContext, ToolOutcome } from './tool-types.js';
import type { ToolExecutor } from './tools.js';

/**
 * The tools of one turn: Kiln's own, and the MCP tools of the agent's servers that could be
 * reached when the turn started.
 */
export class TurnTools {
  readonly definitions: ToolSet;

  constructor(
    private readonly builtins: ToolExecutor,
    private readonly mcp: McpToolbox,
  ) {
    this.definitions = { ...builtins.definitions, ...mcp.definitions() };
  }

  /** The MCP server a tool comes from; undefined for Kiln's own tools. */
  serverOf(name: string): string | undefined {
    return this.mcp.serverOf(name);
  }

  execute(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
    if (this.mcp.has(name)) return this.mcp.call(name, args, ctx);
    if (this.builtins.offers(name) || !name.includes('__')) return this.builtins.execute(name, args, ctx);
    // A call made earlier (it waited for approval) to a tool whose server is not connected now.
    return Promise.resolve({ status: 'error', output: `The MCP tool "${name}" is not available in this turn: its server is not connected or no longer offers it.` });
  }
}

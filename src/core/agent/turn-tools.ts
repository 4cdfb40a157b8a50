import type { LanguageModelV3FunctionTool } from '@ai-sdk/provider';
import { asSchema, InvalidToolInputError, NoSuchToolError, type ToolSet } from 'ai';
import type { McpToolbox } from '../mcp/mcp-toolbox.js';
import type { ToolContext, ToolOutcome } from './tool-types.js';
import type { ToolExecutor } from './tools.js';

/** A tool call's arguments as parsed from what the model wrote, or why the call cannot run. */
export type ParsedCall = { ok: true; input: unknown } | { ok: false; input: unknown; error: Error };

/**
 * The tools of one turn: Kiln's own, and the MCP tools of the agent's servers that could be
 * reached when the turn started.
 */
export class TurnTools {
  private readonly definitions: ToolSet;
  private forModel: Promise<LanguageModelV3FunctionTool[]> | null = null;

  constructor(
    private readonly builtins: ToolExecutor,
    private readonly mcp: McpToolbox,
    /** Makes the task's workspace, once, before the first call runs. */
    private readonly workspaceReady: () => Promise<unknown>,
  ) {
    this.definitions = { ...builtins.definitions, ...mcp.definitions() };
  }

  /** The tools as a model's `doStream` takes them; built once per turn. */
  functionTools(): Promise<LanguageModelV3FunctionTool[]> {
    this.forModel ??= Promise.all(
      Object.entries(this.definitions).map(async ([name, definition]) => ({
        type: 'function' as const,
        name,
        ...(definition.description !== undefined ? { description: definition.description } : {}),
        inputSchema: await asSchema(definition.inputSchema).jsonSchema,
        ...(definition.providerOptions ? { providerOptions: definition.providerOptions } : {}),
      })),
    );
    return this.forModel;
  }

  /**
   * Parses a call's arguments (JSON text; empty means none) and checks them with the tool's
   * schema where the schema has a check of its own. An unknown tool or unparsable arguments make
   * the call invalid: it then gets an error result the model can read.
   */
  async parseCall(toolName: string, inputText: string): Promise<ParsedCall> {
    const definition = this.definitions[toolName];
    let input: unknown = {};
    if (inputText.trim() !== '') {
      try {
        input = JSON.parse(inputText);
      } catch (cause) {
        return { ok: false, input: inputText, error: new InvalidToolInputError({ toolName, toolInput: inputText, cause }) };
      }
    }
    if (!definition) return { ok: false, input, error: new NoSuchToolError({ toolName, availableTools: Object.keys(this.definitions) }) };
    const validate = asSchema(definition.inputSchema).validate;
    if (validate) {
      const checked = await validate(input);
      if (!checked.success) return { ok: false, input, error: new InvalidToolInputError({ toolName, toolInput: inputText, cause: checked.error }) };
      input = checked.value;
    }
    return { ok: true, input };
  }

  /** The MCP server a tool comes from; undefined for Kiln's own tools. */
  serverOf(name: string): string | undefined {
    return this.mcp.serverOf(name);
  }

  async execute(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
    await this.workspaceReady();
    if (this.mcp.has(name)) return this.mcp.call(name, args, ctx);
    if (this.builtins.offers(name) || !name.includes('__')) return this.builtins.execute(name, args, ctx);
    // A call made earlier (it waited for approval) to a tool whose server is not connected now.
    return { status: 'error', output: `The MCP tool "${name}" is not available in this turn: its server is not connected or no longer offers it.` };
  }
}

/**
 * The offline model's script language. Each line of the latest user message may be a directive:
 *
 *   $ <command>     run_command {command}
 *   ls [path]       list_directory {path}   (default ".")
 *   cat <path>      read_file {path}
 *   write <path>    write_file {path, content}; content = following lines up to a line "EOF"
 *   call <tool> <json>  one call of any offered tool with those arguments (default {}),
 *                   e.g. `call docs__search {"query": "x"}`
 *   & <directive>   a tool directive that joins the previous step (parallel tool calls)
 *   think <text>    a thought
 *   tools           a thought listing the tools offered (JSON: name, description, inputSchema)
 *   sleep <ms>      wait that long (cancellable)
 *   fail <text>     the turn fails with that message
 *
 * Other lines are plain text. Directives are grouped into steps: the thoughts and sleeps before a
 * tool call (or before the final answer) belong to that step.
 */
export type Action =
  | { kind: 'think'; text: string }
  | { kind: 'tools' }
  | { kind: 'sleep'; ms: number }
  | { kind: 'fail'; text: string };

export interface ToolCallPlan {
  toolName: string;
  input: Record<string, unknown>;
}

export interface Step {
  actions: Action[];
  toolCalls: ToolCallPlan[];
}

export interface Script {
  /** Steps that end in tool calls, in order. */
  toolSteps: Step[];
  /** Thoughts, sleeps or a failure before the final answer. */
  final: Step;
  /** True when the message held at least one directive. */
  hasDirectives: boolean;
}

export function parseScript(message: string): Script {
  const lines = message.split(/\r?\n/);
  const toolSteps: Step[] = [];
  let current: Step = { actions: [], toolCalls: [] };
  let hasDirectives = false;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const joins = line.startsWith('& ');
    const body = joins ? line.slice(2) : line;
    const call = parseToolCall(body, lines, i);
    if (call) {
      hasDirectives = true;
      i = call.nextIndex;
      const previous = toolSteps[toolSteps.length - 1];
      if (joins && previous && current.actions.length === 0) previous.toolCalls.push(call.plan);
      else {
        current.toolCalls.push(call.plan);
        toolSteps.push(current);
        current = { actions: [], toolCalls: [] };
      }
      continue;
    }
    const action = parseAction(line);
    if (action) {
      hasDirectives = true;
      current.actions.push(action);
      if (action.kind === 'fail') break;
    }
  }
  return { toolSteps, final: current, hasDirectives };
}

function parseToolCall(line: string, lines: string[], index: number): { plan: ToolCallPlan; nextIndex: number } | null {
  if (line.startsWith('$ ')) {
    return { plan: { toolName: 'run_command', input: { command: line.slice(2) } }, nextIndex: index };
  }
  let match = /^ls(?:\s+(.+))?$/.exec(line);
  if (match) return { plan: { toolName: 'list_directory', input: { path: match[1]?.trim() || '.' } }, nextIndex: index };
  match = /^cat\s+(.+)$/.exec(line);
  if (match) return { plan: { toolName: 'read_file', input: { path: match[1]!.trim() } }, nextIndex: index };
  match = /^call\s+(\S+)(?:\s+(.*))?$/.exec(line);
  if (match) {
    const input = jsonObject(match[2]?.trim() || '{}');
    return input ? { plan: { toolName: match[1]!, input }, nextIndex: index } : null;
  }
  match = /^write\s+(.+)$/.exec(line);
  if (match) {
    const content: string[] = [];
    let i = index + 1;
    while (i < lines.length && lines[i] !== 'EOF') content.push(lines[i++]!);
    const text = content.length > 0 ? content.join('\n') + '\n' : '';
    return { plan: { toolName: 'write_file', input: { path: match[1]!.trim(), content: text } }, nextIndex: i };
  }
  return null;
}

function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function parseAction(line: string): Action | null {
  if (line.trim() === 'tools') return { kind: 'tools' };
  if (/^call\s/.test(line)) return { kind: 'fail', text: `Bad directive "${line}": call takes a tool name and a JSON object of arguments.` };
  let match = /^think\s+(.+)$/.exec(line);
  if (match) return { kind: 'think', text: match[1]!.trim() };
  match = /^sleep\s+(\d+)\s*$/.exec(line);
  if (match) return { kind: 'sleep', ms: Number(match[1]) };
  match = /^fail\s+(.+)$/.exec(line);
  if (match) return { kind: 'fail', text: match[1]!.trim() };
  return null;
}

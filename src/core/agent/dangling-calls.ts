import type { ModelMessage, ToolResultPart } from 'ai';

const UNFINISHED = 'This call did not finish: its turn was cancelled or interrupted. It may or may not have taken effect.';

/**
 * Gives every tool call without a result one that says it did not finish. A turn that was
 * cancelled or whose worker died can leave such calls behind, and providers refuse a
 * conversation that contains them.
 */
export function closeDanglingCalls(messages: readonly ModelMessage[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    out.push(message);
    if (message.role !== 'assistant' || typeof message.content === 'string') continue;
    const calls = message.content.filter((part) => part.type === 'tool-call');
    if (calls.length === 0) continue;
    const next = messages[i + 1];
    const answered = new Set(next?.role === 'tool' ? next.content.filter((p) => p.type === 'tool-result').map((p) => p.toolCallId) : []);
    const missing: ToolResultPart[] = calls
      .filter((call) => !answered.has(call.toolCallId))
      .map((call) => ({ type: 'tool-result', toolCallId: call.toolCallId, toolName: call.toolName, output: { type: 'error-text', value: UNFINISHED } }));
    if (missing.length === 0) continue;
    if (next?.role === 'tool') {
      out.push({ ...next, content: [...next.content, ...missing] });
      i++;
    } else {
      out.push({ role: 'tool', content: missing });
    }
  }
  return out;
}

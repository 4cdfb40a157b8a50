import type { LoggedEvent } from '../events/event-types.js';
import { serverOfToolName, TOOL_SEPARATOR } from '../mcp/mcp-servers.js';
import type { ApprovalOutcome, ToolPolicy } from '../tasks/task-types.js';

export type Verdict = { kind: 'run' } | { kind: 'ask' } | { kind: 'refuse'; reason: string; byPolicy: boolean };

/**
 * Decides, per tool call, whether it runs, waits for a person, or is refused.
 *
 * The rule for a tool is its entry in the task's tool policy (for an MCP tool, else the entry
 * `<server>__*` of its server), or else `allow` when the task auto-executes and `ask` when it does not. An `ask` call runs once a person approved it (or
 * approved the same tool with `proceed_always` earlier in the task), and is refused when they
 * rejected it.
 *
 * @example
 * const gate = new ToolGate({ run_command: 'ask' }, true, approvalEvents);
 * gate.verdict({ callId: 'c1', toolName: 'read_file' });   // { kind: 'run' }
 * gate.verdict({ callId: 'c2', toolName: 'run_command' }); // { kind: 'ask' } until decided
 */
export class ToolGate {
  private readonly decisions = new Map<string, ApprovalOutcome>();
  private readonly alwaysAllowed = new Set<string>();

  constructor(
    private readonly policy: ToolPolicy | null,
    private readonly autoExecute: boolean,
    approvals: readonly LoggedEvent[],
  ) {
    for (const event of approvals) {
      if (event.type !== 'tool_approval') continue;
      this.decisions.set(event.data.callId, event.data.outcome);
      if (event.data.outcome === 'proceed_always') this.alwaysAllowed.add(event.data.toolName);
    }
  }

  /** The tool's own entry, else its MCP server's (`<server>__*`), else what `autoExecute` says. */
  rule(toolName: string): 'allow' | 'ask' | 'deny' {
    const server = serverOfToolName(toolName);
    return this.policy?.[toolName] ?? (server ? this.policy?.[`${server}${TOOL_SEPARATOR}*`] : undefined) ?? (this.autoExecute ? 'allow' : 'ask');
  }

  verdict(call: { callId: string; toolName: string }): Verdict {
    const rule = this.rule(call.toolName);
    if (rule === 'allow') return { kind: 'run' };
    if (rule === 'deny') return { kind: 'refuse', reason: `Refused: this task's tool policy denies ${call.toolName}; the call did not run.`, byPolicy: true };
    const decision = this.decisions.get(call.callId);
    if (decision === 'cancel') return { kind: 'refuse', reason: 'Rejected by the user; the call did not run.', byPolicy: false };
    if (decision !== undefined || this.alwaysAllowed.has(call.toolName)) return { kind: 'run' };
    return { kind: 'ask' };
  }
}

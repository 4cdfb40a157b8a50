import type { ModelMessage } from 'ai';
import { closeDanglingCalls } from './dangling-calls.js';

/** A rough token count: about four characters of JSON per token. */
export function estimateTokens(value: unknown): number {
  return Math.ceil(JSON.stringify(value).length / 4);
}

/**
 * The conversation to send to the model: the current turn whole, and as many of the most recent
 * earlier turns as fit in `budgetTokens`. Turns are kept or left out whole, so a tool call is
 * never separated from its result. When turns are left out, a note at the start says so. Calls
 * of earlier turns that never got a result (cancelled or interrupted) get one saying so.
 */
export function fitConversation(
  saved: readonly { turn: number; body: unknown }[],
  currentTurn: number,
  budgetTokens: number,
  /** Earlier turns older than every one in `saved`, left unread: they are left out too. */
  unreadTurns = 0,
): ModelMessage[] {
  const turns = new Map<number, ModelMessage[]>();
  for (const entry of saved) {
    const list = turns.get(entry.turn) ?? [];
    list.push(entry.body as ModelMessage);
    turns.set(entry.turn, list);
  }
  const current = turns.get(currentTurn) ?? [];
  let used = estimateTokens(current);
  const earlier = [...turns.keys()].filter((t) => t !== currentTurn).sort((a, b) => b - a);
  const kept: ModelMessage[][] = [];
  let omitted = 0;
  for (const turn of earlier) {
    const messages = turns.get(turn)!;
    const size = estimateTokens(messages);
    if (omitted === 0 && used + size <= budgetTokens) {
      kept.unshift(messages);
      used += size;
    } else {
      omitted++;
    }
  }
  omitted += unreadTurns;
  const note: ModelMessage[] =
    omitted > 0 ? [{ role: 'user', content: `[${omitted} earlier turn(s) of this conversation are left out to stay within the context budget.]` }] : [];
  // Only earlier turns are closed: the current one may be waiting on its calls' approval.
  return [...note, ...closeDanglingCalls(kept.flat()), ...current];
}

/** Saved messages read per page when a conversation is read from its newest end. */
const CONVERSATION_PAGE = 200;

/**
 * The saved messages {@link fitConversation} needs, read from the newest end a page at a time
 * until the earlier turns read are more than `budgetTokens` can hold: a turn's cost then stops
 * growing with the length of its conversation. Returns them oldest first, without the oldest
 * turn read (it may be partly read), and how many earlier turns were left unread.
 */
export async function recentConversation(
  page: (beforeSeq: number | null, limit: number) => Promise<{ seq: number; turn: number; body: unknown }[]>,
  currentTurn: number,
  budgetTokens: number,
): Promise<{ saved: { turn: number; body: unknown }[]; unreadTurns: number }> {
  const rows: { seq: number; turn: number; body: unknown }[] = [];
  /** Estimated tokens of each earlier turn read so far (each message counted once, as it is read). */
  const tokensOf = new Map<number, number>();
  for (;;) {
    const batch = await page(rows.at(-1)?.seq ?? null, CONVERSATION_PAGE);
    rows.push(...batch);
    if (batch.length < CONVERSATION_PAGE) return { saved: rows.reverse(), unreadTurns: 0 };
    for (const row of batch) if (row.turn !== currentTurn) tokensOf.set(row.turn, (tokensOf.get(row.turn) ?? 0) + estimateTokens(row.body));
    const oldest = batch[batch.length - 1]!.turn;
    let earlier = 0;
    for (const [turn, tokens] of tokensOf) if (turn > oldest) earlier += tokens;
    // Turns are numbered from 1, and each has its user's message saved.
    if (earlier > budgetTokens) return { saved: rows.filter((row) => row.turn > oldest).reverse(), unreadTurns: oldest };
  }
}

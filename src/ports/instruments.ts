import type { TokenUsage } from '../core/events/event-types.js';

/**
 * What the core reports for operators to measure (turns, model and tool calls, event delivery,
 * blob traffic). The metrics adapter turns these into Prometheus series; {@link NO_INSTRUMENTS}
 * drops them. Nothing here carries a task id or user data: only bounded names.
 */
export interface Instruments {
  /** A turn stopped running on this worker: completed, failed, cancelled, awaiting_approval or handed_back. */
  turnEnded(outcome: string, seconds: number): void;
  /** One model call (one attempt; a retry is another call). `error` is a short kind, null on success. */
  modelCall(call: { provider: string; model: string; seconds: number; error: string | null; usage: TokenUsage | null }): void;
  toolCall(call: { tool: string; status: string; seconds: number }): void;
  /** Committed events reached this process's open streams, `lagSeconds` after they were written. */
  eventsDelivered(lagSeconds: number): void;
  blobBytes(direction: 'in' | 'out', bytes: number): void;
}

export const NO_INSTRUMENTS: Instruments = {
  turnEnded: () => {},
  modelCall: () => {},
  toolCall: () => {},
  eventsDelivered: () => {},
  blobBytes: () => {},
};

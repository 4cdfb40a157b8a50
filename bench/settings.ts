/** How much each workload does, in a full run and with --quick. */
export interface Settings {
  mode: 'full' | 'quick';
  w1Iterations: number;
  w2Concurrency: number[];
  w2DurationMs: number;
  w2WarmupMs: number;
  w3Subscribers: number[];
  w3Thoughts: number;
  w3GapMs: number;
  w4Streams: number;
  w4Concurrency: number;
  w5Sizes: number[];
  w5Requests: number;
  w6SizesMb: number[];
  w7Tasks: number;
  /** W7 also reads RSS after this many tasks, to tell warm-up from growth (0: no reading) */
  w7WarmTasks: number;
  /** wait before the "after" reading of W7 */
  w7SettleMs: number;
  /** how long the slow provider of W8 takes to answer */
  w8DelayMs: number;
  w8Concurrency: number[];
  w8DurationMs: number;
  /** turns in flight for W8's streamed variant (answers sent a character at a time) */
  w8StreamedConcurrency: number;
  /** tasks each W9 layout runs before it is measured (the same count for every layout) */
  w9WarmupTasks: number;
}

export const FULL: Settings = {
  mode: 'full',
  w1Iterations: 500,
  w2Concurrency: [1, 8, 32],
  w2DurationMs: 10_000,
  w2WarmupMs: 2_000,
  w3Subscribers: [100, 500],
  w3Thoughts: 100,
  w3GapMs: 20,
  w4Streams: 1000,
  w4Concurrency: 16,
  w5Sizes: [10_000, 100_000],
  w5Requests: 500,
  w6SizesMb: [1, 10, 100],
  w7Tasks: 10_000,
  w7WarmTasks: 200,
  w7SettleMs: 2000,
  w8DelayMs: 2000,
  w8Concurrency: [1, 50, 200],
  w8DurationMs: 10_000,
  w8StreamedConcurrency: 50,
  w9WarmupTasks: 5_000,
};

export const QUICK: Settings = {
  mode: 'quick',
  w1Iterations: 60,
  w2Concurrency: [1, 8, 32],
  w2DurationMs: 1_200,
  w2WarmupMs: 300,
  w3Subscribers: [100, 500],
  w3Thoughts: 20,
  w3GapMs: 20,
  w4Streams: 100,
  w4Concurrency: 16,
  w5Sizes: [10_000],
  w5Requests: 100,
  w6SizesMb: [1, 10],
  w7Tasks: 1000,
  w7WarmTasks: 200,
  w7SettleMs: 1000,
  w8DelayMs: 2000,
  w8Concurrency: [1, 200],
  w8DurationMs: 4_000,
  w8StreamedConcurrency: 50,
  w9WarmupTasks: 500,
};

import type { KeyOwner, TaskStore } from '../../ports/storage.js';

const DAY_MS = 86_400_000;

export interface UsageDay {
  /** `YYYY-MM-DD`, in UTC. */
  date: string;
  tasks: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

export interface UsageByAgent {
  agentId: string | null;
  tasks: number;
  totalTokens: number;
}

export interface UsageReport {
  days: UsageDay[];
  agents: UsageByAgent[];
  since: string;
}

/**
 * Tokens and new tasks of a user per day (UTC) and per agent, over the last `days` days
 * (today included), added up from the task log: every model step logs its usage.
 *
 * @example
 * const report = await usageReport(storage.tasks, caller, 30);   // report.days[29] is today
 */
export async function usageReport(tasks: TaskStore, caller: KeyOwner, days: number, now = Date.now()): Promise<UsageReport> {
  const start = new Date(Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS);
  const since = start.toISOString();
  const byDay = new Map<string, UsageDay>();
  for (let i = 0; i < days; i++) {
    const date = new Date(start.getTime() + i * DAY_MS).toISOString().slice(0, 10);
    byDay.set(date, { date, tasks: 0, inputTokens: 0, outputTokens: 0, totalTokens: 0 });
  }
  const byAgent = new Map<string | null, UsageByAgent>();
  const agent = (id: string | null) => {
    let entry = byAgent.get(id);
    if (!entry) byAgent.set(id, (entry = { agentId: id, tasks: 0, totalTokens: 0 }));
    return entry;
  };
  const [usage, created] = await Promise.all([tasks.usageEvents(caller.userId, since), tasks.createdSince(caller.userId, since)]);
  for (const record of usage) {
    const day = byDay.get(record.at.slice(0, 10));
    if (!day) continue;
    day.inputTokens += record.usage.inputTokens ?? 0;
    day.outputTokens += record.usage.outputTokens ?? 0;
    day.totalTokens += record.usage.totalTokens ?? 0;
    agent(record.agentId).totalTokens += record.usage.totalTokens ?? 0;
  }
  for (const task of created) {
    const day = byDay.get(task.createdAt.slice(0, 10));
    if (!day) continue;
    day.tasks++;
    agent(task.agentId).tasks++;
  }
  return { since, days: [...byDay.values()], agents: [...byAgent.values()].sort((a, b) => b.totalTokens - a.totalTokens || b.tasks - a.tasks) };
}

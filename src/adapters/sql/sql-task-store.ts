import type { LoggedEvent, TaskEventBody } from '../../core/events/event-types.js';
import type { Message, Task } from '../../core/tasks/task-types.js';
import { awaitingApprovalEvent, taskCreatedEvent, turnEndedEvent } from '../../core/webhooks/webhook-types.js';
import type { Database, SqlExecutor, SqlValue, Statement } from '../../ports/database.js';
import type { EndUserScope } from '../../core/widgets/widget-types.js';
import { TurnLost, type ClaimedTurn, type ModelMessageRow, type TaskFilter, type TaskWithHistory, type TaskStore, type UsageRecord, type TurnAmendment, type TurnCarry, type TurnEnding, type TurnFence, type TurnLease } from '../../ports/storage.js';
import {
  EVENT_COLUMNS,
  INSERT_MESSAGE,
  MESSAGE_COLUMNS,
  TASK_COLUMNS,
  eventFromRow,
  messageFromRow,
  messageParams,
  taskFromRow,
  type EventRow,
  type MessageRow,
  type TaskRow,
} from './task-rows.js';
import { jsonArray, parsedJson, rowJson } from './json-row.js';
import { AGENT_COLUMNS, agentFromRow, type AgentRow } from './sql-agent-store.js';
import { taskCount, taskCountChange } from './task-counts.js';
import { WebhookOutbox } from './webhook-outbox.js';

const EXECUTING = `('pending', 'running', 'awaiting_approval')`;
const IDLE = `('completed', 'failed', 'cancelled')`;
const EVENT_BATCH = 500;

/** The task columns of an UPDATE of `tasks` ... RETURNING, its user's name included (RETURNING takes no alias in SQLite). */
const RETURNED_TASK = TASK_COLUMNS.replace('u.name AS username', '(SELECT u.name FROM users u WHERE u.id = t.user_id) AS username').replace(/\bt\./g, 'tasks.');

/**
 * The next turn to claim, as a subquery and its parameters: the oldest queued turn of the user with
 * the fewest running turns, among users with fewer than `perUserLimit` running for this owner.
 *
 * SQLite (one writer): each user with waiting turns is looked at once, through the index of
 * waiting turns by user, and each count reads only that user's held turns.
 */
function nextTurn(owner: string, perUserLimit?: number): [string, SqlValue[]] {
  const capped = perUserLimit === undefined ? '' : 'WHERE (SELECT COUNT(*) FROM tasks h WHERE h.user_id = w.user_id AND h.lease_owner = ?) < ?';
  return [
    `WITH waiting AS (
       SELECT user_id, MIN(queued_at) AS first FROM tasks WHERE queued_at IS NOT NULL AND lease_owner IS NULL GROUP BY user_id
     )
     SELECT (SELECT q.id FROM tasks q WHERE q.user_id = w.user_id AND q.queued_at IS NOT NULL AND q.lease_owner IS NULL
              ORDER BY q.queued_at, q.id LIMIT 1)
       FROM waiting w ${capped}
      ORDER BY (SELECT COUNT(*) FROM tasks h WHERE h.user_id = w.user_id AND h.lease_owner IS NOT NULL), w.first, w.user_id
      LIMIT 1`,
    perUserLimit === undefined ? [] : [owner, perUserLimit],
  ];
}

/**
 * The same choice on PostgreSQL, where several processes claim at once: every waiting turn is a
 * candidate, so a turn locked by another claim is skipped for the next one, of any user.
 *
 * Running turns are counted only for users with a waiting one. Without statistics on `tasks` (a
 * new database, or autovacuum not yet run or turned off), PostgreSQL takes `lease_owner IS NOT
 * NULL` for nearly every row and counted them by reading the whole table on every claim (1.8 ms at
 * 3,000 tasks, growing with the table); restricted to those users it looks them up by index
 * (0.2 ms).
 */
function nextTurnLocked(owner: string, perUserLimit?: number): [string, SqlValue[]] {
  return [
    `WITH running AS (
       SELECT user_id, COUNT(*) AS total, SUM(CASE WHEN lease_owner = ? THEN 1 ELSE 0 END) AS mine
         FROM tasks
        WHERE lease_owner IS NOT NULL AND user_id IN (SELECT user_id FROM tasks WHERE queued_at IS NOT NULL AND lease_owner IS NULL)
        GROUP BY user_id
     )
     SELECT q.id FROM tasks q LEFT JOIN running r ON r.user_id = q.user_id
      WHERE q.queued_at IS NOT NULL AND q.lease_owner IS NULL${perUserLimit === undefined ? '' : ' AND COALESCE(r.mine, 0) < ?'}
      ORDER BY COALESCE(r.total, 0), q.queued_at, q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED`,
    perUserLimit === undefined ? [owner] : [owner, perUserLimit],
  ];
}

export class SqlTaskStore implements TaskStore {
  /** Row lock for read-then-write transactions; SQLite transactions are already exclusive. */
  private readonly forUpdate: string;
  /** The claimed task's agent row as JSON, for the claim's RETURNING (its runner needs it first). */
  private readonly claimedAgent: string;
  /** The task with its messages and last event as JSON, by id and user. */
  private readonly withHistory: string;

  constructor(
    private readonly db: Database,
    private readonly outbox = new WebhookOutbox(db.dialect),
  ) {
    const { dialect } = db;
    this.forUpdate = dialect === 'postgres' ? ' FOR UPDATE' : '';
    // Other tables' rows come back as JSON beside the task's: on PostgreSQL each read is a round trip.
    this.claimedAgent = `(SELECT ${rowJson(dialect, 'a', AGENT_COLUMNS)} FROM agents a WHERE a.id = tasks.agent_id AND a.user_id = tasks.user_id) AS agent_json,
       (SELECT ${jsonArray(dialect, rowJson(dialect, 'mm', 'seq, turn, body'), 'mm.seq')}
          FROM (SELECT seq, turn, body FROM model_messages WHERE task_id = tasks.id ORDER BY seq LIMIT 2) mm) AS conversation_json`;
    this.withHistory = `SELECT ${TASK_COLUMNS},
         (SELECT ${jsonArray(dialect, rowJson(dialect, 'm', MESSAGE_COLUMNS), 'm.seq')} FROM messages m WHERE m.task_id = t.id) AS messages_json,
         (SELECT ${rowJson(dialect, 'e', EVENT_COLUMNS)} FROM events e WHERE e.task_id = t.id ORDER BY e.seq DESC LIMIT 1) AS last_event_json,
         (SELECT ${jsonArray(dialect, rowJson(dialect, 'e', EVENT_COLUMNS), 'e.seq')}
            FROM (SELECT ${EVENT_COLUMNS} FROM events WHERE task_id = t.id AND seq > t.turn_start_seq AND t.status IN ${EXECUTING}
                   ORDER BY seq LIMIT ?) e) AS turn_events_json
       FROM tasks t JOIN users u ON u.id = t.user_id WHERE t.id = ? AND t.user_id = ?`;
  }

  async create(task: Task, firstMessage: Message, modelMessage: unknown, agentRevision?: number, lease?: TurnLease): Promise<boolean> {
    const write = async (tx: SqlExecutor) => {
      const insertTask: Statement = [
        `INSERT INTO tasks (id, user_id, api_key_id, session_id, conversation_id, status, message, system_prompt,
           show_in_history, auto_execute, env, tool_policy, model, agent_id, workflow_id, phase_id, widget_app_id, end_user_id, secrets_holder, error, created_at, started_at, completed_at, last_activity_at,
           message_count, turn, turn_start_seq, last_event_seq, queued_at, trace_parent, max_tokens, max_duration_seconds, lease_owner, lease_expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          task.id,
          task.userId,
          task.apiKeyId,
          task.sessionId,
          task.conversationId,
          task.status,
          task.message,
          task.systemPrompt,
          task.showInHistory ? 1 : 0,
          task.autoExecute ? 1 : 0,
          task.env ? JSON.stringify(task.env) : null,
          task.toolPolicy ? JSON.stringify(task.toolPolicy) : null,
          task.model,
          task.agentId,
          task.workflowId,
          task.phaseId,
          task.endUser?.appId ?? null,
          task.endUser?.endUserId ?? null,
          task.secretsHolder,
          task.error,
          task.createdAt,
          task.startedAt,
          task.completedAt,
          task.lastActivityAt,
          task.messageCount,
          task.turn,
          task.turnStartSeq,
          task.lastEventSeq,
          lease ? null : task.createdAt,
          task.traceParent,
          task.maxTokens ?? null,
          task.maxDurationSeconds ?? null,
          lease?.owner ?? null,
          lease?.until ?? null,
        ],
      ];
      const writes = [
        insertTask,
        [INSERT_MESSAGE, messageParams(task.id, firstMessage)] satisfies Statement,
        insertModelMessages(task.id, task.turn, [modelMessage]),
        ...(await this.outbox.statements(tx, taskCreatedEvent(task))),
        taskCountChange(task.userId, 1),
        ...(lease ? [] : this.announceQueued()),
      ];
      if (agentRevision === undefined) await tx.runAll(writes);
      else return tx.runGuarded(['SELECT 1 FROM agents WHERE id = ? AND revision = ?', [task.agentId, agentRevision]], writes);
      return true;
    };
    // PostgreSQL: one statement, one round trip. SQLite looks for webhook endpoints first, in the
    // same transaction (see WebhookOutbox).
    return this.db.dialect === 'postgres' ? write(this.db) : this.db.transaction(write);
  }

  async get(id: string, userId?: string, endUser?: EndUserScope): Promise<Task | undefined> {
    const task = await this.read(this.db, id, userId);
    return task && seenBy(task, endUser) ? task : undefined;
  }

  async getWithHistory(id: string, userId: string, endUser?: EndUserScope, turnEvents = 0): Promise<TaskWithHistory | undefined> {
    type Row = TaskRow & { messages_json: string | MessageRow[] | null; last_event_json: string | EventRow | null; turn_events_json: string | EventRow[] | null };
    const row = await this.db.get<Row>(this.withHistory, [turnEvents, id, userId]);
    if (!row) return undefined;
    const task = taskFromRow(row);
    if (!seenBy(task, endUser)) return undefined;
    const last = parsedJson(row.last_event_json);
    return {
      task,
      messages: (parsedJson(row.messages_json) ?? []).map(messageFromRow),
      lastEvent: last ? eventFromRow(last) : undefined,
      turnEvents: (parsedJson(row.turn_events_json) ?? []).map(eventFromRow),
    };
  }

  async list(userId: string, limit: number, offset: number, filter: TaskFilter = {}): Promise<{ tasks: Task[]; total: number }> {
    const where = ['user_id = ?'];
    const params: SqlValue[] = [userId];
    if (filter.endUser) {
      where.push('widget_app_id = ?', 'end_user_id = ?');
      params.push(filter.endUser.appId, filter.endUser.endUserId);
    }
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.text) {
      // LOWER on both sides: LIKE ignores case in SQLite but not in PostgreSQL.
      where.push("(LOWER(message) LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')");
      const escaped = filter.text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
      params.push(`%${escaped}%`, `${escaped}%`);
    }
    const condition = where.join(' AND ');
    // The page's ids come from the index alone (skipping `offset` entries touches no table row);
    // only the page's rows are read.
    const page = (order: 'ASC' | 'DESC', pageLimit: number, pageOffset: number) =>
      this.db.scans.all<{ id: string }>(`SELECT id FROM tasks WHERE ${condition} ORDER BY last_activity_at ${order}, id ${order} LIMIT ? OFFSET ?`, [
        ...params,
        pageLimit,
        pageOffset,
      ]);
    if (where.length > 1) {
      const ids = await page('DESC', limit, offset);
      const count = await this.db.scans.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM tasks WHERE ${condition}`, params);
      return { tasks: await this.rowsOf(ids), total: Number(count?.n ?? 0) };
    }
    // All of a user's tasks are counted as they are made. Knowing the total, a page in the older
    // half is read from the oldest end, skipping at most half of the index.
    const total = await taskCount(this.db, userId);
    const fromOldest = offset * 2 + limit > total && offset < total;
    const ids = fromOldest ? await page('ASC', Math.min(limit, total - offset), Math.max(0, total - offset - limit)) : await page('DESC', limit, offset);
    return { tasks: await this.rowsOf(ids), total };
  }

  /** The tasks of a page of ids, in the page's order. */
  private async rowsOf(ids: { id: string }[]): Promise<Task[]> {
    const rows =
      ids.length === 0
        ? []
        : await this.db.all<TaskRow>(
            `SELECT ${TASK_COLUMNS} FROM tasks t JOIN users u ON u.id = t.user_id
              WHERE t.id IN (${ids.map(() => '?').join(', ')}) ORDER BY t.last_activity_at DESC, t.id DESC`,
            ids.map((r) => r.id),
          );
    return rows.map(taskFromRow);
  }

  async usageEvents(userId: string, since: string): Promise<UsageRecord[]> {
    // Tasks active in the window come from the activity index; their usage events from the log.
    const rows = await this.db.scans.all<{ agentId: string | null; createdAt: string; data: string }>(
      `SELECT t.agent_id AS "agentId", e.created_at AS "createdAt", e.data AS "data"
         FROM tasks t JOIN events e ON e.task_id = t.id
        WHERE t.user_id = ? AND t.last_activity_at >= ? AND e.type = 'usage' AND e.created_at >= ?`,
      [userId, since, since],
    );
    return rows.map((row) => ({ agentId: row.agentId, at: row.createdAt, usage: JSON.parse(row.data) as UsageRecord['usage'] }));
  }

  async createdSince(userId: string, since: string): Promise<{ agentId: string | null; createdAt: string }[]> {
    return this.db.scans.all(
      `SELECT agent_id AS "agentId", created_at AS "createdAt" FROM tasks WHERE user_id = ? AND last_activity_at >= ? AND created_at >= ?`,
      [userId, since, since],
    );
  }

  async messages(taskId: string): Promise<Message[]> {
    const rows = await this.db.all<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE task_id = ? ORDER BY seq`,
      [taskId],
    );
    return rows.map(messageFromRow);
  }

  async startFollowUp(
    taskId: string,
    userId: string,
    message: Omit<Message, 'seq' | 'turn'>,
    now: string,
    secretsHolder: string | null,
    modelMessage: unknown,
    traceParent: string | null = null,
  ): Promise<Task | 'busy' | undefined> {
    return this.db.transaction(async (tx) => {
      const task = await this.read(tx, taskId, userId, true);
      if (!task) return undefined;
      const opened = await tx.run(
        `UPDATE tasks SET status = 'running', turn = turn + 1, turn_start_seq = last_event_seq, started_at = ?,
           completed_at = NULL, error = NULL, queued_at = ?, last_activity_at = ?, message_count = message_count + 1, secrets_holder = ?, trace_parent = ?
         WHERE id = ? AND status IN ${IDLE} AND purging_since IS NULL`,
        [now, now, now, secretsHolder, traceParent, taskId],
      );
      if (opened.changes === 0) return 'busy';
      const turn = task.turn + 1;
      await tx.runAll([
        [INSERT_MESSAGE, messageParams(taskId, { ...message, seq: task.messageCount + 1, turn })],
        insertModelMessages(taskId, turn, [modelMessage]),
        ...this.announceQueued(),
      ]);
      return {
        ...task,
        status: 'running',
        turn,
        turnStartSeq: task.lastEventSeq,
        startedAt: now,
        completedAt: null,
        error: null,
        lastActivityAt: now,
        messageCount: task.messageCount + 1,
        secretsHolder,
        traceParent,
      };
    });
  }

  async claimNext(owner: string, leaseUntil: string, now: string, perUserLimit?: number): Promise<ClaimedTurn | undefined> {
    const [next, nextParams] = (this.db.dialect === 'postgres' ? nextTurnLocked : nextTurn)(owner, perUserLimit);
    type Row = TaskRow & { agent_json: string | AgentRow | null; conversation_json: string | ModelMessageStored[] | null };
    const rows = await this.db.all<Row>(
      `UPDATE tasks SET lease_owner = ?, lease_expires_at = ?, queued_at = NULL, status = 'running',
         started_at = COALESCE(started_at, ?), last_activity_at = CASE WHEN started_at IS NULL THEN ? ELSE last_activity_at END
       WHERE id = (${next})
       RETURNING ${RETURNED_TASK}, ${this.claimedAgent}`,
      [owner, leaseUntil, now, now, ...nextParams],
    );
    const row = rows[0];
    if (!row) return undefined;
    const agent = parsedJson(row.agent_json);
    // Two messages or more: the runner reads the conversation a page at a time. On PostgreSQL the
    // subquery reads the statement's snapshot, which a follow-up committed just before the claim's
    // lock is not in: the one message counts only when it is of the claimed turn.
    const task = taskFromRow(row);
    const conversation = (parsedJson(row.conversation_json) ?? []).map(modelMessageFromRow);
    const whole = conversation.length === 1 && conversation[0]!.turn === task.turn;
    return { task, agent: agent ? agentFromRow(agent) : undefined, conversation: whole ? conversation : undefined };
  }

  async renewLeases(owner: string, taskIds: readonly string[], leaseUntil: string): Promise<void> {
    if (taskIds.length === 0) return;
    const marks = taskIds.map(() => '?').join(', ');
    await this.db.run(`UPDATE tasks SET lease_expires_at = ? WHERE lease_owner = ? AND id IN (${marks})`, [leaseUntil, owner, ...taskIds]);
  }

  async releaseTurn(fence: TurnFence, now: string): Promise<boolean> {
    const [where, params] = fenceClause(fence);
    const released = await this.db.run(`UPDATE tasks SET lease_owner = NULL, lease_expires_at = NULL, queued_at = ? WHERE ${where}`, [now, ...params]);
    return released.changes > 0;
  }

  async statusCounts(): Promise<Record<string, number>> {
    const rows = await this.db.scans.all<{ status: string; n: number | string }>('SELECT status, COUNT(*) AS n FROM tasks GROUP BY status');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async queueStats(): Promise<{ depth: number; oldestQueuedAt: string | null }> {
    const row = await this.db.scans.get<{ n: number | string; oldest: string | null }>(
      'SELECT COUNT(*) AS n, MIN(queued_at) AS oldest FROM tasks WHERE queued_at IS NOT NULL AND lease_owner IS NULL',
    );
    return { depth: Number(row?.n ?? 0), oldestQueuedAt: row?.oldest ?? null };
  }

  async abandonedTurns(now: string | null): Promise<{ task: Task; leaseOwner: string }[]> {
    const rows = await this.db.all<TaskRow & { lease_owner: string }>(
      `SELECT ${TASK_COLUMNS}, t.lease_owner FROM tasks t JOIN users u ON u.id = t.user_id
        WHERE t.lease_owner IS NOT NULL${now === null ? '' : ' AND t.lease_expires_at < ?'}`,
      now === null ? [] : [now],
    );
    return rows.map((row) => ({ task: taskFromRow(row), leaseOwner: row.lease_owner }));
  }

  async appendEvents(fence: TurnFence, events: readonly TaskEventBody[], now: string, lastSeq?: number): Promise<LoggedEvent[]> {
    if (events.length === 0) return [];
    if (lastSeq !== undefined) {
      // Numbered after the writer's last event, on condition that it still is the task's last.
      const [where, params] = fenceClause(fence);
      const logged = numbered(fence, events, lastSeq, now);
      const guard: Statement = [`UPDATE tasks SET last_event_seq = ? WHERE ${where} AND last_event_seq = ?`, [lastSeq + events.length, ...params, lastSeq]];
      if (await this.db.runGuarded(guard, [...insertEvents(logged), ...this.announce(logged)])) return logged;
    }
    return this.db.transaction(async (tx) => {
      const [where, params] = fenceClause(fence);
      const bumped = await tx.all<{ last_event_seq: number | string }>(
        `UPDATE tasks SET last_event_seq = last_event_seq + ? WHERE ${where} RETURNING last_event_seq`,
        [events.length, ...params],
      );
      if (bumped.length === 0) throw new TurnLost(fence.taskId);
      const first = Number(bumped[0]!.last_event_seq) - events.length + 1;
      const logged = numbered(fence, events, first - 1, now);
      await tx.runAll([...insertEvents(logged), ...this.announce(logged)]);
      return logged;
    });
  }

  async eventsAfter(taskId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    const rows = await this.db.all<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      [taskId, afterSeq, limit],
    );
    return rows.map(eventFromRow);
  }

  async lastEventSeqs(taskIds: readonly string[]): Promise<Map<string, number>> {
    if (taskIds.length === 0) return new Map();
    const rows = await this.db.all<{ id: string; last_event_seq: number }>(
      `SELECT id, last_event_seq FROM tasks WHERE id IN (${taskIds.map(() => '?').join(', ')})`,
      [...taskIds],
    );
    return new Map(rows.map((r) => [r.id, Number(r.last_event_seq)]));
  }

  async endTurn(
    fence: TurnFence,
    decide: (turnEvents: LoggedEvent[], task: Task) => TurnEnding,
    now: string,
    carried: TurnCarry = {},
    current?: Task,
  ): Promise<LoggedEvent[] | undefined> {
    // The caller's copy of the row: the end is written in one step, on condition that the row is
    // still that copy (one round trip on PostgreSQL, after reading what the turn logged, if anything).
    if (current) {
      const [where, params] = fenceClause(fence);
      const turnEvents = current.lastEventSeq > current.turnStartSeq ? await this.loggedBetween(fence.taskId, current.turnStartSeq, current.lastEventSeq) : [];
      const write = async (executor: SqlExecutor) => {
        const end = await this.turnEnd(executor, fence, current, turnEvents, decide, now, carried);
        const guard: Statement = [
          `UPDATE tasks SET ${end.sets[0]} WHERE ${where} AND status = ? AND last_event_seq = ?`,
          [...end.sets[1], ...params, current.status, current.lastEventSeq],
        ];
        return (await executor.runGuarded(guard, end.writes)) ? end.logged : undefined;
      };
      const logged = await (this.db.dialect === 'postgres' ? write(this.db) : this.db.transaction(write));
      if (logged) return logged;
    }
    return this.db.transaction(async (tx) => {
      const open = await this.openTurn(tx, fence);
      if (!open) return undefined;
      const end = await this.turnEnd(tx, fence, open.task, open.events, decide, now, carried);
      await tx.runAll([[`UPDATE tasks SET ${end.sets[0]} WHERE id = ?`, [...end.sets[1], fence.taskId]], ...end.writes]);
      return end.logged;
    });
  }

  /**
   * What ending the turn writes, from the task row and the turn's logged events: the task row's
   * new values (an UPDATE's SET clause), the other writes, and the events it logs.
   */
  private async turnEnd(
    executor: SqlExecutor,
    fence: TurnFence,
    task: Task,
    turnEvents: LoggedEvent[],
    decide: (turnEvents: LoggedEvent[], task: Task) => TurnEnding,
    now: string,
    carried: TurnCarry,
  ): Promise<{ sets: Statement; writes: Statement[]; logged: LoggedEvent[] }> {
    const last = numbered(fence, carried.events ?? [], task.lastEventSeq, now);
    const ending = decide([...turnEvents, ...last], task);
    const seq = task.lastEventSeq + last.length + 1;
    const logged = [...last, ...numbered(fence, [ending.terminal], seq - 1, now)];
    const ended = turnEndedEvent(task, ending.terminal, now);
    const modelMessages = carried.modelMessages ?? [];
    return {
      sets: [
        `status = ?, error = ?, completed_at = ?, last_activity_at = ?, last_event_seq = ?,
         lease_owner = NULL, lease_expires_at = NULL, queued_at = NULL, message_count = message_count + ?`,
        [ending.status, ending.error, now, now, seq, ending.assistant ? 1 : 0],
      ],
      writes: [
        ...insertEvents(logged),
        ...this.announce(logged),
        ...(modelMessages.length > 0 ? [insertModelMessages(fence.taskId, fence.turn, modelMessages)] : []),
        ...(ended ? await this.outbox.statements(executor, ended) : []),
        ...(ending.assistant
          ? [[INSERT_MESSAGE, messageParams(fence.taskId, { ...ending.assistant, seq: task.messageCount + 1, turn: fence.turn, createdAt: now })] as const]
          : []),
      ],
      logged,
    };
  }

  async amendTurn<T>(
    fence: TurnFence,
    decide: (turnEvents: LoggedEvent[], task: Task) => TurnAmendment<T>,
    now: string,
  ): Promise<{ result: T; events: LoggedEvent[] } | undefined> {
    return this.db.transaction(async (tx) => {
      const open = await this.openTurn(tx, fence);
      if (!open) return undefined;
      const { task, events } = open;
      const amendment = decide(events, task);
      const logged = numbered(fence, amendment.events, task.lastEventSeq, now);
      const sets = ['last_event_seq = ?'];
      const values: SqlValue[] = [task.lastEventSeq + logged.length];
      if (amendment.status === 'awaiting_approval') {
        sets.push("status = 'awaiting_approval'", 'lease_owner = NULL', 'lease_expires_at = NULL', 'last_activity_at = ?');
        values.push(now);
      } else if (amendment.status === 'running') {
        sets.push("status = 'running'", 'queued_at = ?', 'last_activity_at = ?');
        values.push(now, now);
      }
      await tx.runAll([
        [`UPDATE tasks SET ${sets.join(', ')} WHERE id = ?`, [...values, fence.taskId]],
        ...insertEvents(logged),
        ...this.announce(logged),
        ...(amendment.status === 'awaiting_approval' ? await this.outbox.statements(tx, awaitingApprovalEvent(task, amendment.events, now)) : []),
      ]);
      return { result: amendment.result, events: logged };
    });
  }

  async eventsOfType(taskId: string, types: readonly TaskEventBody['type'][]): Promise<LoggedEvent[]> {
    if (types.length === 0) return [];
    const rows = await this.db.all<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE task_id = ? AND type IN (${types.map(() => '?').join(', ')}) ORDER BY seq`,
      [taskId, ...types],
    );
    return rows.map(eventFromRow);
  }

  async appendModelMessages(fence: TurnFence, messages: readonly unknown[]): Promise<void> {
    if (messages.length === 0) return;
    await this.db.transaction(async (tx) => {
      const [where, params] = fenceClause(fence);
      const held = await tx.get<{ id: string }>(`SELECT id FROM tasks WHERE ${where}${this.forUpdate}`, params);
      if (!held) throw new TurnLost(fence.taskId);
      await tx.run(...insertModelMessages(fence.taskId, fence.turn, messages));
    });
  }

  async recentModelMessages(taskId: string, beforeSeq: number | null, limit: number): Promise<ModelMessageRow[]> {
    const rows = await this.db.all<ModelMessageStored>(
      `SELECT seq, turn, body FROM model_messages WHERE task_id = ?${beforeSeq === null ? '' : ' AND seq < ?'} ORDER BY seq DESC LIMIT ?`,
      beforeSeq === null ? [taskId, limit] : [taskId, beforeSeq, limit],
    );
    return rows.map(modelMessageFromRow);
  }

  /** Within a transaction: the fenced turn's task (locked) and events, or undefined when the fence no longer holds. */
  private async openTurn(tx: SqlExecutor, fence: TurnFence): Promise<{ task: Task; events: LoggedEvent[] } | undefined> {
    const [where, params] = fenceClause(fence, 't.');
    const row = await tx.get<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t JOIN users u ON u.id = t.user_id WHERE ${where}${this.forUpdate.replace('FOR UPDATE', 'FOR UPDATE OF t')}`,
      params,
    );
    if (!row) return undefined;
    const task = taskFromRow(row);
    // A turn that carries all its events to its end (a short one) has none in the log yet.
    if (task.lastEventSeq === task.turnStartSeq) return { task, events: [] };
    return { task, events: await this.loggedBetween(fence.taskId, task.turnStartSeq, task.lastEventSeq, tx) };
  }

  /** A task's events after `afterSeq` up to `lastSeq`, in order. */
  private async loggedBetween(taskId: string, afterSeq: number, lastSeq: number, executor: SqlExecutor = this.db): Promise<LoggedEvent[]> {
    const rows = await executor.all<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE task_id = ? AND seq > ? AND seq <= ? ORDER BY seq`,
      [taskId, afterSeq, lastSeq],
    );
    return rows.map(eventFromRow);
  }

  /**
   * Tells other processes (PostgreSQL NOTIFY, delivered at commit) which events a task got:
   * `taskId:first:last`. The payload is small; the log stays the source of truth.
   */
  private announce(events: readonly LoggedEvent[]): Statement[] {
    const { channels } = this.db;
    if (!channels || events.length === 0) return [];
    const first = events[0]!;
    return [['SELECT pg_notify(?, ?)', [channels.events, `${first.taskId}:${first.seq}:${events[events.length - 1]!.seq}`]]];
  }

  /** Tells other processes (PostgreSQL NOTIFY, delivered at commit) that a turn was queued. */
  private announceQueued(): Statement[] {
    const { channels } = this.db;
    return channels ? [['SELECT pg_notify(?, ?)', [channels.queued, '']]] : [];
  }

  private async read(executor: SqlExecutor, id: string, userId?: string, lock = false): Promise<Task | undefined> {
    const row = await executor.get<TaskRow>(
      `SELECT ${TASK_COLUMNS} FROM tasks t JOIN users u ON u.id = t.user_id
        WHERE t.id = ?${userId === undefined ? '' : ' AND t.user_id = ?'}${lock ? this.forUpdate.replace('FOR UPDATE', 'FOR UPDATE OF t') : ''}`,
      userId === undefined ? [id] : [id, userId],
    );
    return row ? taskFromRow(row) : undefined;
  }
}

/**
 * The fenced turn's events as logged, numbered after `afterSeq`. Built field by field in the
 * order `eventFromRow` uses (a spread copy costs microseconds per event, and one shape for every
 * logged event keeps the code that reads them fast).
 */
function numbered(fence: TurnFence, events: readonly TaskEventBody[], afterSeq: number, now: string): LoggedEvent[] {
  return events.map((event, i) => ({ taskId: fence.taskId, seq: afterSeq + 1 + i, turn: fence.turn, type: event.type, data: event.data, createdAt: now }) as LoggedEvent);
}

/** The WHERE clause that holds while the fenced turn is still the writer's to write. */
function fenceClause(fence: TurnFence, table = ''): [string, SqlValue[]] {
  const params: SqlValue[] = [fence.taskId, fence.turn];
  let where = `${table}id = ? AND ${table}turn = ? AND ${table}status IN ${EXECUTING}`;
  if (fence.leaseOwner !== undefined) {
    where += ` AND ${table}lease_owner = ?`;
    params.push(fence.leaseOwner);
  }
  if (fence.leaseExpiredBefore !== undefined) {
    where += ` AND ${table}lease_expires_at < ?`;
    params.push(fence.leaseExpiredBefore);
  }
  return [where, params];
}

/** Model messages after the task's last one, in order, in one statement. */
function insertModelMessages(taskId: string, turn: number, messages: readonly unknown[]): Statement {
  const bodies = messages.map((_, i) => (i === 0 ? 'SELECT 1 AS i, ? AS body' : `SELECT ${i + 1}, ?`)).join(' UNION ALL ');
  return [
    `INSERT INTO model_messages (task_id, seq, turn, body)
     SELECT ?, prev.seq + b.i, ?, b.body FROM (SELECT COALESCE(MAX(seq), 0) AS seq FROM model_messages WHERE task_id = ?) prev, (${bodies}) b`,
    [taskId, turn, taskId, ...messages.map((message) => JSON.stringify(message))],
  ];
}

function insertEvents(events: readonly LoggedEvent[]): Statement[] {
  const statements: Statement[] = [];
  for (let start = 0; start < events.length; start += EVENT_BATCH) {
    const batch = events.slice(start, start + EVENT_BATCH);
    const params: SqlValue[] = [];
    for (const e of batch) params.push(e.taskId, e.seq, e.turn, e.type, JSON.stringify(e.data), e.createdAt);
    statements.push([`INSERT INTO events (task_id, seq, turn, type, data, created_at) VALUES ${batch.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`, params]);
  }
  return statements;
}

/** Whether the task is one the end user (when there is one) may see: a task of theirs in that app. */
function seenBy(task: Task, endUser: EndUserScope | undefined): boolean {
  return !endUser || (task.endUser?.appId === endUser.appId && task.endUser.endUserId === endUser.endUserId);
}

/** A model message as stored: its body is JSON text. */
interface ModelMessageStored {
  seq: number | string;
  turn: number | string;
  body: string;
}

function modelMessageFromRow(row: ModelMessageStored): ModelMessageRow {
  return { seq: Number(row.seq), turn: Number(row.turn), body: JSON.parse(row.body) };
}

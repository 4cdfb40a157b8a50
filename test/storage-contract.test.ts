import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PostgresDatabase } from '../src/adapters/postgres/postgres-database.js';
import { migrate } from '../src/adapters/sql/migrations.js';
import { openSqlStorage } from '../src/adapters/sql/sql-storage.js';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.js';
import type { TaskEventBody } from '../src/core/events/event-types.js';
import type { Task } from '../src/core/tasks/task-types.js';
import { turnEndings } from '../src/core/tasks/turn-endings.js';
import type { Database } from '../src/ports/database.js';
import { TurnLost, type Storage } from '../src/ports/storage.js';
import { tempDir } from './helpers/kiln-process.js';
import { TEST_DATABASE_URL, withSchema } from './helpers/postgres.js';
import { needs, postgres } from './helpers/requirements.js';

/**
 * One contract for the storage port, run against every backend: SQLite and PostgreSQL. Where
 * several processes matter (claims, migrations), PostgreSQL gets several connection pools.
 */
type Backend = 'sqlite' | 'postgres';

async function withStorage(backend: Backend, label: string, fn: (open: () => Promise<{ db: Database; storage: Storage }>) => Promise<void>): Promise<void> {
  const opened: Database[] = [];
  const run = async (openDb: () => Promise<Database>) => {
    try {
      await fn(async () => {
        const db = await openDb();
        opened.push(db);
        return { db, storage: await openSqlStorage(db) };
      });
    } finally {
      for (const db of opened) await db.close();
    }
  };
  if (backend === 'sqlite') {
    const file = path.join(tempDir(), 'kiln.db');
    return run(async () => new SqliteDatabase(file));
  }
  return withSchema(label, (schema) =>
    run(async () => {
      const db = new PostgresDatabase(TEST_DATABASE_URL, schema);
      await db.init();
      return db;
    }),
  );
}

function newTask(userId: string, username: string, overrides: Partial<Task> = {}): Task {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    userId,
    username,
    apiKeyId: null,
    sessionId: randomUUID(),
    conversationId: `${Date.now()}-abcdefghi`,
    status: 'pending',
    message: 'hello',
    systemPrompt: null,
    showInHistory: true,
    autoExecute: true,
    env: null,
    toolPolicy: null,
    model: null,
    agentId: randomUUID(),
    workflowId: null,
    phaseId: null,
    endUser: null,
    secretsHolder: null,
    error: null,
    createdAt: now,
    startedAt: null,
    completedAt: null,
    lastActivityAt: now,
    messageCount: 1,
    turn: 1,
    turnStartSeq: 0,
    lastEventSeq: 0,
    traceParent: null,
    maxTokens: null,
    maxDurationSeconds: null,
    ...overrides,
  };
}

async function seedTask(storage: Storage, name = 'alice', overrides: Partial<Task> = {}): Promise<Task> {
  const user = await storage.users.ensureUser(name, new Date().toISOString());
  const task = newTask(user.id, user.name, overrides);
  await storage.tasks.create(task, { seq: 1, turn: 1, role: 'user', content: task.message, createdAt: task.createdAt }, { role: 'user', content: task.message });
  return task;
}

const later = (ms: number) => new Date(Date.now() + ms).toISOString();
const content = (text: string): TaskEventBody => ({ type: 'content', data: { text, isPartial: true } });

// First in the file: the process names only its first statement shapes, and the contract below makes hundreds.
describe('prepared statements on postgres', needs(postgres), () => {
  it('runs a statement prepared before a column it returns changed type (a newer process migrated), unprepared from then on', () =>
    withStorage('postgres', 'plan change', async (open) => {
      const { db } = await open();
      await db.run('CREATE TABLE plan_change (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
      await db.run('INSERT INTO plan_change (id, n) VALUES (?, ?)', [1, 7]);
      const read = 'SELECT n FROM plan_change WHERE id = ?';
      assert.deepEqual(await db.get(read, [1]), { n: 7 });
      const preparedHere = await db.get<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = 'SELECT n FROM plan_change WHERE id = $1'");
      assert.equal(preparedHere!.n, 1, 'the read was prepared (this process had named fewer than its bound of statements)');
      // Statements outside transactions share one connection: the one that prepared the read.
      await db.run('ALTER TABLE plan_change ALTER COLUMN n TYPE TEXT');
      assert.deepEqual(await db.get(read, [1]), { n: '7' });
      assert.deepEqual(await db.get(read, [1]), { n: '7' }, 'and again');
    }));
});

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`storage contract on ${backend}`, backend === 'postgres' ? needs(postgres) : {}, () => {
    it('stores a task with its first message and shows it only to its user', () =>
      withStorage(backend, 'task visibility', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage, 'alice', { env: { A: 'b' }, toolPolicy: { run_command: 'ask' }, workflowId: 'wf' });
        const bob = await storage.users.ensureUser('bob', new Date().toISOString());
        const read = await storage.tasks.get(task.id, task.userId);
        assert.deepEqual(read, task);
        assert.equal(await storage.tasks.get(task.id, bob.id), undefined);
        assert.deepEqual((await storage.tasks.messages(task.id)).map((m) => [m.seq, m.role, m.content]), [[1, 'user', 'hello']]);
      }));

    it("lists a user's tasks by latest activity, with a total", () =>
      withStorage(backend, 'task listing', async (open) => {
        const { storage } = await open();
        const tasks: Task[] = [];
        for (let i = 0; i < 5; i++) tasks.push(await seedTask(storage, 'alice', { lastActivityAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
        await seedTask(storage, 'bob');
        const page = await storage.tasks.list(tasks[0]!.userId, 2, 1);
        assert.equal(page.total, 5);
        assert.deepEqual(page.tasks.map((t) => t.id), [tasks[3]!.id, tasks[2]!.id]);
        // Every page, including those read from the oldest end, is the right slice; equal times are ordered by id.
        for (let i = 0; i < 4; i++) tasks.push(await seedTask(storage, 'alice', { lastActivityAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 2)).toISOString() }));
        const order = [...tasks].sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt) || b.id.localeCompare(a.id)).map((t) => t.id);
        for (let limit = 1; limit <= 4; limit++) {
          for (let offset = 0; offset <= order.length + 1; offset++) {
            const slice = await storage.tasks.list(tasks[0]!.userId, limit, offset);
            assert.equal(slice.total, order.length);
            assert.deepEqual(slice.tasks.map((t) => t.id), order.slice(offset, offset + limit), `limit ${limit}, offset ${offset}`);
          }
        }
      }));

    it('numbers events per task, and refuses writes once the turn is not the writer\'s', () =>
      withStorage(backend, 'event fence', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        const claimed = await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        assert.equal(claimed?.task.id, task.id);
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        const first = await storage.tasks.appendEvents(fence, [content('a'), content('b')], new Date().toISOString());
        const second = await storage.tasks.appendEvents(fence, [content('c')], new Date().toISOString());
        assert.deepEqual([...first, ...second].map((e) => e.seq), [1, 2, 3]);
        assert.deepEqual((await storage.tasks.eventsAfter(task.id, 1, 10)).map((e) => e.seq), [2, 3]);
        await assert.rejects(storage.tasks.appendEvents({ ...fence, leaseOwner: 'w2' }, [content('x')], new Date().toISOString()), TurnLost);
        await assert.rejects(storage.tasks.appendEvents({ ...fence, turn: 2 }, [content('x')], new Date().toISOString()), TurnLost);
        assert.equal((await storage.tasks.getWithHistory(task.id, task.userId))?.lastEvent?.seq, 3, 'refused writes left nothing');
      }));

    it("appends events in one step after the writer's own last event, and as usual when that is not the last", () =>
      withStorage(backend, 'append from count', async (open) => {
        const { db, storage } = await open();
        const task = await seedTask(storage);
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        const transactions = { n: 0 };
        const transaction = db.transaction.bind(db);
        db.transaction = (fn) => {
          transactions.n++;
          return transaction(fn);
        };
        const first = await storage.tasks.appendEvents(fence, [content('a'), content('b')], new Date().toISOString(), 0);
        assert.deepEqual(first.map((e) => e.seq), [1, 2]);
        // PostgreSQL writes them as one statement; SQLite's one step is its transaction.
        assert.equal(transactions.n, backend === 'postgres' ? 0 : 1);
        const stale = await storage.tasks.appendEvents(fence, [content('c')], new Date().toISOString(), 1);
        assert.deepEqual(stale.map((e) => e.seq), [3], 'a stale count still numbers after the last event');
        await assert.rejects(storage.tasks.appendEvents({ ...fence, leaseOwner: 'w2' }, [content('x')], new Date().toISOString(), 3), TurnLost);
        const read = await storage.tasks.eventsAfter(task.id, 0, 10);
        assert.deepEqual(read.map((e) => [e.seq, (e.data as { text: string }).text]), [[1, 'a'], [2, 'b'], [3, 'c']]);
        assert.equal((await storage.tasks.get(task.id))!.lastEventSeq, 3);
      }));

    it('ends a turn exactly once when several try at once', () =>
      withStorage(backend, 'end once', async (open) => {
        const { storage } = await open();
        const other = backend === 'postgres' ? (await open()).storage : storage;
        const task = await seedTask(storage);
        const claimed = (await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString()))!.task;
        const attempts = await Promise.all([
          // The worker ends from its claimed copy (no read first); the cancels read and lock the row.
          storage.tasks.endTurn({ taskId: task.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, new Date().toISOString(), {}, claimed),
          other.tasks.endTurn({ taskId: task.id, turn: 1 }, turnEndings.cancelled, new Date().toISOString()),
          other.tasks.endTurn({ taskId: task.id, turn: 1 }, turnEndings.failed('x', 'TASK_FAILED'), new Date().toISOString()),
        ]);
        assert.equal(attempts.filter((a) => a !== undefined).length, 1);
        const events = await storage.tasks.eventsAfter(task.id, 0, 10);
        assert.equal(events.filter((e) => ['done', 'error', 'cancelled'].includes(e.type)).length, 1);
        const ended = (await storage.tasks.get(task.id))!;
        assert.ok(['completed', 'cancelled', 'failed'].includes(ended.status));
        assert.equal(ended.lastEventSeq, events[events.length - 1]!.seq);
      }));

    it("counts a user's tasks exactly when many are made at once, and refuses a task whole", () =>
      withStorage(backend, 'task counts', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open(), open()]) : [await open()];
        const { storage } = pools[0]!;
        const alice = await storage.users.ensureUser('alice', new Date().toISOString());
        const made = await Promise.all(Array.from({ length: 40 }, (_, i) => seedTask(pools[i % pools.length]!.storage, 'alice')));
        assert.equal((await storage.tasks.list(alice.id, 5, 0)).total, 40);
        // The same id again: the task row is refused, and nothing else of it is written either.
        const bob = await storage.users.ensureUser('bob', new Date().toISOString());
        await assert.rejects(seedTask(storage, 'bob', { id: made[0]!.id }));
        assert.equal((await storage.tasks.list(bob.id, 5, 0)).total, 0);
        assert.equal((await storage.tasks.recentModelMessages(made[0]!.id, null, 10)).length, 1);
      }));

    it('writes a burst of thousands of events at once, numbered without a gap', () =>
      withStorage(backend, 'event burst', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        // More parameters than one PostgreSQL statement takes (6 per event, 65,535 at most).
        const burst = Array.from({ length: 12_000 }, (_, i) => content(`delta ${i}`));
        const logged = await storage.tasks.appendEvents(fence, burst, new Date().toISOString());
        assert.equal(logged.at(-1)?.seq, 12_000);
        const read = await storage.tasks.eventsAfter(task.id, 11_990, 100);
        assert.deepEqual(
          read.map((e) => [e.seq, (e.data as { text: string }).text]),
          Array.from({ length: 10 }, (_, i) => [11_991 + i, `delta ${11_990 + i}`]),
        );
        assert.equal((await storage.tasks.get(task.id))!.lastEventSeq, 12_000);

        // The same burst carried to a turn's end, written from the worker's copy of the task.
        const quick = await seedTask(storage);
        const claimed = (await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString()))!.task;
        const ended = await storage.tasks.endTurn({ taskId: quick.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, new Date().toISOString(), { events: burst }, claimed);
        assert.equal(ended?.at(-1)?.seq, 12_001);
        assert.equal((await storage.tasks.eventsAfter(quick.id, 11_999, 10)).map((e) => e.type).join(), 'content,done');
        assert.equal((await storage.tasks.get(quick.id))!.status, 'completed');
      }));

    it('writes the last events and model messages of a turn with its end, and none of them when the turn was lost', () =>
      withStorage(backend, 'end carries', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        const carried = {
          events: [{ type: 'content' as const, data: { text: 'Echo: hi', isPartial: false } }],
          modelMessages: [
            { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'list_files', input: {} }] },
            { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c1', toolName: 'list_files', output: { type: 'text', value: '' } }] },
            { role: 'assistant', content: 'Echo: hi' },
          ],
        };
        assert.equal(await storage.tasks.endTurn({ taskId: task.id, turn: 1, leaseOwner: 'w2' }, turnEndings.completed, new Date().toISOString(), carried), undefined);
        assert.equal((await storage.tasks.recentModelMessages(task.id, null, 10)).length, 1, 'a lost turn writes nothing it carried');
        const logged = await storage.tasks.endTurn({ taskId: task.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, new Date().toISOString(), carried);
        assert.deepEqual(logged?.map((e) => [e.seq, e.type]), [[1, 'content'], [2, 'done']]);
        assert.deepEqual((await storage.tasks.eventsAfter(task.id, 0, 10)).map((e) => e.type), ['content', 'done']);
        assert.equal((await storage.tasks.messages(task.id)).at(-1)?.content, 'Echo: hi', 'the answer is folded from the carried events');
        assert.deepEqual(
          (await storage.tasks.recentModelMessages(task.id, null, 10)).map((m) => m.body).reverse(),
          [{ role: 'user', content: task.message }, ...carried.modelMessages],
          'every carried model message, in order',
        );
        assert.equal((await storage.tasks.get(task.id))!.lastEventSeq, 2);
      }));

    it("ends a turn from the worker's copy of the task only while that copy is current", () =>
      withStorage(backend, 'end from copy', async (open) => {
        const { storage } = await open();
        const now = () => new Date().toISOString();
        const carried = { events: [content('Echo: hi')], modelMessages: [{ role: 'assistant', content: 'Echo: hi' }] };
        const quick = await seedTask(storage);
        const claimed = (await storage.tasks.claimNext('w1', later(30_000), now()))!.task;
        assert.equal(claimed.id, quick.id);
        assert.equal(await storage.tasks.endTurn({ taskId: quick.id, turn: 1, leaseOwner: 'w2' }, turnEndings.completed, now(), carried, claimed), undefined);
        assert.equal((await storage.tasks.getWithHistory(quick.id, quick.userId))?.lastEvent, undefined, 'a lost turn writes nothing');
        assert.equal((await storage.tasks.recentModelMessages(quick.id, null, 10)).length, 1);
        const logged = await storage.tasks.endTurn({ taskId: quick.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, now(), carried, claimed);
        assert.deepEqual(logged?.map((e) => [e.seq, e.type]), [[1, 'content'], [2, 'done']]);
        const ended = (await storage.tasks.get(quick.id))!;
        assert.deepEqual([ended.status, ended.lastEventSeq, ended.messageCount], ['completed', 2, 2]);
        assert.equal((await storage.tasks.recentModelMessages(quick.id, null, 10)).length, 2);

        // A copy kept up to date with the events the worker logged: those are read, the row is not.
        const logging = await seedTask(storage);
        const claimedToo = (await storage.tasks.claimNext('w1', later(30_000), now()))!.task;
        const logged1 = await storage.tasks.appendEvents({ taskId: logging.id, turn: 1, leaseOwner: 'w1' }, [content('Echo: ')], now());
        // The copy's message count is off on purpose: the assistant message numbered from it shows the row was not read.
        const copyOfRow = { ...claimedToo, lastEventSeq: logged1.at(-1)!.seq, messageCount: 7 };
        const fromCopy = await storage.tasks.endTurn({ taskId: logging.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, now(), { events: [content('there')] }, copyOfRow);
        assert.deepEqual(fromCopy?.map((e) => [e.seq, e.type]), [[2, 'content'], [3, 'done']]);
        assert.equal((fromCopy?.at(-1)?.data as { finalResponse: string }).finalResponse, 'Echo: there', 'the logged event counts in the answer');
        assert.deepEqual((await storage.tasks.messages(logging.id)).map((m) => [m.seq, m.role]), [[1, 'user'], [8, 'assistant']], 'ended from the copy');

        // The copy went stale (the turn logged an event it does not know of): the end reads the row and the log.
        const longer = await seedTask(storage);
        const copy = (await storage.tasks.claimNext('w1', later(30_000), now()))!.task;
        const fence = { taskId: longer.id, turn: 1, leaseOwner: 'w1' };
        await storage.tasks.appendEvents(fence, [content('Echo: ')], now());
        const end = await storage.tasks.endTurn(fence, turnEndings.completed, now(), { events: [content('there')] }, { ...copy, messageCount: 7 });
        assert.deepEqual(end?.map((e) => [e.seq, e.type]), [[2, 'content'], [3, 'done']]);
        assert.equal((end?.at(-1)?.data as { finalResponse: string }).finalResponse, 'Echo: there', 'the logged event counts in the answer');
        assert.deepEqual((await storage.tasks.messages(longer.id)).map((m) => [m.seq, m.role]), [[1, 'user'], [2, 'assistant']], 'ended from the row read again');
        assert.equal((await storage.tasks.get(longer.id))!.lastEventSeq, 3);
      }));

    it('answers statements of many shapes (PostgreSQL prepares a bounded number of them)', () =>
      withStorage(backend, 'many shapes', async (open) => {
        const { db, storage } = await open();
        const task = await seedTask(storage);
        // One text per list length: 300 shapes of at most 200 parameters (the most a prepared one takes), past the number kept.
        const ids = (n: number) => [task.id, ...Array.from({ length: n - 1 }, (_, i) => `missing-${i}`)];
        for (let n = 1; n <= 200; n++) assert.deepEqual([...(await storage.tasks.lastEventSeqs(ids(n)))], [[task.id, 0]]);
        for (let n = 1; n <= 100; n++) await storage.tasks.renewLeases('nobody', ids(n), later(30_000));
        assert.equal((await storage.tasks.get(task.id))!.status, 'pending', 'no lease was touched');
        if (backend === 'postgres') {
          // One after another, the statements ran on the pool's most recently used connection, which answers this too.
          const prepared = await db.get<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'kiln\\_%'");
          assert.ok(prepared!.n > 0 && prepared!.n <= 256, `${prepared!.n} statements prepared on one connection`);
        }
      }));

    it('gives each queued task to exactly one of many concurrent claimers', () =>
      withStorage(backend, 'claims', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open(), open()]) : [await open()];
        const { storage } = pools[0]!;
        for (let i = 0; i < 12; i++) await seedTask(storage);
        const claims = await Promise.all(
          Array.from({ length: 24 }, (_, i) => pools[i % pools.length]!.storage.tasks.claimNext(`w${i}`, later(30_000), new Date().toISOString())),
        );
        const ids = claims.filter((c) => c !== undefined).map((c) => c.task.id);
        assert.equal(ids.length, 12);
        assert.equal(new Set(ids).size, 12, 'no task was claimed twice');
        assert.ok(claims.every((c) => c === undefined || c.task.status === 'running'));
      }));

    it("reads a task with its messages, last event and the executing turn's events in one go, as the separate reads give them, for its owner only", () =>
      withStorage(backend, 'task with history', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage, 'alice', { endUser: { appId: 'app-1', endUserId: 'visitor-1' } });
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        await storage.tasks.appendEvents(fence, [content('Echo: '), { type: 'thought', data: { subject: 'Quoting', description: 'a "quoted" \\ ünïcode thought' } }], new Date().toISOString());
        const running = await storage.tasks.getWithHistory(task.id, task.userId, undefined, 1);
        assert.deepEqual(running?.turnEvents, await storage.tasks.eventsAfter(task.id, 0, 1), 'the first events of the executing turn, as many as asked for');
        assert.deepEqual((await storage.tasks.getWithHistory(task.id, task.userId, undefined, 10))?.turnEvents.length, 2);
        assert.deepEqual((await storage.tasks.getWithHistory(task.id, task.userId))?.turnEvents, [], 'none unless asked for');
        await storage.tasks.endTurn(fence, turnEndings.completed, new Date().toISOString(), { events: [content('hi')] });
        const read = await storage.tasks.getWithHistory(task.id, task.userId, undefined, 10);
        const events = await storage.tasks.eventsAfter(task.id, 0, 100);
        assert.deepEqual(read, { task: await storage.tasks.get(task.id), messages: await storage.tasks.messages(task.id), lastEvent: events.at(-1), turnEvents: [] }, 'an ended turn has no executing events');
        assert.deepEqual(read.messages.map((m) => m.role), ['user', 'assistant']);
        assert.equal(read.messages[1]!.thoughts?.[0]?.description, 'a "quoted" \\ ünïcode thought', 'a JSON column inside the JSON comes back as stored');
        assert.equal(read.lastEvent?.type, 'done');

        assert.equal(await storage.tasks.getWithHistory(task.id, 'someone-else'), undefined);
        assert.equal((await storage.tasks.getWithHistory(task.id, task.userId, { appId: 'app-1', endUserId: 'visitor-1' }))?.task.id, task.id);
        assert.equal(await storage.tasks.getWithHistory(task.id, task.userId, { appId: 'app-1', endUserId: 'visitor-2' }), undefined);
        const fresh = await seedTask(storage);
        assert.deepEqual(await storage.tasks.getWithHistory(fresh.id, fresh.userId), { task: await storage.tasks.get(fresh.id), messages: await storage.tasks.messages(fresh.id), lastEvent: undefined, turnEvents: [] });
      }));

    it("hands out a claimed turn with its agent as last updated, and no other user's agent", () =>
      withStorage(backend, 'claimed agent', async (open) => {
        const { storage } = await open();
        const user = await storage.users.ensureUser('alice', new Date().toISOString());
        const agent = await storage.agents.ensureDefault(user.id, new Date().toISOString());
        const updated = {
          ...agent,
          systemPrompt: 'Answer in French.',
          model: 'openai:gpt-5-mini',
          toolPolicy: { run_command: 'ask' as const },
          autoExecute: true,
          mcpServers: { docs: { type: 'http' as const, url: 'https://mcp.example/mcp', enabled: true } },
          maxTokens: 5000,
          maxDurationSeconds: null,
          retentionDays: 7,
          updatedAt: new Date().toISOString(),
          revision: agent.revision + 1,
        };
        await storage.agents.update(updated);
        const task = await seedTask(storage, 'alice', { agentId: agent.id });
        const claimed = await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        assert.equal(claimed?.task.id, task.id);
        assert.deepEqual(claimed.agent, updated);

        const bob = await storage.users.ensureUser('bob', new Date().toISOString());
        const borrowed = await seedTask(storage, 'bob', { agentId: agent.id });
        const refused = await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        assert.equal(refused?.task.id, borrowed.id);
        assert.equal(refused.task.userId, bob.id);
        assert.equal(refused.agent, undefined);
      }));

    it('hands out a first turn with its whole conversation, and a later turn without', () =>
      withStorage(backend, 'claimed conversation', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        const first = await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        assert.equal(first?.task.id, task.id);
        assert.deepEqual(first.conversation, await storage.tasks.recentModelMessages(task.id, null, 10));
        assert.deepEqual(first.conversation, [{ seq: 1, turn: 1, body: { role: 'user', content: task.message } }]);
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        await storage.tasks.appendModelMessages(fence, [{ role: 'assistant', content: 'answer' }]);
        await storage.tasks.endTurn(fence, turnEndings.completed, new Date().toISOString());
        const message = { role: 'user' as const, content: 'again', createdAt: new Date().toISOString() };
        assert.ok(await storage.tasks.startFollowUp(task.id, task.userId, message, message.createdAt, null, { role: 'user', content: 'again' }));
        const second = await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        assert.equal(second?.task.turn, 2);
        assert.equal(second.conversation, undefined, 'three messages: read a page at a time');
      }));

    it('stores a task made from a remembered agent only while the agent is at that revision', () =>
      withStorage(backend, 'agent revision', async (open) => {
        const { storage, db } = await open();
        const user = await storage.users.ensureUser('alice', new Date().toISOString());
        const agent = await storage.agents.ensureDefault(user.id, new Date().toISOString());
        assert.equal(agent.revision, 1);
        const make = (revision: number) => {
          const task = newTask(user.id, user.name, { agentId: agent.id });
          const stored = storage.tasks.create(task, { seq: 1, turn: 1, role: 'user', content: task.message, createdAt: task.createdAt }, { role: 'user', content: task.message }, revision);
          return { task, stored };
        };
        const current = make(1);
        assert.equal(await current.stored, true);
        await storage.agents.update({ ...agent, autoExecute: false, updatedAt: agent.updatedAt });
        assert.equal((await storage.agents.get(user.id, agent.id))?.revision, 2, 'a change counts, even within the same millisecond');
        const stale = make(1);
        assert.equal(await stale.stored, false);
        assert.equal(await storage.tasks.get(stale.task.id), undefined, 'nothing of it was written');
        assert.deepEqual(await storage.tasks.messages(stale.task.id), []);
        assert.equal((await storage.tasks.list(user.id, 10, 0)).total, 1, 'nor counted');
        assert.equal(await make(2).stored, true);
        // A process of an earlier version changes agents without knowing of revisions.
        await db.run('UPDATE agents SET auto_execute = 1 WHERE id = ?', [agent.id]);
        assert.equal((await storage.agents.get(user.id, agent.id))?.revision, 3, 'the database counts every change');
        assert.equal(await make(2).stored, false);
      }));

    it('serves users fairly: the user with the fewest running turns first, and at most the limit per user', () =>
      withStorage(backend, 'fair claims', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open()]) : [await open()];
        const { storage } = pools[0]!;
        const at = (second: number) => ({ createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString() });
        const alice: Task[] = [];
        for (let i = 0; i < 6; i++) alice.push(await seedTask(storage, 'alice', at(i)));
        const bob = await seedTask(storage, 'bob', at(10));
        const carol = await seedTask(storage, 'carol', at(11));
        const claim = async (owner: string, pool = 0) => (await pools[pool]!.storage.tasks.claimNext(owner, later(30_000), new Date().toISOString(), 2))?.task;
        const order: (string | undefined)[] = [];
        for (let i = 0; i < 5; i++) order.push((await claim('w1'))?.id);
        // alice's oldest; then bob and carol (none running) before alice's second; then alice is at the limit.
        assert.deepEqual(order, [alice[0]!.id, bob.id, carol.id, alice[1]!.id, undefined]);
        assert.equal((await claim('w2', pools.length - 1))?.id, alice[2]!.id, 'the limit counts the turns one owner holds');
        await storage.tasks.endTurn({ taskId: alice[0]!.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, new Date().toISOString());
        assert.equal((await claim('w1'))?.id, alice[3]!.id, 'a finished turn frees its place; the queue keeps its order');
        assert.equal(await claim('w1'), undefined);
      }));

    it('finds turns whose lease ran out, and only those', () =>
      withStorage(backend, 'leases', async (open) => {
        const { storage } = await open();
        const dead = await seedTask(storage);
        await storage.tasks.claimNext('dead-worker', later(-1000), new Date().toISOString());
        const alive = await seedTask(storage);
        await storage.tasks.claimNext('live-worker', later(60_000), new Date().toISOString());
        const abandoned = await storage.tasks.abandonedTurns(new Date().toISOString());
        assert.deepEqual(abandoned.map((a) => [a.task.id, a.leaseOwner]), [[dead.id, 'dead-worker']]);
        await storage.tasks.renewLeases('live-worker', [alive.id], later(-1));
        assert.equal((await storage.tasks.abandonedTurns(new Date().toISOString())).length, 2);
        const fence = { taskId: dead.id, turn: 1, leaseOwner: 'dead-worker', leaseExpiredBefore: new Date().toISOString() };
        assert.ok(await storage.tasks.endTurn(fence, turnEndings.failed('gone', 'INTERRUPTED'), new Date().toISOString()));
      }));

    it('hands a turn back to the queue only for the worker holding it, and counts tasks and the queue', () =>
      withStorage(backend, 'hand back', async (open) => {
        const { storage } = await open();
        const first = await seedTask(storage);
        const second = await seedTask(storage);
        assert.deepEqual(await storage.tasks.queueStats(), { depth: 2, oldestQueuedAt: [first.createdAt, second.createdAt].sort()[0] });
        const claimed = (await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString()))!.task;
        assert.equal((await storage.tasks.queueStats()).depth, 1);
        assert.deepEqual(await storage.tasks.statusCounts(), { pending: 1, running: 1 });

        assert.equal(await storage.tasks.releaseTurn({ taskId: claimed.id, turn: 1, leaseOwner: 'someone-else' }, new Date().toISOString()), false);
        assert.equal(await storage.tasks.releaseTurn({ taskId: claimed.id, turn: 1, leaseOwner: 'w1' }, new Date().toISOString()), true);
        assert.equal((await storage.tasks.queueStats()).depth, 2);
        assert.deepEqual(await storage.tasks.abandonedTurns(null), [], 'a handed-back turn is not abandoned');
        const again = await Promise.all([storage.tasks.claimNext('w2', later(30_000), new Date().toISOString()), storage.tasks.claimNext('w3', later(30_000), new Date().toISOString())]);
        assert.deepEqual(again.map((c) => c!.task.id).sort(), [first.id, second.id].sort(), 'another worker takes it up');
        assert.equal(again.find((c) => c!.task.id === claimed.id)!.task.turn, 1);
      }));

    it('opens a follow-up turn only on an idle task, and parks and resumes turns', () =>
      withStorage(backend, 'turns', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        const message = { role: 'user' as const, content: 'again', createdAt: new Date().toISOString() };
        assert.equal(await storage.tasks.startFollowUp(task.id, task.userId, message, message.createdAt, null, { role: 'user', content: 'again' }), 'busy');
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        const fence = { taskId: task.id, turn: 1, leaseOwner: 'w1' };
        const parked = await storage.tasks.amendTurn(fence, () => ({ events: [{ type: 'status', data: { status: 'awaiting_approval' } }], status: 'awaiting_approval', result: 'parked' }), new Date().toISOString());
        assert.equal(parked?.result, 'parked');
        assert.equal((await storage.tasks.get(task.id))!.status, 'awaiting_approval');
        assert.equal(await storage.tasks.claimNext('w2', later(30_000), new Date().toISOString()), undefined, 'a parked turn is not queued');
        await storage.tasks.amendTurn({ taskId: task.id, turn: 1 }, () => ({ events: [], status: 'running', result: null }), new Date().toISOString());
        assert.equal((await storage.tasks.claimNext('w2', later(30_000), new Date().toISOString()))?.task.id, task.id, 'resumed turns go back in the queue');
        await storage.tasks.endTurn({ taskId: task.id, turn: 1, leaseOwner: 'w2' }, turnEndings.completed, new Date().toISOString());
        const opened = await storage.tasks.startFollowUp(task.id, task.userId, message, message.createdAt, null, { role: 'user', content: 'again' });
        assert.ok(opened && opened !== 'busy');
        assert.deepEqual([opened.turn, opened.status, opened.messageCount], [2, 'running', 2]);
        assert.deepEqual(opened, await storage.tasks.get(task.id), 'the follow-up answers the task as stored');
        await storage.tasks.appendModelMessages({ taskId: task.id, turn: 2 }, [{ role: 'assistant', content: 'answer' }]);
        assert.deepEqual(await storage.tasks.recentModelMessages(task.id, null, 10), [
          { seq: 3, turn: 2, body: { role: 'assistant', content: 'answer' } },
          { seq: 2, turn: 2, body: { role: 'user', content: 'again' } },
          { seq: 1, turn: 1, body: { role: 'user', content: task.message } },
        ]);
        assert.deepEqual(await storage.tasks.recentModelMessages(task.id, 3, 1), [{ seq: 2, turn: 2, body: { role: 'user', content: 'again' } }], 'read a page at a time, newest first');
      }));

    it('records artifact versions, skipping unchanged content, and pages them by keyset', () =>
      withStorage(backend, 'artifacts', async (open) => {
        const { storage } = await open();
        const task = await seedTask(storage);
        const at = new Date().toISOString();
        const record = (file: string, sha: string) =>
          storage.artifacts.recordVersion(
            {
              taskId: task.id,
              path: file,
              create: { userId: task.userId, agentId: task.agentId, name: file, title: file, artifactType: 'text', workflowId: null, phaseId: null, isPrimaryDeliverable: false, metadata: {} },
              version: { size: 1, mediaType: 'text/plain', sha256: sha.repeat(64), taskId: task.id, turn: 1, userId: task.userId, agentId: task.agentId, source: 'command', derivedFrom: [] },
            },
            at,
          );
        assert.equal((await record('a.txt', 'a')).created, true);
        assert.equal((await record('a.txt', 'a')).created, false, 'same content, no version');
        assert.equal((await record('a.txt', 'b')).artifact.latest.number, 2);
        for (const name of ['c', 'd', 'e', 'f']) await record(`${name}.txt`, name);
        assert.equal(await storage.artifacts.isBlobReferenced('b'.repeat(64)), true);
        const seen: string[] = [];
        let after: { createdAt: string; versionId: string } | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await storage.artifacts.listVersions({ userId: task.userId, agentId: task.agentId, order: 'newest', limit: 2, ...(after ? { after } : {}) });
          if (rows.length === 0) break;
          seen.push(...rows.map((r) => r.version.id));
          const last = rows[rows.length - 1]!.version;
          after = { createdAt: last.createdAt, versionId: last.id };
        }
        assert.equal(seen.length, 6, 'six versions, all at one timestamp');
        assert.equal(new Set(seen).size, 6);
        await storage.artifacts.markDeleted(task.id, ['c.txt'], at);
        assert.deepEqual((await storage.artifacts.listForTask(task.id)).map((a) => a.path), ['a.txt', 'd.txt', 'e.txt', 'f.txt']);
      }));

    it('numbers the versions of one artifact written at once, from several processes, without gaps or clashes', () =>
      withStorage(backend, 'artifact versions at once', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open(), open()]) : [await open()];
        const { storage } = pools[0]!;
        const task = await seedTask(storage);
        const at = new Date().toISOString();
        const create = { userId: task.userId, agentId: task.agentId, name: 'a.txt', title: 'a.txt', artifactType: 'text', workflowId: null, phaseId: null, isPrimaryDeliverable: false, metadata: {} };
        const version = (i: number) => ({ size: 1, mediaType: 'text/plain', sha256: i.toString(16).padStart(64, '0'), taskId: task.id, turn: 1, userId: task.userId, agentId: task.agentId, source: 'api' as const, derivedFrom: [] });
        const first = await storage.artifacts.recordVersion({ taskId: task.id, path: 'a.txt', create, version: version(0) }, at);
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => pools[i % pools.length]!.storage.artifacts.recordVersion({ artifactId: first.artifact.id, taskId: task.id, path: 'a.txt', create, version: version(i + 1) }, at)),
        );
        assert.deepEqual(results.map((r) => r.artifact.latest.number).sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i + 2));
        assert.equal((await storage.artifacts.get(task.userId, first.artifact.id))?.latest.number, 13);
        // A path that has no artifact yet: one artifact, its versions numbered 1 to 6.
        const byPath = await Promise.all(
          Array.from({ length: 6 }, (_, i) => pools[i % pools.length]!.storage.artifacts.recordVersion({ taskId: task.id, path: 'b.txt', create, version: version(100 + i) }, at)),
        );
        assert.equal(new Set(byPath.map((r) => r.artifact.id)).size, 1, 'one artifact');
        assert.deepEqual(byPath.map((r) => r.artifact.latest.number).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6]);
      }));

    it('makes one default agent per user even when asked for it at once', () =>
      withStorage(backend, 'default agent', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open()]) : [await open()];
        const user = await pools[0]!.storage.users.ensureUser('carol', new Date().toISOString());
        const agents = await Promise.all(Array.from({ length: 6 }, (_, i) => pools[i % pools.length]!.storage.agents.ensureDefault(user.id, new Date().toISOString())));
        assert.equal(new Set(agents.map((a) => a.id)).size, 1);
      }));

    it('keeps API keys with their names and admin flag, refuses revoked ones, and records use only when stale', () =>
      withStorage(backend, 'api keys', async (open) => {
        const { storage } = await open();
        const other = backend === 'postgres' ? (await open()).storage : storage;
        const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
        const alice = await storage.users.ensureUser('alice', at(0));
        const bob = await storage.users.ensureUser('bob', at(1));
        const key = (id: string, userId: string, admin: boolean, s: number) =>
          storage.users.insertKey({ id, userId, hash: id.padEnd(64, '0'), name: `label ${id}`, admin, source: 'api', now: at(s) });
        await key('a1', alice.id, true, 2);
        await key('a2', alice.id, false, 3);
        await key('b1', bob.id, false, 4);

        assert.deepEqual(await other.users.findKey('a1'.padEnd(64, '0')), { apiKeyId: 'a1', userId: alice.id, username: 'alice', admin: true, lastUsedAt: null });
        assert.deepEqual((await storage.users.listKeys(alice.id)).map((k) => [k.id, k.name, k.admin, k.createdAt]), [
          ['a1', 'label a1', true, at(2)],
          ['a2', 'label a2', false, at(3)],
        ]);
        assert.deepEqual((await storage.users.listKeys(null)).map((k) => k.id), ['a1', 'a2', 'b1']);
        assert.deepEqual(await storage.users.findUser(bob.id), bob);
        assert.deepEqual(await storage.users.findUser('bob'), bob);
        assert.equal(await storage.users.findUser('nobody'), undefined);

        await storage.users.touchKey('a2', at(10), at(9));
        await storage.users.touchKey('a2', at(20), at(9));
        assert.equal((await storage.users.findKey('a2'.padEnd(64, '0')))?.lastUsedAt, at(10), 'a recent use is not written again');
        await storage.users.touchKey('a2', at(30), at(11));
        assert.equal((await storage.users.findKey('a2'.padEnd(64, '0')))?.lastUsedAt, at(30));

        assert.equal(await storage.users.revokeKey('b1', alice.id, at(40)), false, "not alice's key");
        assert.equal(await storage.users.revokeKey('b1', null, at(40)), true);
        assert.equal(await storage.users.revokeKey('b1', null, at(41)), false, 'already revoked');
        assert.equal(await other.users.findKey('b1'.padEnd(64, '0')), undefined, 'another connection refuses it at once');
        assert.deepEqual(await storage.users.listKeys(bob.id), []);
        assert.deepEqual((await storage.users.listUsers()).map((u) => [u.name, u.keyCount, u.createdAt]), [
          ['alice', 2, at(0)],
          ['bob', 0, at(1)],
        ]);

        const env = 'e'.repeat(64);
        assert.deepEqual(await storage.users.replaceEnvKey(env, bob.id, at(50)), { revoked: false });
        const envKey = (await storage.users.findKey(env))!;
        assert.equal(envKey.admin, true, 'the environment key is an admin key');
        await storage.users.revokeKey(envKey.apiKeyId, null, at(51));
        assert.deepEqual(await storage.users.replaceEnvKey(env, bob.id, at(52)), { revoked: true }, 'the same value stays revoked');
        assert.equal(await storage.users.findKey(env), undefined);
        assert.deepEqual(await storage.users.replaceEnvKey('f'.repeat(64), bob.id, at(53)), { revoked: false }, 'a new value replaces it');
        assert.ok(await storage.users.findKey('f'.repeat(64)));
      }));

    it("keeps an agent's MCP servers as given, and clears them", () =>
      withStorage(backend, 'agent mcp servers', async (open) => {
        const { storage } = await open();
        const user = await storage.users.ensureUser('dana', new Date().toISOString());
        const agent = await storage.agents.ensureDefault(user.id, new Date().toISOString());
        assert.equal(agent.mcpServers, null);
        const mcpServers = {
          docs: { type: 'http' as const, url: 'https://{{mcp.HOST}}/mcp', headers: { Authorization: 'Bearer {{mcp.TOKEN}}' }, enabled: true, tools: { deny: ['drop'] } },
          local: { type: 'stdio' as const, command: 'node', args: ['s.mjs'], env: { K: '{{mcp.K}}' }, cwd: 'uploads', enabled: false, timeout: 5000 },
        };
        await storage.agents.update({ ...agent, mcpServers, updatedAt: new Date().toISOString() });
        assert.deepEqual((await storage.agents.get(user.id, agent.id))?.mcpServers, mcpServers);
        await storage.agents.update({ ...agent, mcpServers: null, updatedAt: new Date().toISOString() });
        assert.equal((await storage.agents.get(user.id, agent.id))?.mcpServers, null);
      }));

    it('migrates once when several processes start together', () =>
      withStorage(backend, 'migrations', async (open) => {
        const pools = backend === 'postgres' ? await Promise.all([open(), open(), open()]) : [await open()];
        await Promise.all(pools.map(({ db }) => migrate(db)));
        const rows = await pools[0]!.db.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        const versions = rows.map((r) => Number(r.version));
        assert.ok(versions.length >= 14, `every migration applied (${versions.join(', ')})`);
        assert.deepEqual(versions, versions.map((_, i) => i + 1), 'each migration once, in order');
      }));
  });
}

describe('the shared connection on postgres', needs(postgres), () => {
  it('answers statements sent while an earlier one waits for a lock, and runs that one once the lock is let go', () =>
    withStorage('postgres', 'shared connection stall', async (open) => {
      const { db } = await open();
      await db.run('CREATE TABLE stall (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
      await db.run('INSERT INTO stall (id, n) VALUES (?, ?)', [1, 0]);
      let locked!: () => void;
      const lockHeld = new Promise<void>((resolve) => (locked = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const holder = db.transaction(async (tx) => {
        await tx.run('UPDATE stall SET n = n + 1 WHERE id = ?', [1]);
        locked();
        await released;
      });
      await lockHeld;
      const waiting = db.run('UPDATE stall SET n = n + 10 WHERE id = ?', [1]);
      let answer: unknown;
      try {
        await sleep(100);
        answer = await Promise.race([db.get<{ one: number }>('SELECT 1 AS one'), sleep(3000).then(() => 'held up')]);
      } finally {
        release();
        await holder;
      }
      assert.deepEqual(answer, { one: 1 }, 'a statement sent while another waits for a lock is answered');
      assert.deepEqual(await waiting, { changes: 1 });
      assert.deepEqual(await db.get('SELECT n FROM stall WHERE id = ?', [1]), { n: 11 });
    }));

  it('fails a statement alone: those sent with it are answered', () =>
    withStorage('postgres', 'shared connection failure', async (open) => {
      const { db } = await open();
      await db.run('CREATE TABLE alone (id INTEGER PRIMARY KEY)');
      await db.run('INSERT INTO alone (id) VALUES (?)', [1]);
      const results = await Promise.allSettled([
        db.run('INSERT INTO alone (id) VALUES (?)', [2]),
        db.run('INSERT INTO alone (id) VALUES (?)', [1]),
        db.get<{ n: number }>('SELECT COUNT(*)::int AS n FROM alone'),
        db.run('INSERT INTO alone (id) VALUES (?)', [3]),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.match(String((results[1] as PromiseRejectedResult).reason), /duplicate key/);
      assert.deepEqual((await db.all<{ id: number }>('SELECT id FROM alone ORDER BY id')).map((r) => r.id), [1, 2, 3]);
    }));

  it('opens a new connection when its server process ends', () =>
    withStorage('postgres', 'shared connection restart', async (open) => {
      const { db } = await open();
      const before = (await db.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!.pid;
      assert.deepEqual(await db.scans.get('SELECT pg_terminate_backend(?) AS ended', [before]), { ended: true });
      // A statement sent before the client has read of the end fails with it; the next ones get a new connection.
      let after: number | undefined;
      for (let attempt = 0; attempt < 20 && after === undefined; attempt++) {
        after = await db.get<{ pid: number }>('SELECT pg_backend_pid() AS pid').then((row) => row!.pid, () => sleep(50).then(() => undefined));
      }
      assert.ok(after !== undefined, 'statements are answered again');
      assert.notEqual(after, before, 'on a new server process');
    }));
});

describe('task store notifications on postgres', needs(postgres), () => {
  it("tells other processes of a queued task or follow-up with the write that stores it, of nothing refused, and nothing to another schema's installation", () =>
    withStorage('postgres', 'queued notifications', async (open) => {
      const { db } = await open();
      const { storage } = await open();
      const listening = await (db as PostgresDatabase).listener();
      const queued = db.channels!.queued;
      assert.match(queued, /^kiln_queued_[0-9a-f]{12}$/, 'an installation in a schema has channels of its own');
      const heard: string[] = [];
      listening.on('notification', (message) => heard.push(`${message.channel === queued ? 'queued' : message.channel}:${message.payload ?? ''}`));
      try {
        await listening.query(`LISTEN ${queued}`);
        // A notification sent with a write arrives after its commit; a round trip on the listening connection lets it in.
        const heardNow = async () => {
          await listening.query('SELECT 1');
          return heard.splice(0);
        };
        const task = await seedTask(storage);
        assert.deepEqual(await heardNow(), ['queued:'], 'a new task');
        await withStorage('postgres', 'queued notifications elsewhere', async (openElsewhere) => {
          const elsewhere = await openElsewhere();
          assert.notEqual(elsewhere.db.channels!.queued, queued);
          await seedTask(elsewhere.storage);
        });
        assert.deepEqual(await heardNow(), [], "another schema's new task");
        await assert.rejects(seedTask(storage, 'alice', { id: task.id }));
        const message = { role: 'user' as const, content: 'again', createdAt: new Date().toISOString() };
        assert.equal(await storage.tasks.startFollowUp(task.id, task.userId, message, message.createdAt, null, { role: 'user', content: 'again' }), 'busy');
        assert.deepEqual(await heardNow(), [], 'a refused task and a refused follow-up');
        await storage.tasks.claimNext('w1', later(30_000), new Date().toISOString());
        await storage.tasks.endTurn({ taskId: task.id, turn: 1, leaseOwner: 'w1' }, turnEndings.completed, new Date().toISOString());
        assert.ok(await storage.tasks.startFollowUp(task.id, task.userId, message, message.createdAt, null, { role: 'user', content: 'again' }));
        assert.deepEqual(await heardNow(), ['queued:'], 'a follow-up');
      } finally {
        listening.release(true);
      }
    }));
});

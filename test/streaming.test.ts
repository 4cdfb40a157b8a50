import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api, type SseEvent } from './helpers/api.js';
import { startKiln, type KilnServer } from './helpers/kiln-process.js';

/** A script of `steps` commands with pauses, so a turn lasts long enough to be interrupted. */
function slowScript(steps: number, pauseMs: number): string {
  const lines: string[] = [];
  for (let i = 1; i <= steps; i++) lines.push(`think step ${i}`, `sleep ${pauseMs}`, `$ echo line-${i}`);
  return lines.join('\n');
}

function ids(events: SseEvent[]): number[] {
  return events.filter((e) => e.id !== undefined).map((e) => e.id!);
}

function assertExactlyOnce(received: number[], all: number[]): void {
  assert.deepEqual(received, all, 'every logged event arrived once, in order');
  assert.equal(new Set(received).size, received.length, 'no duplicates');
}

describe('streaming', () => {
  let kiln: KilnServer;
  let api: Api;
  before(async () => {
    kiln = await startKiln({ env: { KILN_HEARTBEAT_MS: '150' } });
    api = Api.of(kiln);
  });
  after(() => kiln.stop());

  it('writes each event as an event line, a one-line JSON data line and then an id line', async () => {
    const id = await api.createTask({ message: 'sleep 300\nthink about it\n$ echo hi' });
    const events = await api.streamAll(id);
    for (const e of events) {
      const lines = e.raw.split('\n');
      assert.match(lines[0]!, /^event: [a-z_]+$/);
      assert.match(lines[1]!, /^data: \{.*\}$/);
      if (e.event === 'history_message' || e.event === 'history_done') assert.equal(lines.length, 2, 'history carries no id');
      else {
        assert.equal(lines.length, 3);
        assert.match(lines[2]!, /^id: \d+$/);
      }
    }
    const logged = ids(events);
    assert.deepEqual(logged, [...logged].sort((a, b) => a - b));
    const types = events.map((e) => e.event);
    assert.ok(types.indexOf('history_done') < types.indexOf('thought'));
    const call = events.find((e) => e.event === 'tool_call')!.data;
    assert.equal(call.toolName, 'run_command');
    assert.deepEqual(call.data, { callId: call.callId, toolName: call.toolName, status: call.status, args: call.args });
    assert.equal(call.type, 'tool_call');
    assert.equal(types[types.length - 1], 'done');
  });

  it('shows a running turn from its start to a stream that connects late, then goes live', async () => {
    const id = await api.createTask({ message: slowScript(3, 150) });
    const early = await api.openStream(id);
    await early.readUntil((e) => e.event === 'tool_result');
    const late = await api.streamAll(id);
    const rest = await early.readAll();
    const done = late[late.length - 1]!;
    assert.equal(done.event, 'done');
    const historyDone = late.find((e) => e.event === 'history_done')!;
    assert.equal(historyDone.data.isStreaming, true);
    assert.equal(late.filter((e) => e.event === 'tool_result').length, 3, 'catch-up included results from before it connected');
    assert.equal(rest[rest.length - 1]!.event, 'done');
  });

  it('catches a late stream up on a running turn that logged more than a page of events, each once', async () => {
    const thoughts = Array.from({ length: 1200 }, (_, i) => `think thought ${i + 1}`).join('\n');
    const id = await api.createTask({ message: `${thoughts}\nsleep 400\n$ echo after` });
    const early = await api.openStream(id);
    await early.readUntil((e) => e.event === 'thought' && e.data.description === 'thought 1200');
    const late = await api.streamAll(id);
    await early.readAll();
    const everything = await api.streamAll(id, 0);
    assert.ok(everything.length > 1200);
    assertExactlyOnce(ids(late), ids(everything));
  });

  it('replays history and the last terminal event for a finished task, then closes', async () => {
    const id = await api.createTask({ message: 'hello' });
    await api.waitForEnd(id);
    const events = await api.streamAll(id);
    assert.deepEqual(
      events.map((e) => e.event),
      ['history_message', 'history_message', 'history_done', 'done'],
    );
    assert.deepEqual(events[2]!.data, { messageCount: 2, isStreaming: false });
    assert.equal(events[3]!.data.finalResponse, 'Echo: hello');
    assert.ok(events[3]!.id! > 0);
  });

  it('sends heartbeats while a turn is quiet', async () => {
    const id = await api.createTask({ message: 'sleep 600' });
    const stream = await api.openStream(id);
    await stream.readAll();
    assert.ok(stream.comments.filter((c) => c === ':heartbeat').length >= 2, `heartbeats seen: ${stream.comments.length}`);
  });

  it('resumes a dropped stream with Last-Event-ID: every event exactly once', async () => {
    const id = await api.createTask({ message: slowScript(4, 80) });
    const received: SseEvent[] = [];
    let lastId: number | undefined;
    // Drop the connection three times at different points, as a flaky network would.
    for (const dropAfter of [2, 3, 4]) {
      const stream = await api.openStream(id, lastId);
      let n = 0;
      const part = await stream.readUntil((e) => e.id !== undefined && ++n >= dropAfter);
      stream.close();
      const logged = part.filter((e) => e.id !== undefined);
      received.push(...logged);
      lastId = logged[logged.length - 1]?.id ?? lastId;
    }
    const tail = await api.streamAll(id, lastId);
    assert.equal(tail.some((e) => e.event === 'history_message'), false, 'a resumed stream skips the history');
    received.push(...tail);
    const everything = await api.streamAll(id, 0);
    assertExactlyOnce(ids(received), ids(everything));
    assert.equal(received[received.length - 1]!.event, 'done');
  });

  it('gives many subscribers of one task the same events', async () => {
    // The pause at the start lets all 150 streams connect before the events they compare; more
    // streams than are served in one turn of the event loop, with batches close together.
    const thoughts = Array.from({ length: 20 }, (_, i) => `think quick ${i}`).join('\n');
    const id = await api.createTask({ message: `sleep 2000\n${thoughts}\n${slowScript(2, 100)}` });
    const streams = await Promise.all(Array.from({ length: 150 }, () => api.streamAll(id)));
    const reference = ids(await api.streamAll(id, 0));
    for (const events of streams) {
      assertExactlyOnce(ids(events).filter((n) => n >= reference[0]!), reference);
    }
  });

  it('closes at once when Last-Event-ID is already the end of an idle task', async () => {
    const id = await api.createTask({ message: 'hi' });
    const end = await api.waitForEnd(id);
    assert.deepEqual(await api.streamAll(id, end.id), []);
  });

  it('refuses a Last-Event-ID that is not a number', async () => {
    const id = await api.createTask({ message: 'hi' });
    const response = await api.get(`/api/v1/tasks/${id}/stream`, { 'last-event-id': 'abc' });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, 'VALIDATION_ERROR');
  });
});

describe('streaming across a crash', () => {
  it('resumes after kill -9 and restart with no lost or repeated event, ending in an error that says what happened', async () => {
    let kiln = await startKiln();
    const api = Api.of(kiln);
    const id = await api.createTask({ message: slowScript(20, 200) });
    const stream = await api.openStream(id);
    const before = (await stream.readUntil((e) => e.event === 'tool_result')).filter((e) => e.id !== undefined);
    await kiln.kill();
    stream.close();

    kiln = await kiln.restart();
    try {
      const resumed = await Api.of(kiln).streamAll(id, before[before.length - 1]!.id);
      const received = [...before, ...resumed];
      assertExactlyOnce(ids(received), ids(await Api.of(kiln).streamAll(id, 0)));
      const last = received[received.length - 1]!;
      assert.equal(last.event, 'error');
      assert.equal(last.data.code, 'INTERRUPTED');
      assert.match(last.data.message, /interrupted/);
    } finally {
      await kiln.stop();
    }
  });
});

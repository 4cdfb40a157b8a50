import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Api } from './helpers/api.js';
import { createUserKey, startKiln, type KilnServer } from './helpers/kiln-process.js';

describe('fairness between users', () => {
  let kiln: KilnServer;
  before(async () => {
    kiln = await startKiln({ env: { KILN_CONCURRENCY: '4' } });
  });
  after(() => kiln.stop());

  it("runs one user's task soon even while another user has many queued", async () => {
    const alice = Api.of(kiln);
    const bob = new Api(kiln.url, await createUserKey(kiln, 'bob'));
    const queued: string[] = [];
    for (let i = 0; i < 40; i++) queued.push(await alice.createTask({ message: 'sleep 200' }));
    const bobs = await bob.createTask({ message: 'sleep 200' });

    const running = async () => (await alice.get('/api/v1/tasks?limit=100')).body.data.filter((t: { status: string }) => t.status === 'running').length;
    assert.ok((await running()) <= 2, 'one user runs at most KILN_USER_CONCURRENCY (half of KILN_CONCURRENCY) tasks at once');

    assert.equal((await bob.waitForEnd(bobs)).event, 'done');
    const aliceDone = (await alice.get('/api/v1/tasks?limit=100')).body.data.filter((t: { status: string }) => t.status === 'completed').length;
    assert.ok(aliceDone < 20, `bob's task finished before most of alice's (${aliceDone} of 40 had)`);
    for (const id of queued) assert.equal((await alice.waitForEnd(id)).event, 'done');
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ALICE, openService } from './helpers.js';

describe('job engine basics', () => {
  it('a job runs on the fake CLI and completes with its output and result', async (t) => {
    const { service } = await openService(t);
    const started = await service.start({ prompt: 'hello world', title: 'greet' }, ALICE);
    assert.match(started.jobId, /^[0-9a-z]{26}$/);
    const done = await service.wait(started.jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.exitCode, 0);
    assert.match(done.tail, /Echo: hello world/);
    assert.equal(done.result?.result, 'Echo: hello world');
    assert.equal(done.result?.isError, false);
  });
});

// The engine's seam (src/jobs/backend.ts): JobService keeps the policy and reaches jobs only through
// the JobBackend it is given; the start limiter is injected the same way. These are the hooks a
// second backend (issue #17) plugs into, so they are tested on their own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { JobBackend } from '../src/jobs/backend.js';
import { JobNotFound, LimitExceeded } from '../src/jobs/errors.js';
import { LocalBackend } from '../src/jobs/local-backend.js';
import { JobService } from '../src/jobs/service.js';
import { ALICE, BOB, cleanupJobs, testConfig } from './support/helpers.js';

/** A LocalBackend whose every call is written down by name. */
async function recordedBackend(t: { after: (fn: () => unknown) => void }) {
  const config = testConfig();
  const local = await LocalBackend.open(config);
  const calls: string[] = [];
  const backend = new Proxy(local, {
    get(target, name, receiver) {
      const value: unknown = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as JobBackend;
  const service = await JobService.open(config, { backend });
  t.after(async () => {
    await service.close();
    cleanupJobs(config);
  });
  return { config, service, calls };
}

describe('the engine seam', () => {
  it('the service reaches jobs only through the backend it is given', async (t) => {
    const { config, service, calls } = await recordedBackend(t);
    const { jobId } = await service.start({ prompt: 'through the seam' }, ALICE);
    assert.deepEqual(calls.filter((c) => c !== 'stats'), ['resolveCwd', 'writeProblem', 'placement', 'create']);
    assert.ok(fs.existsSync(`${config.jobsDir}/${jobId}/spec.json`), 'LocalBackend made the job folder');

    calls.length = 0;
    const done = await service.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'completed');
    assert.equal(calls.at(-1), 'tail', 'check reads the tail through the backend');

    calls.length = 0;
    const output = await service.output(jobId, ALICE);
    const size = await output.size();
    assert.ok(size > 0);
    assert.equal((await output.read(0, size)).length, size);
    assert.deepEqual(calls, ['read', 'outputSize', 'readOutput']);
  });

  it('ownership stays with the service: another owner\'s job is JobNotFound and no output is read', async (t) => {
    const { service, calls } = await recordedBackend(t);
    const { jobId } = await service.start({ prompt: 'mine' }, ALICE);
    calls.length = 0;
    await assert.rejects(service.check(jobId, BOB), JobNotFound);
    await assert.rejects(service.output(jobId, BOB), JobNotFound);
    await assert.rejects(service.cancel(jobId, BOB), JobNotFound);
    assert.deepEqual(calls, ['read', 'read', 'read'], 'only reads reached the backend');
  });

  it('an injected start limiter decides, and a refused start creates nothing', async (t) => {
    const config = testConfig();
    const asked: string[] = [];
    let refuse = true;
    const limiter = { take: async (principal: string) => (asked.push(principal), refuse ? 7 : null) };
    const service = await JobService.open(config, { limiter });
    t.after(async () => {
      await service.close();
      cleanupJobs(config);
    });
    await assert.rejects(service.start({ prompt: 'not yet' }, ALICE), (e: unknown) => e instanceof LimitExceeded && e.retryAfterSeconds === 7);
    assert.deepEqual(fs.readdirSync(config.jobsDir).filter((n) => !n.startsWith('.')), []);
    refuse = false;
    const { jobId } = await service.start({ prompt: 'now' }, ALICE);
    assert.ok(fs.existsSync(`${config.jobsDir}/${jobId}`));
    assert.deepEqual(asked, ['alice', 'alice']);
  });
});

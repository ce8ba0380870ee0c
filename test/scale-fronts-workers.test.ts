// Real fronts (`serve` with CLAUDE_ASYNC_REDIS_URL) and real workers on a real redis-server, driven
// over REST: a job started on one front is answered by the other (status, list, output pages from
// the worker's disk, the live event stream), a cwd no worker holds is a 400 naming it, and a cancel
// sent to a front reaches the owning worker, which ends the job's process group.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TOKEN } from './support/faults.js';
import type { RealServer } from './support/server-process.js';
import { isAlive, waitFor } from './support/helpers.js';
import { redisMissing } from './support/redis.js';
import { startCluster } from './support/scale.js';
import type { RunnerRecord } from '../src/jobs/records.js';

const missing = redisMissing();

describe('shared backend: fronts and workers over REST', { skip: missing ?? false }, () => {
  it('any front answers any job; an unheld cwd is refused; a cancel reaches the owning worker', async (t) => {
    const cluster = await startCluster(t, 'ca-scale-rest-');
    const { dir, claude, workers, fronts } = cluster;
    const rootA = path.join(dir, 'repos-a');
    const rootB = path.join(dir, 'repos-b');
    for (const root of [rootA, rootB, path.join(dir, 'elsewhere')]) fs.mkdirSync(root);
    await cluster.worker('host-a', [rootA]);
    await cluster.worker('host-b', [rootB]);
    for (const name of ['front-1', 'front-2']) await cluster.front(name, rootA);
    const [one, two] = fronts as [RealServer, RealServer];

    // Started on one front, answered by the other.
    const started = await one.rest('/v1/jobs', { body: { prompt: 'hello over two fronts\n#fake tick 3 50', cwd: rootA } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const jobId = String(started.body.jobId);
    const done = await waitFor(async () => {
      const job = await two.rest(`/v1/jobs/${jobId}`);
      return job.body.status === 'completed' && job.body;
    }, 30_000, 'the job to complete (read through the other front)');
    assert.equal((done.result as { isError: boolean }).isError, false);
    const listed = await two.rest('/v1/jobs');
    assert.deepEqual((listed.body.jobs as { jobId: string }[]).map((j) => j.jobId), [jobId]);
    const page = await fetch(`${two.url}/v1/jobs/${jobId}/output?format=jsonl`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(page.status, 200);
    const raw = await page.text();
    assert.match(raw, /"type":"result"/);
    assert.equal(page.headers.get('x-output-bytes'), String(fs.statSync(path.join(workers[0]!.jobsDir, jobId, 'out.jsonl')).size), 'the size is the worker\'s log on disk');
    const events = await fetch(`${two.url}/v1/jobs/${jobId}/events`, { headers: { Authorization: `Bearer ${TOKEN}`, Accept: 'text/event-stream' } });
    const stream = await events.text();
    assert.match(stream, /hello over two fronts/);
    assert.match(stream, /event: status\ndata: .*completed/);

    // A cwd no worker holds: refused at once, naming it.
    const refused = await two.rest('/v1/jobs', { body: { prompt: 'x', cwd: path.join(dir, 'elsewhere') } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.ok(String(refused.body.detail).includes(path.join(dir, 'elsewhere')), String(refused.body.detail));

    // Cancel through a front: the worker holding the job ends claude's process group.
    const long = await one.rest('/v1/jobs', { body: { prompt: '#fake sleep 600000', cwd: rootB } });
    const longId = String(long.body.jobId);
    const runner = await waitFor(() => {
      try {
        const record = JSON.parse(fs.readFileSync(path.join(workers[1]!.jobsDir, longId, 'runner.json'), 'utf8')) as RunnerRecord;
        return record.claudePid ? record : null;
      } catch {
        return null;
      }
    }, 30_000, 'claude to start on host B');
    await waitFor(async () => (await two.rest(`/v1/jobs/${longId}`)).body.status === 'running', 15_000, 'the job to read running');
    const cancel = await two.rest(`/v1/jobs/${longId}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.deepEqual({ status: cancel.body.status, cancelled: cancel.body.cancelled }, { status: 'cancelled', cancelled: true });
    await waitFor(() => !isAlive(runner.claudePid!), 15_000, 'claude to be gone');
    assert.equal((await one.rest(`/v1/jobs/${longId}`)).body.status, 'cancelled');
    assert.equal(claude.runs(), 2);

    // Remove through a front: keys gone, the worker deletes the folder.
    const removed = await one.rest(`/v1/jobs/${jobId}`, { method: 'DELETE' });
    assert.ok(removed.status < 300, JSON.stringify(removed.body));
    assert.equal((await two.rest(`/v1/jobs/${jobId}`)).status, 404);
    assert.ok(!fs.existsSync(path.join(workers[0]!.jobsDir, jobId)), 'the worker removed the job folder');
  });
});

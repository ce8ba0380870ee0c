// Job labels on the shared backend, against a real redis-server, two real workers that hold the same
// folder but carry different labels, and a real front: a labelled job lands on the worker carrying
// its labels (over REST and over MCP claude_start), check and list show the labels, and a label set
// no live worker carries is refused at once, naming the cwd and the labels. A worker restarted with
// fewer labels hands the jobs queued for its old ones on instead of running them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TOKEN } from './support/faults.js';
import { waitFor } from './support/helpers.js';
import { connect } from './support/mcp-client.js';
import { redisMissing } from './support/redis.js';
import { startCluster, type WorkerProcess } from './support/scale.js';

type Json = Record<string, unknown>;
const missing = redisMissing();

/** The worker whose disk holds the job's folder, once one does. */
const hostOf = (workers: WorkerProcess[], jobId: string) => waitFor(
  () => workers.find((w) => fs.existsSync(path.join(w.jobsDir, jobId, 'spec.json')))?.workerId,
  30_000, `job ${jobId} to land on a worker`,
);

describe('shared backend: job labels', { skip: missing ?? false }, () => {
  it('a labelled job runs only on a worker carrying its labels, over REST and MCP; a label set nobody carries is refused at once', async (t) => {
    const cluster = await startCluster(t, 'ca-scale-labels-');
    const { dir, workers } = cluster;
    const root = path.join(dir, 'repos');
    fs.mkdirSync(root);
    await cluster.worker('host-gpu', [root], { labels: ['gpu', 'linux'] });
    await cluster.worker('host-fast', [root], { labels: ['fast', 'linux'] });
    const front = await cluster.front('front-1', root);
    const { client } = await connect(front.url, TOKEN);
    t.after(() => client.close());

    // Over REST: several each way, so landing right is not luck (both workers hold the folder).
    const restJobs: [string, string][] = [];
    for (const label of ['gpu', 'fast', 'gpu', 'fast', 'gpu']) {
      const started = await front.rest('/v1/jobs', { body: { prompt: `needs ${label}`, cwd: root, labels: [label, 'linux'] } });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      restJobs.push([String(started.body.jobId), label]);
    }
    // Over MCP, on the same front.
    const mcpStarted = await client.callTool({ name: 'claude_start', arguments: { prompt: 'needs fast, over MCP', cwd: root, labels: ['fast'] } });
    assert.equal(mcpStarted.isError, undefined, JSON.stringify(mcpStarted.content));
    const mcpJobId = String((mcpStarted.structuredContent as Json).jobId);
    for (const [jobId, label] of [...restJobs, [mcpJobId, 'fast'] as [string, string]]) {
      assert.equal(await hostOf(workers, jobId), `host-${label}`, `job ${jobId} (labels ${label}) ran on the worker carrying them`);
    }

    // check (REST and MCP) and list show the labels the job asked for.
    const [firstId] = restJobs[0]!;
    const done = await waitFor(async () => {
      const job = await front.rest(`/v1/jobs/${firstId}`);
      return job.body.status === 'completed' && job.body;
    }, 30_000, 'the first job to complete');
    assert.deepEqual(done.labels, ['gpu', 'linux']);
    const checked = await client.callTool({ name: 'claude_check', arguments: { jobId: mcpJobId } });
    assert.deepEqual((checked.structuredContent as Json).labels, ['fast']);
    const listed = await client.callTool({ name: 'claude_jobs', arguments: {} });
    const rows = (listed.structuredContent as { jobs: { jobId: string; labels?: string[] }[] }).jobs;
    assert.deepEqual(rows.find((j) => j.jobId === mcpJobId)?.labels, ['fast']);

    // Nobody carries gpu and fast together: refused at once, over REST and MCP, naming cwd and labels.
    const jobsBefore = (await front.rest('/v1/jobs?limit=200')).body.jobs as unknown[];
    const refused = await front.rest('/v1/jobs', { body: { prompt: 'x', cwd: root, labels: ['gpu', 'fast'] } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.field, 'labels');
    const detail = String(refused.body.detail);
    assert.ok(detail.includes(root) && detail.includes('gpu, fast'), detail);
    const viaMcp = await client.callTool({ name: 'claude_start', arguments: { prompt: 'x', cwd: root, labels: ['gpu', 'fast'] } });
    assert.equal(viaMcp.isError, true);
    const text = JSON.stringify(viaMcp.content);
    assert.ok(text.includes(root) && text.includes('gpu, fast'), text);
    // A label nobody has at all, on a cwd nobody holds: both named too.
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const nowhere = await front.rest('/v1/jobs', { body: { prompt: 'x', cwd: elsewhere, labels: ['gpu'] } });
    assert.equal(nowhere.status, 400, JSON.stringify(nowhere.body));
    assert.ok(String(nowhere.body.detail).includes(elsewhere) && String(nowhere.body.detail).includes('gpu'), String(nowhere.body.detail));
    // Refusals made nothing.
    assert.equal(((await front.rest('/v1/jobs?limit=200')).body.jobs as unknown[]).length, jobsBefore.length);
  });

  it('a worker restarted with fewer labels hands the jobs queued for its old ones on: to a worker carrying them, or fails them with the reason; it runs neither', async (t) => {
    const cluster = await startCluster(t, 'ca-scale-relabel-');
    const { dir, workers } = cluster;
    const root = path.join(dir, 'repos');
    const gate = path.join(dir, 'gate');
    fs.mkdirSync(root);
    fs.mkdirSync(gate);
    // One slot, and a heartbeat that outlives the restart: the queued jobs stay in this worker's queue.
    const before = await cluster.worker('host-a', [root], { labels: ['gpu', 'tpu'], slots: 1, ttl: '60s' });
    const front = await cluster.front('front-1', root);
    const start = async (prompt: string, labels: string[]) => {
      const started = await front.rest('/v1/jobs', { body: { prompt, cwd: root, labels } });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      return String(started.body.jobId);
    };
    const status = async (jobId: string) => (await front.rest(`/v1/jobs/${jobId}`)).body;
    const holding = await start(`#fake wait-file ${gate}/go\nholds the slot`, ['gpu']);
    await waitFor(async () => (await status(holding)).status === 'running', 30_000, 'the first job to run');
    const wantsGpu = await start('wants gpu', ['gpu']);
    const wantsTpu = await start('wants tpu', ['tpu']);
    assert.equal((await status(wantsGpu)).status, 'queued');

    await before.kill();
    await cluster.worker('host-a', [root], { labels: ['cpu'], slots: 1, ttl: '60s' });
    await cluster.worker('host-b', [root], { labels: ['gpu'] });
    fs.writeFileSync(path.join(gate, 'go'), '');

    const gpuDone = await waitFor(async () => {
      const job = await status(wantsGpu);
      return job.status === 'completed' && job;
    }, 60_000, 'the gpu job to run elsewhere');
    assert.deepEqual(gpuDone.labels, ['gpu']);
    assert.equal(await hostOf(workers, wantsGpu), 'host-b', 'it ran on the worker carrying gpu');
    const tpuFailed = await waitFor(async () => {
      const job = await status(wantsTpu);
      return job.status === 'failed' && job;
    }, 60_000, 'the tpu job to fail');
    assert.match(String(tpuFailed.statusReason), /host-a this job was queued for no longer carries the labels tpu .*no other live worker holds '.*' with them; the job never ran/);
    assert.equal((await status(holding)).status, 'completed');
    const hostA = workers.find((w) => w.workerId === 'host-a')!;
    assert.ok(!fs.existsSync(path.join(hostA.jobsDir, wantsGpu)) && !fs.existsSync(path.join(hostA.jobsDir, wantsTpu)), 'neither ran on host-a');
    assert.equal(cluster.claude.runs(), 2, 'the slot holder and the gpu job ran, once each; the tpu job never');
  });
});

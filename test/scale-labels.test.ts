// Job labels on the shared backend, against a real redis-server, two real workers that hold the same
// folder but carry different labels, and a real front: a labelled job lands on the worker carrying
// its labels (over REST and over MCP claude_start), check and list show the labels, and a label set
// no live worker carries is refused at once, naming the cwd and the labels.
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
});

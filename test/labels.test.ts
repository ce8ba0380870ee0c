// Job labels on one server (the local backend): this host is the only place a job can run, so a
// job that names labels runs only when the server carries all of them itself
// (CLAUDE_ASYNC_WORKER_LABELS) and is refused otherwise, naming what is missing. One schema gives
// REST, MCP (claude_start, claude_run) and the OpenAPI document the same bounded field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './support/in-process-server.js';

type Json = Record<string, any>;

describe('job labels on one server', () => {
  it('a server that carries no labels refuses a labelled start at once (REST and MCP), naming the labels', async (t) => {
    const s = await startTestServer(t);
    const refused = await s.rest('/v1/jobs', { body: { prompt: 'x', labels: ['gpu'] } });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.field, 'labels');
    assert.match(String(refused.body.detail), /carries no labels \(CLAUDE_ASYNC_WORKER_LABELS\), so a job that needs gpu cannot run here/);
    const client = await s.connect();
    const viaMcp = await client.callTool({ name: 'claude_start', arguments: { prompt: 'x', labels: ['gpu'] } });
    assert.equal(viaMcp.isError, true);
    assert.match(JSON.stringify(viaMcp.content), /needs gpu cannot run here/);
    assert.deepEqual((await s.rest('/v1/jobs')).body.jobs, [], 'nothing was made');
    // No labels, or an empty list, is no constraint.
    const plain = await s.startJob('no labels', undefined, { labels: [] });
    assert.equal((await s.waitStatus(plain)).status, 'completed');
    assert.equal((await s.rest(`/v1/jobs/${plain}`)).body.labels, undefined);
  });

  it('a server that carries the labels runs the job and shows them in check and list; a missing one is named', async (t) => {
    const s = await startTestServer(t, { workerLabels: ['gpu', 'linux'] });
    const jobId = await s.startJob('labelled', undefined, { labels: ['gpu', 'gpu'] });
    const job = await s.waitStatus(jobId);
    assert.equal(job.status, 'completed');
    assert.deepEqual(job.labels, ['gpu'], 'a label named twice is kept once');
    assert.deepEqual(((await s.rest('/v1/jobs')).body.jobs as Json[]).map((j) => j.labels), [['gpu']]);
    const client = await s.connect();
    const checked = await client.callTool({ name: 'claude_check', arguments: { jobId } });
    assert.deepEqual((checked.structuredContent as Json).labels, ['gpu']);
    const refused = await s.rest('/v1/jobs', { body: { prompt: 'x', labels: ['linux', 'big-disk'] } });
    assert.equal(refused.status, 400, refused.text);
    assert.match(String(refused.body.detail), /carries only gpu, linux .*needs big-disk cannot run here/);
  });

  it('labels are bounded: a charset, a length and a count, refused before anything runs', async (t) => {
    const s = await startTestServer(t, { workerLabels: ['gpu'] });
    const bad: unknown[] = [['has space'], ['x'.repeat(65)], [''], ['new\nline'], Array.from({ length: 17 }, (_, i) => `l${i}`), 'gpu', [7]];
    for (const labels of bad) {
      const answer = await s.rest('/v1/jobs', { body: { prompt: 'x', labels } });
      assert.equal(answer.status, 400, `${JSON.stringify(labels)}: ${answer.text}`);
      assert.match(String(answer.body.field), /^labels/, JSON.stringify(labels));
    }
    const ok = await s.rest('/v1/jobs', { body: { prompt: 'x', labels: ['gpu'] } });
    assert.equal(ok.status, 201, ok.text);
  });

  it('the OpenAPI document and the MCP tools describe labels with their bounds', async (t) => {
    const s = await startTestServer(t);
    const doc = (await s.rest('/v1/openapi.json')).body as Json;
    const field = doc.components.schemas.StartInput.properties.labels;
    assert.equal(field.type, 'array');
    assert.equal(field.maxItems, 16);
    assert.equal(field.items.pattern, '^[A-Za-z0-9._-]{1,64}$');
    assert.equal(doc.components.schemas.Job.properties.labels.type, 'array');
    const client = await s.connect();
    const { tools } = await client.listTools();
    for (const name of ['claude_start', 'claude_run']) {
      const schema = tools.find((tool) => tool.name === name)?.inputSchema as Json | undefined;
      assert.equal(schema?.properties?.labels?.items?.pattern, '^[A-Za-z0-9._-]{1,64}$', name);
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryIdempotencyRecords, type IdempotencyRecord } from '../src/http/idempotency-records.js';
import { startRestApp } from './support/rest-app.js';
import { readSse } from './support/sse.js';

interface Started { jobId: string; status: string; createdAt: number }

describe('REST: start a job and follow it live', () => {
  it('start → follow events to the final status; the events are the log, line for line', async (t) => {
    const app = await startRestApp(t);
    const start = await app.call('/v1/jobs', { body: { prompt: '#fake tick 4 150\nhello there', title: 'follow me' } });
    assert.equal(start.status, 201);
    const started = (await start.json()) as Started;
    assert.equal(start.headers.get('location'), `/v1/jobs/${started.jobId}`);
    assert.equal(started.status, 'queued');

    const stream = await app.call(`/v1/jobs/${started.jobId}/events?format=jsonl`);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(stream.headers.get('x-accel-buffering'), 'no');
    assert.match(stream.headers.get('cache-control') ?? '', /no-cache/);
    const { events, comments: pings } = await readSse(stream);
    assert.ok(pings > 0, 'no heartbeat during a 600 ms job with a 200 ms heartbeat');

    const output = events.filter((e) => e.event === 'output');
    const last = events.at(-1)!;
    assert.equal(last.event, 'status');
    const status = JSON.parse(last.data) as { status: string; result?: { result: string }; tail?: string; outputBytes: number };
    assert.equal(status.status, 'completed');
    assert.equal(status.result?.result, 'Echo: hello there');
    assert.equal(status.tail, undefined, 'the status event carries no tail');

    const log = await (await app.call(`/v1/jobs/${started.jobId}/output`)).text();
    assert.deepEqual(output.map((e) => e.data), log.trimEnd().split('\n'));
    assert.equal(Number(output.at(-1)!.id), Buffer.byteLength(log), 'the last id is the log size');
    assert.equal(Number(last.id), status.outputBytes);
    const texts = output.map((e) => JSON.parse(e.data) as { type: string; message?: { content: { text?: string }[] } })
      .filter((line) => line.type === 'assistant').map((line) => line.message?.content[0]?.text);
    assert.deepEqual(texts, ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'Echo: hello there']);
  });

  it('text events carry the readable rendering, and an ended job still gets its output and status', async (t) => {
    const app = await startRestApp(t);
    const jobId = await app.runJob('#fake tool Bash ls -la\nreadable please');
    const { events } = await readSse(await app.call(`/v1/jobs/${jobId}/events`));
    assert.deepEqual(events.filter((e) => e.event === 'output').map((e) => e.data).slice(1), ['→ Bash: ls -la', 'Echo: readable please', '[result] Echo: readable please']);
    assert.match(events[0]!.data, /^\[session .* started/);
    assert.equal(events.at(-1)!.event, 'status');
  });

  it('Last-Event-ID (or ?offset) resumes after that line only; a reconnect to a finished stream gets 204', async (t) => {
    const app = await startRestApp(t);
    const jobId = await app.runJob('#fake lines 6\nresume');
    const all = (await readSse(await app.call(`/v1/jobs/${jobId}/events?format=jsonl`))).events.filter((e) => e.event === 'output');
    assert.ok(all.length >= 8, `only ${all.length} lines`);
    const cut = all[3]!.id!;

    const resumed = await readSse(await app.call(`/v1/jobs/${jobId}/events?format=jsonl`, { headers: { 'last-event-id': cut } }));
    assert.deepEqual(resumed.events.filter((e) => e.event === 'output'), all.slice(4));
    assert.equal(resumed.events.at(-1)!.event, 'status');

    const byOffset = await readSse(await app.call(`/v1/jobs/${jobId}/events?format=jsonl&offset=${cut}`));
    assert.deepEqual(byOffset.events.filter((e) => e.event === 'output'), all.slice(4));

    // An offset inside a line starts at the next whole line, never mid-JSON.
    const midLine = await readSse(await app.call(`/v1/jobs/${jobId}/events?format=jsonl&offset=${Number(cut) + 5}`));
    assert.deepEqual(midLine.events.filter((e) => e.event === 'output'), all.slice(5));

    const done = await app.call(`/v1/jobs/${jobId}/events`, { headers: { 'last-event-id': all.at(-1)!.id! } });
    assert.equal(done.status, 204, 'EventSource stops retrying only on 204');
  });

  it('a client that disconnects mid-stream does not keep the job or the server busy', async (t) => {
    const app = await startRestApp(t);
    const res = await app.call('/v1/jobs', { body: { prompt: '#fake tick 50 100\nlong' } });
    const { jobId } = (await res.json()) as Started;
    const partial = await readSse(await app.call(`/v1/jobs/${jobId}/events`), (events) => events.length >= 2);
    assert.ok(partial.events.length >= 2);
    const cancelled = await app.call(`/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    assert.equal(((await cancelled.json()) as { status: string }).status, 'cancelled');
  });
});

describe('REST: Idempotency-Key', () => {
  it('a retried POST with the same key returns the same job instead of a second one', async (t) => {
    const app = await startRestApp(t);
    const body = { prompt: 'only once' };
    const first = await app.call('/v1/jobs', { body, headers: { 'idempotency-key': 'key-1' } });
    const again = await app.call('/v1/jobs', { body, headers: { 'idempotency-key': 'key-1' } });
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.equal(first.headers.get('idempotent-replayed'), 'false');
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await again.json(), await first.json());
    assert.equal(again.headers.get('location'), first.headers.get('location'));
    const list = (await (await app.call('/v1/jobs')).json()) as { jobs: unknown[] };
    assert.equal(list.jobs.length, 1);
  });

  it('two concurrent POSTs with one key make one job; another body with the key is refused; keys are per principal', async (t) => {
    const app = await startRestApp(t);
    const body = { prompt: 'race' };
    const answers = await Promise.all([1, 2, 3].map(() => app.call('/v1/jobs', { body, headers: { 'idempotency-key': 'same' } })));
    const ids = await Promise.all(answers.map(async (a) => ((await a.json()) as Started).jobId));
    assert.deepEqual(answers.map((a) => a.status), [201, 201, 201]);
    assert.equal(new Set(ids).size, 1);

    const reused = await app.call('/v1/jobs', { body: { prompt: 'something else' }, headers: { 'idempotency-key': 'same' } });
    assert.equal(reused.status, 422);
    assert.equal(((await reused.json()) as { type: string }).type, 'https://claude-async.dev/problems/idempotency-key-reused');

    const bobs = await app.call('/v1/jobs', { token: app.tokens.bob, body, headers: { 'idempotency-key': 'same' } });
    assert.equal(bobs.status, 201);
    assert.notEqual(((await bobs.json()) as Started).jobId, ids[0]);
    const alices = (await (await app.call('/v1/jobs')).json()) as { jobs: unknown[] };
    assert.equal(alices.jobs.length, 1);
  });

  it('a start that failed is not remembered: the retry with the same key can succeed', async (t) => {
    const app = await startRestApp(t);
    const body = { prompt: 'x', cwd: path.join(app.config.defaultCwd, 'later') };
    const bad = await app.call('/v1/jobs', { body, headers: { 'idempotency-key': 'k' } });
    assert.equal(bad.status, 400);
    fs.mkdirSync(body.cwd);
    const good = await app.call('/v1/jobs', { body, headers: { 'idempotency-key': 'k' } });
    assert.equal(good.status, 201);
    assert.equal(good.headers.get('idempotent-replayed'), 'false');
  });

  it('injected records keep the keys: the seam a store shared by many servers (Redis) plugs into', async (t) => {
    // A store that notes what it is asked; the decisions stay in the one IdempotencyCache.
    const asked: string[] = [];
    const written: IdempotencyRecord[] = [];
    const memory = new MemoryIdempotencyRecords();
    const records = {
      read: (id: string) => (asked.push('read'), memory.read(id)),
      createExclusive: (id: string, record: IdempotencyRecord) => (asked.push('createExclusive'), memory.createExclusive(id, record)),
      write: (id: string, record: IdempotencyRecord) => (asked.push('write'), written.push(record), memory.write(id, record)),
      remove: (id: string) => (asked.push('remove'), memory.remove(id)),
      sweep: (cutoff: number) => memory.sweep(cutoff),
    };
    const app = await startRestApp(t, {}, { idempotencyRecords: records });
    const first = await app.call('/v1/jobs', { body: { prompt: 'once' }, headers: { 'idempotency-key': 'shared' } });
    const again = await app.call('/v1/jobs', { body: { prompt: 'once' }, headers: { 'idempotency-key': 'shared' } });
    assert.equal(first.status, 201);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const jobId = ((await first.json()) as Started).jobId;
    assert.equal(((await again.json()) as Started).jobId, jobId);
    // The first start wrote the key down before the job existed, then its answer; the repeat only read it.
    assert.deepEqual(asked, ['read', 'createExclusive', 'write', 'read']);
    assert.equal(written[0]?.jobId, jobId);
    assert.equal((written[0]?.result as Started | undefined)?.jobId, jobId);
    assert.ok(!fs.existsSync(path.join(app.config.dataDir, 'idempotency')), 'the default store on disk was used');
  });
});

describe('REST: list, get, cancel, delete', () => {
  it('lists newest first with paging, filters by status, and shows only the caller\'s jobs (admin sees all)', async (t) => {
    const app = await startRestApp(t);
    const ids: string[] = [];
    for (const prompt of ['a', 'b', 'c']) ids.push(((await (await app.call('/v1/jobs', { body: { prompt } })).json()) as Started).jobId);
    await app.call('/v1/jobs', { token: app.tokens.bob, body: { prompt: 'bob' } });

    const page1 = (await (await app.call('/v1/jobs?limit=2')).json()) as { jobs: { jobId: string }[]; nextCursor?: string };
    assert.deepEqual(page1.jobs.map((j) => j.jobId), [ids[2], ids[1]]);
    assert.ok(page1.nextCursor);
    const page2 = (await (await app.call(`/v1/jobs?limit=2&cursor=${page1.nextCursor}`)).json()) as { jobs: { jobId: string }[]; nextCursor?: string };
    assert.deepEqual(page2.jobs.map((j) => j.jobId), [ids[0]]);
    assert.equal(page2.nextCursor, undefined);

    for (const id of ids) await runJobEnded(app, id);
    const completed = (await (await app.call('/v1/jobs?status=completed')).json()) as { jobs: unknown[] };
    assert.equal(completed.jobs.length, 3);
    const running = (await (await app.call('/v1/jobs?status=running')).json()) as { jobs: unknown[] };
    assert.equal(running.jobs.length, 0);
    const all = (await (await app.call('/v1/jobs', { token: app.tokens.root })).json()) as { jobs: unknown[] };
    assert.equal(all.jobs.length, 4);
  });

  it('GET a job answers its status and result without the tail; cancel and delete work', async (t) => {
    const app = await startRestApp(t);
    const jobId = await app.runJob('result please');
    const job = (await (await app.call(`/v1/jobs/${jobId}`)).json()) as Record<string, unknown>;
    assert.equal(job.status, 'completed');
    assert.equal((job.result as { result: string }).result, 'Echo: result please');
    for (const gone of ['tail', 'offset', 'nextOffset', 'hasMore']) assert.ok(!(gone in job), gone);
    assert.ok((job.outputBytes as number) > 0);

    const cancel = await app.call(`/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    assert.deepEqual(await cancel.json(), { jobId, status: 'completed', cancelled: false });
    const removed = await app.call(`/v1/jobs/${jobId}`, { method: 'DELETE' });
    assert.equal(removed.status, 200);
    assert.deepEqual(await removed.json(), { jobId, removed: true });
    assert.equal((await app.call(`/v1/jobs/${jobId}`)).status, 404);
  });

  it('output as text renders the same window readably, with the next offset', async (t) => {
    const app = await startRestApp(t);
    const jobId = await app.runJob('#fake lines 3\nas text');
    const res = await app.call(`/v1/jobs/${jobId}/output?format=text`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /line 1\nline 2\nline 3\nEcho: as text\n\[result\] Echo: as text\n$/);
    assert.equal(res.headers.get('x-next-offset'), res.headers.get('x-output-bytes'));
    const tail = await app.call(`/v1/jobs/${jobId}/output?format=text&offset=${res.headers.get('x-next-offset')}`);
    assert.equal(await tail.text(), '');
  });
});

async function runJobEnded(app: Awaited<ReturnType<typeof startRestApp>>, jobId: string): Promise<void> {
  await readSse(await app.call(`/v1/jobs/${jobId}/events`));
}

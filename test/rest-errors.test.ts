import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Forbidden, InvalidInput, JobNotFound, LimitExceeded, StorageError } from '../src/jobs/errors.js';
import { protocolError, toolError } from '../src/mcp/errors.js';
import { problemFor } from '../src/http/problem.js';
import { runJob, startRestApp } from './rest-fixture.js';

const TYPE = 'https://claude-async.dev/problems/';

interface Problem { type: string; title: string; status: number; detail: string; field?: string; errors?: { field: string; message: string }[]; retryAfterSeconds?: number }

async function problem(res: Response, status: number, slug: string): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const body = JSON.parse(text) as Problem;
  assert.equal(body.type, TYPE + slug);
  assert.equal(body.status, status);
  assert.ok(body.title && body.detail, text);
  return body;
}

describe('REST errors are problem documents', () => {
  it('400 names the field at fault, for bodies, queries, path ids and headers', async (t) => {
    const app = await startRestApp(t);
    const cases: [string, Parameters<typeof app.call>[1], string][] = [
      ['/v1/jobs', { body: { prompt: 'hi', maxTurns: 'many' } }, 'maxTurns'],
      ['/v1/jobs', { body: { prompt: 'hi', cwd: '/etc' } }, 'cwd'],
      ['/v1/jobs', { body: { prompt: '   ' } }, 'prompt'],
      ['/v1/jobs', { body: { prompt: 'hi' }, headers: { 'idempotency-key': 'k'.repeat(201) } }, 'Idempotency-Key'],
      ['/v1/jobs?limit=lots', {}, 'limit'],
      ['/v1/jobs?limit=0', {}, 'limit'],
      ['/v1/jobs?status=sleeping', {}, 'status'],
      ['/v1/jobs/..%2F..%2Fetc', {}, 'jobId'],
      ['/v1/jobs/not-an-id/output', {}, 'jobId'],
    ];
    for (const [path, init, field] of cases) {
      const body = await problem(await app.call(path, init), 400, 'invalid-input');
      assert.equal(body.field, field, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.errors?.[0]?.field, field);
    }
    const unknown = await problem(await app.call('/v1/jobs', { body: { prompt: 'hi', sudo: true } }), 400, 'invalid-input');
    assert.match(unknown.detail, /sudo/);
    await problem(await app.call('/v1/jobs', { rawBody: '{"prompt": ', headers: { 'content-type': 'application/json' } }), 400, 'invalid-json');
    await problem(await app.call('/v1/jobs', { rawBody: 'prompt=hi', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type');
  });

  it('404: an unknown job and another owner\'s job answer exactly alike', async (t) => {
    const app = await startRestApp(t);
    const bobsJob = await runJob(app, 'private', app.tokens.bob);
    const missing = '01jabcdefghjkmnpqrstvwxyz0';
    for (const [method, suffix] of [['GET', ''], ['GET', '/output'], ['GET', '/events'], ['POST', '/cancel'], ['DELETE', '']] as const) {
      const theirs = await problem(await app.call(`/v1/jobs/${bobsJob}${suffix}`, { method }), 404, 'job-not-found');
      const none = await problem(await app.call(`/v1/jobs/${missing}${suffix}`, { method }), 404, 'job-not-found');
      assert.deepEqual({ ...theirs, detail: theirs.detail.replace(bobsJob, 'ID') }, { ...none, detail: none.detail.replace(missing, 'ID') });
    }
    assert.equal((await app.call(`/v1/jobs/${bobsJob}`, { token: app.tokens.root })).status, 200, 'admin sees every job');
    await problem(await app.call('/v1/nothing-here'), 404, 'not-found');
  });

  it('409 when deleting a running job; after a cancel it can be deleted', async (t) => {
    const app = await startRestApp(t);
    const { jobId } = (await (await app.call('/v1/jobs', { body: { prompt: '#fake sleep 20000\nslow' } })).json()) as { jobId: string };
    const conflict = await problem(await app.call(`/v1/jobs/${jobId}`, { method: 'DELETE' }), 409, 'job-conflict');
    assert.match(conflict.detail, /cancel it first/);
    const cancelled = (await (await app.call(`/v1/jobs/${jobId}/cancel`, { method: 'POST' })).json()) as { status: string; cancelled: boolean };
    assert.deepEqual(cancelled, { jobId, status: 'cancelled', cancelled: true });
    assert.equal((await app.call(`/v1/jobs/${jobId}`, { method: 'DELETE' })).status, 200);
  });

  it('413 for a prompt over the limit and for a body over the limit', async (t) => {
    const app = await startRestApp(t, { maxPromptBytes: 1000, maxBodyBytes: 20_000 });
    const prompt = await problem(await app.call('/v1/jobs', { body: { prompt: 'x'.repeat(2000) } }), 413, 'too-large');
    assert.match(prompt.detail, /limit is 1000/);
    await problem(await app.call('/v1/jobs', { body: { prompt: 'x'.repeat(30_000) } }), 413, 'body-too-large');
  });

  it('429 with Retry-After when a principal starts too many jobs a minute', async (t) => {
    const app = await startRestApp(t, { maxStartsPerMinute: 2 });
    for (const prompt of ['a', 'b']) assert.equal((await app.call('/v1/jobs', { body: { prompt } })).status, 201);
    const res = await app.call('/v1/jobs', { body: { prompt: 'c' } });
    const retry = Number(res.headers.get('retry-after'));
    const body = await problem(res, 429, 'rate-limited');
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 60, String(retry));
    assert.equal(body.retryAfterSeconds, retry);
    assert.equal((await app.call('/v1/jobs', { token: app.tokens.bob, body: { prompt: 'd' } })).status, 201, 'the limit is per principal');
  });

  it('401 without a token, 403 without the scope (reads need jobs:read, writes jobs:write)', async (t) => {
    const app = await startRestApp(t);
    const jobId = await runJob(app, 'hi');
    assert.equal((await app.call('/v1/jobs', { token: null })).status, 401);
    assert.equal((await app.call('/v1/openapi.json', { token: null })).status, 401);
    assert.equal((await app.call('/v1/openapi.json', { token: app.tokens.reader })).status, 200);
    assert.equal((await app.call('/v1/jobs', { token: app.tokens.reader })).status, 200);
    for (const [path, method] of [['/v1/jobs', 'POST'], [`/v1/jobs/${jobId}/cancel`, 'POST'], [`/v1/jobs/${jobId}`, 'DELETE']] as const) {
      const res = await app.call(path, { token: app.tokens.reader, method, ...(method === 'POST' ? { body: { prompt: 'x' } } : {}) });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(((await res.json()) as { error: string }).error, 'insufficient_scope');
      assert.match(res.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    }
    assert.equal((await app.call(`/v1/jobs/${jobId}`)).status, 200, 'nothing was removed');
  });

  it('416 when the offset or Range lies past the end of the log', async (t) => {
    const app = await startRestApp(t);
    const jobId = await runJob(app, 'short');
    const size = Number((await app.call(`/v1/jobs/${jobId}/output`)).headers.get('x-output-bytes'));
    const past = await app.call(`/v1/jobs/${jobId}/output?offset=${size + 1}`);
    assert.equal(past.headers.get('content-range'), `bytes */${size}`);
    await problem(past, 416, 'range-not-satisfiable');
    const range = await app.call(`/v1/jobs/${jobId}/output`, { headers: { range: `bytes=${size}-` } });
    assert.equal(range.headers.get('content-range'), `bytes */${size}`);
    await problem(range, 416, 'range-not-satisfiable');
    assert.equal((await app.call(`/v1/jobs/${jobId}/output?offset=${size}`)).status, 200, 'the end itself is a valid, empty page');
  });
});

describe('problemFor maps each engine error once', () => {
  it('maps types to statuses and never leaks an unexpected error', () => {
    assert.equal(problemFor(new JobNotFound('01jabcdefghjkmnpqrstvwxyz0')).status, 404);
    assert.equal(problemFor(new InvalidInput('x: bad', 'x')).body.field, 'x');
    assert.equal(problemFor(new LimitExceeded('too big')).status, 413);
    assert.equal(problemFor(new LimitExceeded('slow down', 7)).headers['Retry-After'], '7');
    assert.equal(problemFor(new LimitExceeded('too many queued', undefined, 'rate')).status, 429);
    assert.equal(problemFor(new StorageError('disk full')).status, 503);
    const forbidden = new Forbidden('This token is read-only', 'jobs:write');
    assert.equal(problemFor(forbidden).status, 403);
    assert.equal(problemFor(forbidden).body.detail, 'This token is read-only');
    // MCP says the same thing as a tool error (or, outside tool calls, a JSON-RPC error).
    assert.deepEqual(toolError(forbidden).content, [{ type: 'text', text: 'This token is read-only' }]);
    assert.equal(protocolError(forbidden).message, 'MCP error -32600: This token is read-only');
    const internal = problemFor(new Error('secret /home/x/.env at line 3'));
    assert.equal(internal.status, 500);
    assert.doesNotMatch(JSON.stringify(internal.body), /secret|\.env/);
  });
});

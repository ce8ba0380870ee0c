// Two fronts (two real apps on their own ports, each with its own Redis connection) in front of one
// job store, sharing limits through a real redis-server: an Idempotency-Key retried through the
// other front gives the first job; a guesser spreading wrong tokens over both fronts meets one limit;
// with Redis frozen or gone both faces answer 503 + Retry-After (REST problem, MCP JSON-RPC), never 500,
// and so does the OAuth consent page of a real front (it counts failed tokens in Redis).
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { TokenStore } from '../src/auth/token-store.js';
import { createApp } from '../src/http/app.js';
import { RedisAuthFailureLimiter } from '../src/scale/auth-failure-limiter.js';
import { RedisIdempotencyRecords } from '../src/scale/idempotency-records.js';
import { ADMIN, openService, waitFor } from './support/helpers.js';
import { authorizeUrl, openConsent, pkce, postConsent, register, startOAuthServer } from './support/oauth.js';
import { RedisServer, frontClient, redisMissing } from './support/redis.js';

const missing = redisMissing();

/** A redis-server, one job store, and two fronts on it; `call` picks the front. */
async function twoFronts(t: TestContext, authFailuresPerMinute = 1000) {
  const redis = await RedisServer.start();
  t.after(() => redis.dispose());
  const { config, service } = await openService(t);
  const store = new TokenStore(path.join(config.dataDir, 'tokens.json'));
  const token = (await store.create('alice', ['jobs:read', 'jobs:write'])).token;
  const bases: string[] = [];
  for (let i = 0; i < 2; i++) {
    const client = await frontClient(redis.url);
    t.after(() => client.disconnect());
    const authenticator = createAuthenticator({ mode: 'token', publicUrl: config.publicUrl, tokensFile: store.file, authFailuresPerMinute }, store);
    const { app } = createApp({
      config, service, authenticator, log: pino({ level: 'silent' }),
      failureLimiter: new RedisAuthFailureLimiter(client, authFailuresPerMinute),
      idempotencyRecords: new RedisIdempotencyRecords(client),
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    bases.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  const call = (front: number, urlPath: string, init: { bearer?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
    fetch(bases[front]! + urlPath, {
      method: init.body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${init.bearer ?? token}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  return { redis, service, call };
}

describe('two fronts on one Redis', { skip: missing ?? false }, () => {
  it('a start retried through the other front with the same Idempotency-Key is the same job', async (t) => {
    const { service, call } = await twoFronts(t);
    const body = { prompt: '#fake sleep 50\nhello' };
    const headers = { 'Idempotency-Key': 'retry-me' };
    // Both at once: the second reads the job's folder while the first is still writing it (the
    // placeholder races covered one by one in job-index-races.test.ts).
    const [a, b] = await Promise.all([call(0, '/v1/jobs', { body, headers }), call(1, '/v1/jobs', { body, headers })]);
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    const [ja, jb] = (await Promise.all([a.json(), b.json()])) as Array<{ jobId: string }>;
    assert.equal(ja!.jobId, jb!.jobId);
    assert.deepEqual([a.headers.get('idempotent-replayed'), b.headers.get('idempotent-replayed')].sort(), ['false', 'true']);
    const again = await call(1, '/v1/jobs', { body, headers });
    assert.equal(((await again.json()) as { jobId: string }).jobId, ja!.jobId);
    const listed = await service.list(ADMIN, {});
    assert.deepEqual(listed.jobs.map((j) => j.jobId), [ja!.jobId], 'one job in the store');
  });

  it('wrong tokens spread over both fronts meet one failed-auth limit', async (t) => {
    const { call } = await twoFronts(t, 3);
    for (const front of [0, 1, 0]) assert.equal((await call(front, '/v1/jobs', { bearer: 'cas_wrong' })).status, 401);
    for (const front of [0, 1]) {
      const blocked = await call(front, '/v1/jobs');
      assert.equal(blocked.status, 429, `front ${front} blocks the address, even with a valid token`);
      const wait = Number(blocked.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
    }
  });

  it('Redis frozen, then killed: REST and MCP answer 503 + Retry-After, nothing is started, and it works again after a restart', async (t) => {
    const { redis, service, call } = await twoFronts(t);
    const expect503 = async (label: string) => {
      const rest = await call(0, '/v1/jobs', { body: { prompt: 'hello' }, headers: { 'Idempotency-Key': `k-${label}` } });
      assert.equal(rest.status, 503, `${label}: REST`);
      assert.equal(rest.headers.get('retry-after'), '5');
      assert.match(rest.headers.get('content-type') ?? '', /application\/problem\+json/);
      const problem = (await rest.json()) as { type: string; detail: string; retryAfterSeconds: number };
      assert.equal(problem.type, 'https://claude-async.dev/problems/service-unavailable');
      assert.match(problem.detail, /Redis\) did not answer .*Try again in 5 s/);
      assert.equal(problem.retryAfterSeconds, 5);
      const mcp = await call(1, '/mcp', {
        body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
        headers: { accept: 'application/json, text/event-stream' },
      });
      assert.equal(mcp.status, 503, `${label}: MCP`);
      assert.equal(mcp.headers.get('retry-after'), '5');
      const rpc = (await mcp.json()) as { error: { code: number; message: string }; id: unknown };
      assert.match(rpc.error.message, /Redis\) did not answer/);
      assert.equal(rpc.id, 1);
    };
    await redis.frozenThenKilled(expect503);
    assert.equal((await service.list(ADMIN, {})).jobs.length, 0, 'no job was started while Redis was away');

    await redis.restart();
    // Each front's client reconnects on its own (fail-fast calls in between are 503 too).
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await call(0, '/v1/jobs', { body: { prompt: 'hello' }, headers: { 'Idempotency-Key': 'after' } });
      if (res.status === 201) break;
      assert.equal(res.status, 503, 'only 503 while reconnecting');
      assert.ok(Date.now() < deadline, 'the front did not recover after Redis restarted');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await service.list(ADMIN, {})).jobs.length, 1);
  });

  it('the OAuth consent post of a real front answers 503 + Retry-After while Redis is frozen or gone, never a 500, and approves once it is back', async (t) => {
    const redis = await RedisServer.start();
    t.after(() => redis.dispose());
    const { server, tokens } = await startOAuthServer({ env: { CLAUDE_ASYNC_REDIS_URL: redis.url } });
    t.after(() => server.stop());
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'a front keeps no job folders, and its /healthz does not ask for one');
    const clientId = String((await register(server.url)).json.client_id);
    const approve = async () => {
      const form = await openConsent(authorizeUrl(server.url, clientId, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
      assert.equal(form.status, 200, `the consent page itself needs no Redis: ${form.html.slice(0, 300)}`);
      return postConsent(server.url, { ...form.fields, token: tokens.alice!, decision: 'approve' });
    };
    const expect503 = async (label: string) => {
      const res = await approve();
      const page = await res.text();
      assert.equal(res.status, 503, `${label}: ${page.slice(0, 300)}`);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(page, /Redis\) did not answer/);
      assert.equal(res.headers.get('location'), null, 'no code was issued');
    };
    await redis.frozenThenKilled(expect503);
    await redis.restart();
    await waitFor(async () => {
      const res = await approve();
      await res.body?.cancel();
      assert.ok(res.status === 302 || res.status === 503, `only 503 while the front reconnects, not ${res.status}`);
      return res.status === 302 && new URL(res.headers.get('location')!).searchParams.get('code');
    }, 15_000, 'the consent to approve again once Redis is back');
  });
});

// Attacks from the outside review (issue 15, and issue 14 item 8) against the real server process:
// pre-approved tools beyond the permission cap, argv and text injection, stream floods and fan-out,
// revoked tokens keeping their streams, principals of different sources colliding, malformed URLs
// and Host headers, cwd probing, and a truncated log read by a follower. Every process started is
// ended; every temp dir removed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { TokenStore } from '../src/auth/token-store.js';
import type { Scope } from '../src/auth/types.js';
import { configFor } from '../src/config.js';
import { JobService } from '../src/jobs/service.js';
import { FAKE_CLAUDE, tempDir, waitFor } from './support/helpers.js';
import { connect, connectStdio } from './support/mcp-client.js';
import { openStream, raw, type OpenStream } from './support/raw-http.js';
import { INIT, bearer, jsonHeaders } from './support/raw-mcp.js';
import { SERVER_BIN, spawnServer, type RealServer } from './support/server-process.js';
import { suiteObject } from './support/suite.js';

/** The real server for these attacks: four jobs at a time at most, on a data dir the test seeded. */
const harden = (env: Record<string, string>, dataDir: string) => spawnServer({ env: { CLAUDE_ASYNC_MAX_CONCURRENT: '4', ...env }, dataDir });

const JWT_SECRET = `jwt-secret-${randomUUID()}-${randomUUID()}`;
type Json = Record<string, unknown>;

async function tokensFor<K extends string>(dataDir: string, specs: Record<K, Scope[]>): Promise<Record<K, string>> {
  const store = new TokenStore(path.join(dataDir, 'tokens.json'));
  const out = {} as Record<K, string>;
  for (const [name, scopes] of Object.entries(specs) as [K, Scope[]][]) out[name] = (await store.create(name, scopes)).token;
  return out;
}

/** A fresh data dir with these API tokens, and the server on it (its stop() removes the dir). */
async function startHardened<K extends string>(env: Record<string, string>, specs: Record<K, Scope[]>): Promise<{ server: RealServer; tokens: Record<K, string> }> {
  const dataDir = tempDir('ca-harden-');
  const tokens = await tokensFor(dataDir, specs);
  return { server: await harden(env, dataDir), tokens };
}

/** Call inside a describe: startHardened's server for its tests, stopped after them; tokens are filled in before the first. */
function hardenedForSuite<K extends string>(env: Record<string, string>, specs: Record<K, Scope[]>): { server: RealServer; tokens: Record<K, string> } {
  const tokens = {} as Record<K, string>;
  const server = suiteObject(async () => {
    const started = await startHardened(env, specs);
    Object.assign(tokens, started.tokens);
    return started.server;
  }, (started) => started.stop());
  return { server, tokens };
}

async function jwtFor(server: RealServer, sub: string, scopes = 'jobs:read jobs:write') {
  return new SignJWT({ scope: scopes })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub).setIssuedAt().setExpirationTime('10m').setAudience(`${server.url}/mcp`)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function health(server: RealServer): Promise<{ streams: number; followedJobs: number }> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as { streams: number; followedJobs: number };
}

/** A 400 problem document naming `field`; returns its detail. */
async function refusedField(server: RealServer, token: string, body: Json, field: string): Promise<string> {
  const res = await server.rest('/v1/jobs', { token, body });
  assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 200)} answered ${res.status}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.field, field, `${JSON.stringify(body).slice(0, 200)}: the problem names ${String(res.body.field)}, not ${field}`);
  return String(res.body.detail);
}

describe('tool pre-approval is capped with the permission mode (issue 15.1)', () => {
  const { server, tokens } = hardenedForSuite({ CLAUDE_ASYNC_MAX_PERMISSION_MODE: 'dontAsk', CLAUDE_ASYNC_DEFAULT_PERMISSION_MODE: 'dontAsk' }, { admin: ['admin'] });

  it('with the cap at dontAsk, pre-approving Bash, Write, Edit or WebFetch is a 400 naming the rule, and nothing is created', async () => {
    const token = tokens.admin;
    const before = fs.readdirSync(path.join(server.dataDir, 'jobs')).length;
    const detail = await refusedField(server, token, { prompt: 'x', allowedTools: ['Bash', 'Write', 'Edit', 'WebFetch'] }, 'allowedTools');
    assert.match(detail, /'Bash'/);
    for (const rule of ['Write', 'Edit', 'WebFetch', 'Bash(git log:*)', 'Bash(*)', 'mcp__other__tool']) {
      assert.match(await refusedField(server, token, { prompt: 'x', allowedTools: ['Read', rule] }, 'allowedTools'), new RegExp(`'${rule.replace(/[()*]/g, '\\$&')}'`));
    }
    // One rule per item: a comma would let claude split "Read,Bash" into two rules after our check.
    for (const rules of [['Read,Bash'], ['Read Bash'], ['--dangerously-skip-permissions'], ['-Read'], ['Bash(a)(b)'], ['Read\u0000']]) {
      await refusedField(server, token, { prompt: 'x', allowedTools: rules }, 'allowedTools.0');
      await refusedField(server, token, { prompt: 'x', disallowedTools: rules }, 'disallowedTools.0');
    }
    assert.equal(fs.readdirSync(path.join(server.dataDir, 'jobs')).length, before, 'a refused start created a job folder');
    // What the capped mode allows anyway stays grantable, and any deny rule with valid syntax is fine.
    const ok = await server.rest('/v1/jobs', { token, body: { prompt: 'x', allowedTools: ['Read', 'Grep'], disallowedTools: ['Bash', 'WebFetch(domain:example.com)'] } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  it('CLAUDE_ASYNC_GRANTABLE_TOOLS lets the operator grant a Bash rule, and only that rule', async (t) => {
    const dataDir = tempDir('ca-harden-');
    const { admin } = await tokensFor(dataDir, { admin: ['admin'] });
    const granting = await harden({ CLAUDE_ASYNC_MAX_PERMISSION_MODE: 'dontAsk', CLAUDE_ASYNC_GRANTABLE_TOOLS: 'Read,Bash(git log:*)' }, dataDir);
    t.after(() => granting.stop());
    const ok = await granting.rest('/v1/jobs', { token: admin!, body: { prompt: 'x', allowedTools: ['Bash(git log:*)'] } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const spec = JSON.parse(fs.readFileSync(path.join(dataDir, 'jobs', String(ok.body.jobId), 'spec.json'), 'utf8')) as { args: string[] };
    assert.deepEqual(spec.args.slice(spec.args.indexOf('--allowedTools'), spec.args.indexOf('--allowedTools') + 2), ['--allowedTools', 'Bash(git log:*)']);
    for (const rule of ['Bash', 'Bash(git push:*)', 'Edit']) await refusedField(granting, admin!, { prompt: 'x', allowedTools: [rule] }, 'allowedTools');
  });
});

describe('inputs that reach argv or text are clean (issue 15.7)', () => {
  const { server, tokens } = hardenedForSuite({}, { admin: ['admin'] });

  it('flag-like model, effort and resumeSessionId, and control characters in any string field, are 400s naming the field', async () => {
    const token = tokens.admin;
    const cases: [Json, string][] = [
      [{ model: '--dangerously-skip-permissions' }, 'model'],
      [{ model: '-x' }, 'model'],
      [{ model: 'sonnet\n--verbose' }, 'model'],
      [{ effort: '--max' }, 'effort'],
      [{ resumeSessionId: '--fork-session-xx' }, 'resumeSessionId'],
      [{ resumeSessionId: '-3f1c2a9e-1111' }, 'resumeSessionId'],
      [{ appendSystemPrompt: 'be nice\u0000--dangerously-skip-permissions' }, 'appendSystemPrompt'],
      [{ appendSystemPrompt: 'ansi \u001b[2J' }, 'appendSystemPrompt'],
      [{ title: 'two\nlines' }, 'title'],
      [{ title: 'nul\u0000' }, 'title'],
      [{ title: '\u001b[31mred\u001b[0m' }, 'title'],
      [{ title: 'forged\u2028line' }, 'title'],
      [{ title: 'c1 \u009b31m' }, 'title'],
      [{ cwd: `${'/tmp'}\n/etc` }, 'cwd'],
      [{ prompt: 'hello\u0000world' }, 'prompt'],
      [{ prompt: 'bell\u0007' }, 'prompt'],
    ];
    const bodies: string[] = [];
    for (const [extra, field] of cases) {
      const res = await server.rest('/v1/jobs', { token, body: { prompt: 'x', ...extra } });
      bodies.push(JSON.stringify(res.body));
      assert.equal(res.status, 400, `${JSON.stringify(extra)} answered ${res.status}`);
      assert.equal(res.body.field, field, `${JSON.stringify(extra)} names ${String(res.body.field)}`);
      assert.match(String(res.body.detail), new RegExp(`^${field}: `));
    }
    // The same over MCP: a tool error, never a job.
    const { client } = await connect(server.url, token);
    try {
      const answer = await client.callTool({ name: 'claude_start', arguments: { prompt: 'x', appendSystemPrompt: 'a\u0000b' } });
      assert.equal(answer.isError, true);
      bodies.push(JSON.stringify(answer.content));
      const model = await client.callTool({ name: 'claude_start', arguments: { prompt: 'x', model: '--dangerously-skip-permissions' } });
      assert.equal(model.isError, true);
      bodies.push(JSON.stringify(model.content));
    } finally {
      await client.close();
    }
    // No failure message shows where the server keeps its files or its claude.
    for (const body of bodies) {
      assert.ok(!body.includes(server.dataDir), `a failure message shows the data dir: ${body.slice(0, 300)}`);
      assert.ok(!body.includes(FAKE_CLAUDE), `a failure message shows the claude path: ${body.slice(0, 300)}`);
    }
    assert.deepEqual(fs.readdirSync(path.join(server.dataDir, 'jobs')), [], 'a refused start created a job folder');
    // Tabs and line breaks in free text are fine; a model name with a version suffix is fine.
    const ok = await server.rest('/v1/jobs', { token, body: { prompt: 'line one\n\tline two\r\n', appendSystemPrompt: 'a\nb', model: 'claude-opus-4-1[1m]', title: 'plain title' } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });
});

describe('failure reasons never show server paths (issue 15.7)', () => {
  it('a job whose claude cannot be started fails with a reason that names the CLI, not where it lives', async (t) => {
    const dataDir = tempDir('ca-harden-');
    const { admin } = await tokensFor(dataDir, { admin: ['admin'] });
    const hidden = path.join(dataDir, 'private-tools');
    fs.mkdirSync(hidden);
    fs.writeFileSync(path.join(hidden, 'claude-not-executable'), '#!/bin/sh\n', { mode: 0o600 });
    for (const bin of [path.join(hidden, 'no-such-claude'), path.join(hidden, 'claude-not-executable')]) {
      const server = await harden({ CLAUDE_ASYNC_CLAUDE_BIN: bin }, bin.endsWith('no-such-claude') ? dataDir : tempDir('ca-harden-'));
      t.after(() => server.stop());
      const token = bin.endsWith('no-such-claude') ? admin! : (await tokensFor(server.dataDir, { admin: ['admin'] })).admin!;
      const job = await server.rest('/v1/jobs', { token, body: { prompt: 'x' } });
      const done = await waitFor(async () => {
        const res = (await (await fetch(`${server.url}/v1/jobs/${String(job.body.jobId)}`, { headers: bearer(token) })).json()) as Json;
        return res.status === 'failed' ? res : undefined;
      }, 30_000, 'the job to fail');
      const reason = String(done.statusReason);
      assert.match(reason, /claude CLI/);
      assert.ok(!reason.includes(hidden), `the reason shows a server path: ${reason}`);
      const list = await (await fetch(`${server.url}/v1/jobs`, { headers: bearer(token) })).text();
      assert.ok(!list.includes(hidden), 'the job list shows a server path');
    }
  });
});

describe('errors are 4xx problem documents; Host headers are parsed strictly (issue 15.8)', () => {
  const { server, tokens } = hardenedForSuite({}, { admin: ['admin'] });

  it('an undecodable path parameter is a 400 problem+json, never a 500 or a stack in the log', async () => {
    const token = tokens.admin;
    for (const [method, p] of [['GET', '/v1/jobs/%ZZ'], ['GET', '/v1/jobs/%ZZ/output'], ['GET', '/v1/jobs/%ZZ/events'], ['DELETE', '/v1/jobs/%E0%A4%A'], ['POST', '/v1/jobs/%/cancel']] as const) {
      const res = await raw(server.url, { method, path: p, headers: bearer(token) });
      assert.equal(res.status, 400, `${method} ${p} answered ${res.status}: ${res.body.slice(0, 200)}`);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      assert.equal((JSON.parse(res.body) as Json).status, 400);
    }
    assert.doesNotMatch(server.logs(), /URIError|request failed/);
  });

  it('Host headers with userinfo, a second port or a path are refused; the real ones pass', async () => {
    const token = tokens.admin;
    const port = server.port;
    for (const host of [`127.0.0.1:${port}@evil.com`, `localhost:${port}@evil.com:${port}`, `evil.com@127.0.0.1:${port}`, `127.0.0.1:${port}:80`, `127.0.0.1:${port}/x`, `127.0.0.1:${port}#x`, `127.0.0.1 :${port}`, `[::1]x:${port}`, `127.0.0.1:${port}?`, `127.0.0.1:abc`]) {
      for (const p of ['/v1/jobs', '/healthz']) {
        const res = await raw(server.url, { path: p, headers: { ...bearer(token), Host: host } });
        assert.equal(res.status, 403, `Host '${host}' on ${p} answered ${res.status}`);
      }
      const mcp = await raw(server.url, { method: 'POST', path: '/mcp', headers: { ...jsonHeaders(token), Host: host }, body: JSON.stringify(INIT) });
      assert.equal(mcp.status, 403, `Host '${host}' on /mcp answered ${mcp.status}`);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, '127.0.0.1']) {
      const res = await raw(server.url, { path: '/v1/jobs', headers: { ...bearer(token), Host: host } });
      assert.equal(res.status, 200, `Host '${host}' answered ${res.status}`);
    }
  });
});

describe('the cwd check leaks less and is rate limited (issue 15.13)', () => {
  const { server, tokens } = hardenedForSuite({ CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '6' }, { alice: ['jobs:read', 'jobs:write'] });

  it('missing, outside and not-a-directory read alike without naming the roots, and each refused start counts', async () => {
    const token = tokens.alice;
    fs.writeFileSync(path.join(server.work, 'file.txt'), 'x');
    const probes = [path.join(server.work, 'missing'), '/etc', path.join(server.work, 'file.txt'), '/no/such/dir'];
    const details: string[] = [];
    for (const cwd of probes) details.push((await refusedField(server, token, { prompt: 'x', cwd }, 'cwd')).replace(cwd, 'CWD'));
    assert.equal(new Set(details).size, 1, `the answers differ: ${details.join(' | ')}`);
    assert.ok(!details[0]!.includes(server.work), 'the answer names the allowed root');
    // 4 refused + 2 good starts use up the 6 a minute; the 7th is refused whatever it asks.
    for (let i = 0; i < 2; i++) assert.equal((await server.rest('/v1/jobs', { token, body: { prompt: 'x' } })).status, 201);
    const limited = await server.rest('/v1/jobs', { token, body: { prompt: 'x' } });
    assert.equal(limited.status, 429);
    const probe = await server.rest('/v1/jobs', { token, body: { prompt: 'x', cwd: '/etc' } });
    assert.equal(probe.status, 429, 'probing cwd is free once the limit is reached');
  });
});

describe('streams are bounded per principal and each job is followed once (issue 15.3)', () => {
  let server: RealServer;
  let tokens: Record<string, string> = {};
  const open: OpenStream[] = [];
  before(async () => ({ server, tokens } = await startHardened({ CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL: '3' }, { alice: ['jobs:read', 'jobs:write'], bob: ['jobs:read', 'jobs:write'], root: ['admin'], ops: ['admin'], audit: ['admin'] })));
  after(async () => {
    for (const s of open) s.abort();
    await server?.stop();
  });

  it('past the cap a principal gets 429 on REST events, claude_wait, tasks/result and MCP GET streams; others are unaffected', async () => {
    const job = await server.rest('/v1/jobs', { token: tokens.alice!, body: { prompt: '#fake sleep 60000\nlong' } });
    const jobId = String(job.body.jobId);
    const events = `/v1/jobs/${jobId}/events`;
    for (let i = 0; i < 3; i++) {
      const s = await openStream(server.url, events, bearer(tokens.alice!));
      open.push(s);
      assert.equal(s.status, 200);
    }
    const fourth = await raw(server.url, { path: events, headers: bearer(tokens.alice!) });
    assert.equal(fourth.status, 429);
    assert.match(String(fourth.headers['content-type']), /problem\+json/);
    assert.ok(Number(fourth.headers['retry-after']) > 0);

    const session = await fetch(`${server.url}/mcp`, { method: 'POST', headers: jsonHeaders(tokens.alice!), body: JSON.stringify(INIT) });
    const sessionId = session.headers.get('mcp-session-id')!;
    await session.text();
    const mcpHeaders = { ...jsonHeaders(tokens.alice!), 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' };
    const wait = await fetch(`${server.url}/mcp`, { method: 'POST', headers: mcpHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'claude_wait', arguments: { jobId, timeoutSeconds: 1 } } }) });
    assert.equal(wait.status, 429, 'claude_wait past the cap');
    await wait.body?.cancel();
    const result = await fetch(`${server.url}/mcp`, { method: 'POST', headers: mcpHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tasks/result', params: { taskId: jobId } }) });
    assert.equal(result.status, 429, 'tasks/result past the cap');
    await result.body?.cancel();
    const get = await fetch(`${server.url}/mcp`, { headers: { ...bearer(tokens.alice!), Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' } });
    assert.equal(get.status, 429, 'an MCP GET stream past the cap');
    await get.body?.cancel();
    // A short call is not a stream: it still works.
    const list = await fetch(`${server.url}/mcp`, { method: 'POST', headers: mcpHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'claude_jobs', arguments: {} } }) });
    assert.equal(list.status, 200);
    await list.text();

    // Bob is not starved by alice's streams.
    const bobs = await openStream(server.url, `/v1/jobs/${String((await server.rest('/v1/jobs', { token: tokens.bob!, body: { prompt: '#fake sleep 60000\nbob' } })).body.jobId)}/events`, bearer(tokens.bob!));
    open.push(bobs);
    assert.equal(bobs.status, 200);

    // Closing one of alice's frees its slot.
    open[0]!.abort();
    await waitFor(async () => (await health(server)).streams === 3, 10_000, 'the closed stream to be released');
    const again = await openStream(server.url, events, bearer(tokens.alice!));
    open.push(again);
    assert.equal(again.status, 200);
    await fetch(`${server.url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: bearer(tokens.alice!) }).then((r) => r.text());
  });

  it('twelve watchers of one job share one follower, and every one gets every line', async () => {
    for (const s of open.splice(0)) s.abort();
    await waitFor(async () => (await health(server)).followedJobs === 0, 10_000, 'earlier streams to be released');
    const job = await server.rest('/v1/jobs', { token: tokens.alice!, body: { prompt: '#fake tick 10 20\n#fake sleep 60000\nfan out' } });
    const jobId = String(job.body.jobId);
    const watchers: OpenStream[] = [];
    for (const token of [tokens.alice!, tokens.root!, tokens.ops!, tokens.audit!]) {
      for (let i = 0; i < 3; i++) {
        const s = await openStream(server.url, `/v1/jobs/${jobId}/events?format=jsonl`, bearer(token));
        assert.equal(s.status, 200);
        watchers.push(s);
      }
    }
    open.push(...watchers);
    // The init line and ten ticks reach every watcher while the job sleeps.
    await waitFor(() => watchers.every((s) => s.events.length >= 11), 20_000, 'every watcher to get the first lines');
    const h = await health(server);
    assert.equal(h.followedJobs, 1, 'one job is followed once, however many watch it');
    assert.equal(h.streams, 12);
    await fetch(`${server.url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: bearer(tokens.alice!) }).then((r) => r.text());
    await Promise.all(watchers.map((s) => s.closed));
    const first = watchers[0]!.events;
    assert.equal(first.at(-1)!.event, 'status');
    assert.match(first.at(-1)!.data, /"cancelled"/);
    assert.ok(first.filter((e) => e.event === 'output').length >= 11, `only ${first.length} events`);
    for (const s of watchers) assert.deepEqual(s.events, first, 'a watcher saw different events');
    await waitFor(async () => (await health(server)).followedJobs === 0, 10_000, 'the follower to stop with its last watcher');
  });
});

describe('a revoked token loses its open streams (issue 15.9)', () => {
  const { server, tokens } = hardenedForSuite({ CLAUDE_ASYNC_STREAM_RECHECK: '1s' }, { alice: ['jobs:read', 'jobs:write'], bob: ['jobs:read', 'jobs:write'], root: ['admin'] });

  it('revoking a token with the CLI closes its REST event stream and its MCP GET stream; other tokens keep theirs', async () => {
    const job = await server.rest('/v1/jobs', { token: tokens.alice!, body: { prompt: '#fake sleep 60000\nlong' } });
    const jobId = String(job.body.jobId);
    const rest = await openStream(server.url, `/v1/jobs/${jobId}/events`, bearer(tokens.alice!));
    assert.equal(rest.status, 200);
    const init = await fetch(`${server.url}/mcp`, { method: 'POST', headers: jsonHeaders(tokens.alice!), body: JSON.stringify(INIT) });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    const get = await openStream(server.url, '/mcp', { ...bearer(tokens.alice!), 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' });
    assert.equal(get.status, 200);
    const bobJob = await server.rest('/v1/jobs', { token: tokens.bob!, body: { prompt: '#fake sleep 60000\nbob' } });
    const bobs = await openStream(server.url, `/v1/jobs/${String(bobJob.body.jobId)}/events`, bearer(tokens.bob!));
    try {
      // Another process revokes the token, as `claude-async token revoke alice` does.
      assert.equal(await new TokenStore(path.join(server.dataDir, 'tokens.json')).revoke('alice'), true);
      await Promise.race([
        Promise.all([rest.closed, get.closed]),
        new Promise((_, reject) => setTimeout(() => reject(new Error('the streams of a revoked token stayed open')), 20_000).unref()),
      ]);
      const last = rest.events.at(-1);
      assert.equal(last?.event, 'error');
      assert.match(String(last?.data), /token-revoked/);
      assert.equal((await health(server)).streams, 1, "bob's stream should be the only one left");
    } finally {
      rest.abort();
      get.abort();
      bobs.abort();
      for (const id of [jobId, String(bobJob.body.jobId)]) await fetch(`${server.url}/v1/jobs/${id}/cancel`, { method: 'POST', headers: bearer(tokens.root!) }).then((r) => r.text());
    }
  });
});

describe('principals from different sources cannot collide (issue 15.11)', () => {
  let server: RealServer;
  let tokens: Record<string, string> = {};
  let legacyJob = '';
  before(async () => {
    const dataDir = tempDir('ca-harden-');
    fs.mkdirSync(path.join(dataDir, 'work'), { recursive: true });
    // A job from before owners were namespaced: its owner is the bare token name.
    const config = configFor({ dataDir, claudeBin: FAKE_CLAUDE, defaultCwd: path.join(dataDir, 'work'), allowedRoots: [path.join(dataDir, 'work')], retentionMs: 0 });
    const old = await JobService.open(config);
    legacyJob = (await old.start({ prompt: 'from the old version' }, { id: 'alice', admin: false })).jobId;
    await old.wait(legacyJob, { id: 'alice', admin: false }, { timeoutMs: 20_000 });
    await old.close();
    tokens = await tokensFor(dataDir, { alice: ['jobs:read', 'jobs:write'] });
    server = await harden({ CLAUDE_ASYNC_JWT_SECRET: JWT_SECRET }, dataDir);
  });
  after(async () => {
    if (!server) return; // start-up failed
    // These short jobs end on their own; removing the folder while a runner still writes would race.
    const jobsDir = path.join(server.dataDir, 'jobs');
    await waitFor(() => fs.readdirSync(jobsDir).every((id) => fs.existsSync(path.join(jobsDir, id, 'exit.json'))), 60_000, 'the jobs to end').catch(() => {});
    await server.stop();
  });

  const listIds = async (token: string) => ((await (await fetch(`${server.url}/v1/jobs?limit=200`, { headers: bearer(token) })).json()) as { jobs: { jobId: string; owner: string }[] }).jobs;

  it('a JWT with sub "local" does not see stdio jobs, and a JWT sub equal to a token name does not see its jobs', async () => {
    // A job started over stdio, as Claude Desktop's stdio entry would, on the same data dir.
    const env: Record<string, string> = { ...server.env };
    delete env.CLAUDE_ASYNC_PORT;
    const { client } = await connectStdio({ command: process.execPath, args: [SERVER_BIN, 'stdio'], env, stderr: 'ignore' });
    let stdioJob = '';
    try {
      const started = await client.callTool({ name: 'claude_start', arguments: { prompt: 'stdio job' } });
      stdioJob = String((started.structuredContent as Json).jobId);
    } finally {
      await client.close();
    }
    const tokenJob = String((await server.rest('/v1/jobs', { token: tokens.alice!, body: { prompt: 'token job' } })).body.jobId);
    const local = await jwtFor(server, 'local');
    const alice = await jwtFor(server, 'alice');
    const jwtJob = String((await server.rest('/v1/jobs', { token: alice, body: { prompt: 'jwt job' } })).body.jobId);

    const seenByLocal = await listIds(local);
    assert.ok(!seenByLocal.some((j) => j.jobId === stdioJob), 'a JWT with sub "local" lists the stdio jobs');
    const seenByJwtAlice = await listIds(alice);
    assert.deepEqual(seenByJwtAlice.map((j) => j.jobId), [jwtJob], 'the JWT alice sees only its own job');
    assert.match(seenByJwtAlice[0]!.owner, /^jwt:\|alice$/);
    for (const id of [stdioJob, tokenJob, legacyJob]) {
      assert.equal((await fetch(`${server.url}/v1/jobs/${id}`, { headers: bearer(alice) })).status, 404);
      assert.equal((await fetch(`${server.url}/v1/jobs/${id}`, { headers: bearer(local) })).status, 404);
    }
    // The static token alice sees its new job and the job it owned before the upgrade, nothing else.
    const seenByToken = await listIds(tokens.alice!);
    assert.deepEqual(seenByToken.map((j) => j.jobId).sort(), [tokenJob, legacyJob].sort());
    assert.equal(seenByToken.find((j) => j.jobId === tokenJob)!.owner, 'token:alice');
    assert.equal(seenByToken.find((j) => j.jobId === legacyJob)!.owner, 'alice', 'an existing job keeps its owner');
  });
});

describe('followers never see half lines (issue 14.8)', () => {
  const { server, tokens } = hardenedForSuite({}, { admin: ['admin'] });

  it('truncating out.jsonl mid-line while /events follows it yields only whole JSON lines', async () => {
    const token = tokens.admin;
    const job = await server.rest('/v1/jobs', { token, body: { prompt: '#fake tick 400 50\ntruncate me' } });
    const jobId = String(job.body.jobId);
    const out = path.join(server.dataDir, 'jobs', jobId, 'out.jsonl');
    const stream = await openStream(server.url, `/v1/jobs/${jobId}/events?format=jsonl`, bearer(token));
    assert.equal(stream.status, 200);
    await waitFor(() => stream.events.length >= 5, 20_000, 'the first events');
    // Cut the log in the middle of a line, twice: once a little, once to a few bytes.
    const size = fs.statSync(out).size;
    fs.truncateSync(out, size - 7);
    const seen = stream.events.length;
    await waitFor(() => stream.events.length >= seen + 5, 20_000, 'events after the first truncation');
    fs.truncateSync(out, 3);
    const seenAgain = stream.events.length;
    await waitFor(() => stream.events.length >= seenAgain + 5, 20_000, 'events after the second truncation');
    await fetch(`${server.url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: bearer(token) }).then((r) => r.text());
    await stream.closed;
    const outputs = stream.events.filter((e) => e.event === 'output');
    for (const e of outputs) assert.doesNotThrow(() => JSON.parse(e.data), `a half line was sent: ${e.data.slice(0, 120)}`);
    assert.equal(stream.events.at(-1)!.event, 'status');
    assert.ok(outputs.length > seen, 'the stream carried on after the truncations');
  });
});

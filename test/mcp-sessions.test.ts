// Sessions, rights, subscriptions, streams and browsers on the MCP face, against the real server
// process: issue 14 items 14-15 and issue 15 items 2, 4, 6 and 12.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { hasTypeArray } from '../src/mcp/json-schema.js';
import { originAllowed } from '../src/http/security.js';
import { SessionRegistry } from '../src/http/sessions.js';
import { waitFor } from './support/helpers.js';
import { rawSession, type RawSession } from './support/raw-mcp.js';
import { suiteServer, type RealServer } from './support/server-process.js';
import { messagesOf, readSse } from './support/sse.js';

const JWT_SECRET = `jwt-secret-${randomUUID()}-${randomUUID()}`;

/** An HS256 token the server accepts (audience = its MCP resource). */
async function jwtFor(server: RealServer, sub: string, scope: string): Promise<string> {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setAudience(`${server.url}/mcp`)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

const stillThere = async (session: RawSession) => (await session.post({ jsonrpc: '2.0', id: 1, method: 'ping' })).status;

describe('MCP sessions: idle means nothing open (issue 14 item 14)', () => {
  // Long enough that a stall of the machine between opening the two sessions and counting them
  // does not reap one early; the reaping itself is waited for, not timed.
  const server = suiteServer({ env: { CLAUDE_ASYNC_AUTH: 'none', CLAUDE_ASYNC_SESSION_IDLE: '5s' } });

  it('a client that only listens on its GET stream outlives CLAUDE_ASYNC_SESSION_IDLE; one with nothing open is reaped', async () => {
    const listener = await rawSession(server.url);
    const walkedAway = await rawSession(server.url);
    const stream = await fetch(`${server.url}/mcp`, { headers: { ...listener.headers, Accept: 'text/event-stream' } });
    assert.equal(stream.status, 200);
    // The witness with nothing open goes after the idle time (watched on /healthz, since a request
    // would refresh it); by then the listener had sent nothing for as long.
    const openSessions = async () => ((await (await fetch(`${server.url}/healthz`)).json()) as { sessions: number }).sessions;
    assert.equal(await openSessions(), 2);
    await waitFor(async () => (await openSessions()) === 1, 40_000, 'the idle session to be reaped');
    assert.equal(await stillThere(walkedAway), 404);
    assert.equal(await stillThere(listener), 200, 'the listening session was reaped');
    await stream.body?.cancel();
  });
});

describe('MCP rights, session caps and subscriptions (issue 15 items 2, 4, 6)', () => {
  const server = suiteServer({
    env: {
      CLAUDE_ASYNC_JWT_SECRET: JWT_SECRET, CLAUDE_ASYNC_MAX_SESSIONS: '5', CLAUDE_ASYNC_MAX_SESSIONS_PER_PRINCIPAL: '3',
      CLAUDE_ASYNC_MAX_SUBSCRIPTIONS: '2', CLAUDE_ASYNC_SESSION_IDLE: '1h',
    },
  });

  it('rights come from the token of each request: an admin-opened session used with a read-only token of the same subject sees only its own jobs and cannot cancel', async () => {
    const admin = await jwtFor(server, 'alice', 'admin');
    const aliceReadOnly = await jwtFor(server, 'alice', 'jobs:read');
    const bob = await jwtFor(server, 'bob', 'jobs:read jobs:write');
    const bobJob = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { Authorization: `Bearer ${bob}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: '#fake tick 100 100\nbob\'s' }) });
    const { jobId } = (await bobJob.json()) as { jobId: string };

    const session = await rawSession(server.url, { token: admin });
    const asAdmin = await session.call('tools/call', { name: 'claude_jobs', arguments: {} });
    assert.ok(asAdmin.result.structuredContent.jobs.some((j: { jobId: string }) => j.jobId === jobId), 'admin should see bob\'s job');

    const readOnly = { Authorization: `Bearer ${aliceReadOnly}` };
    const listed = await session.call('tools/call', { name: 'claude_jobs', arguments: {} }, readOnly);
    assert.equal(listed.result.structuredContent.jobs.length, 0, 'the read-only token listed other owners\' jobs');
    const read = await session.call('resources/read', { uri: `claude-async://jobs/${jobId}` }, readOnly);
    assert.equal(read.error?.code, -32002);
    const cancel = await session.post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'claude_cancel', arguments: { jobId } } }, readOnly);
    assert.equal(cancel.status, 403);
    const taskCancel = await session.post({ jsonrpc: '2.0', id: 6, method: 'tasks/cancel', params: { taskId: jobId } }, readOnly);
    assert.equal(taskCancel.status, 403);
    // Every tool that changes jobs is refused up front alike (the list lives with the tools).
    const approve = await session.post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'claude_approve', arguments: { jobId, approvalId: 'ap-0000000000000000', decision: 'allow' } } }, readOnly);
    assert.equal(approve.status, 403);
    assert.match(approve.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    // Another principal's token on this session: as unknown as a made-up id.
    assert.equal((await session.post({ jsonrpc: '2.0', id: 7, method: 'ping' }, { Authorization: `Bearer ${bob}` })).status, 404);
    const still = await fetch(`${server.url}/v1/jobs/${jobId}`, { headers: { Authorization: `Bearer ${bob}` } });
    assert.match(((await still.json()) as { status: string }).status, /queued|running/);
    await fetch(`${server.url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${bob}` } });
    await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: session.headers });
  });

  it('sessions are capped per principal; at the global cap only idle sessions of the principal holding the most are evicted', async () => {
    const [carol, dave, erin] = await Promise.all(['carol', 'dave', 'erin'].map((sub) => jwtFor(server, sub, 'jobs:read')));
    const daveSession = await rawSession(server.url, { token: dave! });
    const daveStream = await fetch(`${server.url}/mcp`, { headers: { ...daveSession.headers, Accept: 'text/event-stream' } });
    assert.equal(daveStream.status, 200);

    const carols: RawSession[] = [];
    for (let i = 0; i < 3; i++) carols.push(await rawSession(server.url, { token: carol! }));
    // A 4th of carol's: her oldest idle session makes room (per-principal cap 3).
    carols.push(await rawSession(server.url, { token: carol! }));
    assert.equal(await stillThere(carols[0]!), 404, 'carol\'s oldest idle session should have been closed');
    assert.equal(await stillThere(carols[1]!), 200);

    // 1 (dave) + 3 (carol) = 4 open; erin's first is the 5th, her second hits the global cap of 5:
    // carol holds the most, so one of hers goes, never dave's live one.
    const erins = [await rawSession(server.url, { token: erin! }), await rawSession(server.url, { token: erin! })];
    assert.equal(await stillThere(daveSession), 200, 'another principal\'s live session was evicted');
    assert.equal(await stillThere(erins[0]!), 200);
    const carolsLeft = (await Promise.all(carols.slice(1).map(stillThere))).filter((s) => s === 200).length;
    assert.equal(carolsLeft, 2);

    // When all of a principal's sessions are in use, a new one is refused, nothing is closed.
    const streams = await Promise.all(erins.map((s) => fetch(`${server.url}/mcp`, { headers: { ...s.headers, Accept: 'text/event-stream' } })));
    const third = await rawSession(server.url, { token: erin! });
    const streams2 = await fetch(`${server.url}/mcp`, { headers: { ...third.headers, Accept: 'text/event-stream' } });
    const refused = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { Authorization: `Bearer ${erin}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
    assert.equal(refused.status, 429);
    assert.equal(await stillThere(daveSession), 200);
    for (const s of [...streams, streams2, daveStream]) await s.body?.cancel();
  });

  it('subscriptions take canonical job URIs only and are capped per session', async () => {
    const token = await jwtFor(server, 'frank', 'jobs:read jobs:write');
    const session = await rawSession(server.url, { token });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await session.call('tools/call', { name: 'claude_start', arguments: { prompt: `job ${i}` } })).result.structuredContent.jobId);
    const alias = `claude-async://jobs/%${ids[0]!.charCodeAt(0).toString(16)}${ids[0]!.slice(1)}`;
    const aliased = await session.call('resources/subscribe', { uri: alias });
    assert.equal(aliased.error?.code, -32002, JSON.stringify(aliased));
    assert.equal(aliased.error?.data?.uri, alias);
    assert.deepEqual((await session.call('resources/subscribe', { uri: `claude-async://jobs/${ids[0]}` })).result, {});
    assert.deepEqual((await session.call('resources/subscribe', { uri: `claude-async://jobs/${ids[0]}` })).result, {}, 'subscribing again to one resource is not a second subscription');
    assert.deepEqual((await session.call('resources/subscribe', { uri: `claude-async://jobs/${ids[1]}` })).result, {});
    const third = await session.call('resources/subscribe', { uri: `claude-async://jobs/${ids[2]}` });
    assert.ok(third.error, 'a third subscription was accepted with a cap of 2');
    assert.match(third.error.message, /2 resource subscriptions/);
    assert.deepEqual((await session.call('resources/unsubscribe', { uri: `claude-async://jobs/${ids[0]}` })).result, {});
    assert.deepEqual((await session.call('resources/subscribe', { uri: `claude-async://jobs/${ids[2]}` })).result, {});
  });
});

describe('what every client can read and resume (issue 14 item 15)', () => {
  const server = suiteServer({ env: { CLAUDE_ASYNC_AUTH: 'none', CLAUDE_ASYNC_SSE_RETRY: '1500ms' } });

  it('tools/list schemas have no type arrays; nullable fields are anyOf', async () => {
    const session = await rawSession(server.url);
    const { tools } = (await session.call('tools/list')).result as { tools: { name: string; inputSchema: unknown; outputSchema?: { properties: Record<string, unknown> } }[] };
    for (const tool of tools) {
      assert.equal(hasTypeArray(tool.inputSchema), false, `${tool.name} inputSchema`);
      assert.equal(hasTypeArray(tool.outputSchema), false, `${tool.name} outputSchema`);
    }
    const check = tools.find((t) => t.name === 'claude_check')!;
    assert.deepEqual(check.outputSchema!.properties.exitCode, { anyOf: [{ type: 'number' }, { type: 'null' }] });
  });

  it('SEP-1699 (Transports › Resumability): POST and GET streams start with a priming event with a retry field; resuming from it replays what followed', async () => {
    const session = await rawSession(server.url);
    // Negotiated 2025-11-25 but a later header says 2025-03-26 (as the conformance client sends).
    const res = await session.post({ jsonrpc: '2.0', id: 11, method: 'tools/list' }, { 'Mcp-Protocol-Version': '2025-03-26' });
    const { events } = await readSse(res, (evs) => messagesOf(evs).some((m) => m.id === 11));
    assert.equal(events[0]!.data, '', 'the first event is not a priming event');
    assert.ok(events[0]!.id);
    assert.equal(events[0]!.retry, 1500);

    const get = await fetch(`${server.url}/mcp`, { headers: { ...session.headers, Accept: 'text/event-stream' } });
    const primed = await readSse(get, (evs) => evs.length >= 1);
    const priming = primed.events[0]!;
    assert.equal(priming.data, '');
    assert.equal(priming.retry, 1500);
    // Something happens while the client is away; resuming from the priming id brings it.
    await session.call('tools/call', { name: 'claude_start', arguments: { prompt: 'while away' } });
    const resumed = await fetch(`${server.url}/mcp`, { headers: { ...session.headers, Accept: 'text/event-stream', 'Last-Event-ID': priming.id! } });
    assert.equal(resumed.status, 200);
    const replay = await readSse(resumed, (evs) => messagesOf(evs).some((m) => m.method === 'notifications/resources/list_changed'));
    assert.ok(replay.events.every((e) => e.data !== ''), 'a priming event was replayed');

    // A session that negotiated 2025-06-18 gets none: its clients cannot parse empty data.
    const old = await rawSession(server.url, { protocolVersion: '2025-06-18' });
    const oldRes = await old.post({ jsonrpc: '2.0', id: 12, method: 'tools/list' });
    const oldEvents = await readSse(oldRes, (evs) => messagesOf(evs).some((m) => m.id === 12));
    assert.ok(oldEvents.events.every((e) => e.data !== ''), 'a 2025-06-18 session got a priming event');
  });
});

describe('browsers on this machine, not hostile pages (issue 15 item 12)', () => {
  const server = suiteServer({ env: { CLAUDE_ASYNC_AUTH: 'none' } });
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser', version: '1' } } };
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

  it('with a loopback bind, loopback Origins of any port are accepted; a foreign Origin is 403', async () => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'http://[::1]:8080', `http://localhost:${server.port}`]) {
      const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Origin: origin }, body: JSON.stringify(init) });
      assert.equal(res.status, 200, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
      await res.body?.cancel();
    }
    for (const origin of ['http://evil.example', 'http://localhost.evil.example:5173', 'null']) {
      const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Origin: origin }, body: JSON.stringify(init) });
      assert.equal(res.status, 403, origin);
    }
  });

  it('a CORS preflight from an allowed origin is answered (before auth) with the MCP headers allowed and exposed', async () => {
    const res = await fetch(`${server.url}/mcp`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, mcp-session-id, mcp-protocol-version, last-event-id' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:5173');
    const allowedHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id']) assert.ok(allowedHeaders.includes(h), h);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    const foreign = await fetch(`${server.url}/mcp`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(foreign.status, 403);
  });

  it('without a loopback bind, loopback origins are not let in by default', () => {
    const allowed = originAllowed({ allowedOrigins: ['https://box.example'], loopbackBind: false });
    assert.equal(allowed('https://box.example'), true);
    assert.equal(allowed('http://localhost:5173'), false);
    assert.equal(originAllowed({ allowedOrigins: [], loopbackBind: true })('http://localhost:5173'), true);
  });
});

describe('SessionRegistry (pure, injected clock)', () => {
  const handle = () => ({ closed: 0, async close() { this.closed++; } });
  const make = (limits: { maxSessions: number; maxSessionsPerPrincipal: number }) => {
    let now = 1_000;
    const registry = new SessionRegistry({ idleMs: 100, ...limits, now: () => now });
    const add = (id: string, owner: string) => {
      const session = { id, owner, transport: handle(), server: handle(), lastSeenAt: now, openResponses: 0 };
      registry.add(session);
      return session;
    };
    return { registry, add, tick: (ms: number) => (now += ms) };
  };

  it('reaps a session only when nothing of it is open and it has been quiet for idleMs', async (t) => {
    const { registry, add, tick } = make({ maxSessions: 10, maxSessionsPerPrincipal: 10 });
    t.after(() => registry.closeAll());
    const listening = add('a', 'alice');
    add('b', 'alice');
    const done = registry.opened(listening);
    tick(1_000);
    assert.equal(registry.reapIdle(), 1);
    assert.equal(registry.get('a', 'alice'), listening);
    done();
    tick(99);
    assert.equal(registry.reapIdle(), 0, 'the idle clock starts when the last response ends');
    tick(1);
    assert.equal(registry.reapIdle(), 1);
  });

  it('makes room from idle sessions only: the same principal first, then the one holding the most', async (t) => {
    const { registry, add } = make({ maxSessions: 4, maxSessionsPerPrincipal: 2 });
    t.after(() => registry.closeAll());
    const bobs = [add('b1', 'bob'), add('b2', 'bob')];
    bobs.forEach((s) => registry.opened(s));
    const full = registry.admit('bob');
    assert.equal(full.ok, false, 'bob at his cap with every session in use');
    assert.equal(full.ok ? 0 : full.status, 429);
    add('a1', 'alice');
    add('a2', 'alice');
    assert.equal(registry.admit('alice').ok, true, 'alice at her cap evicts her own idle session');
    assert.equal(registry.countOf('alice'), 1);
    add('a3', 'alice');
    // Global cap 4 reached (bob 2 in use, alice 2 idle): carol's session costs alice one, never bob.
    assert.equal(registry.admit('carol').ok, true);
    assert.equal(registry.countOf('bob'), 2);
    assert.equal(registry.countOf('alice'), 1);
    add('c1', 'carol');
    registry.opened(registry.get('a3', 'alice') ?? registry.get('a2', 'alice')!);
    registry.opened(registry.get('c1', 'carol')!);
    const refused = registry.admit('dave');
    assert.equal(refused.ok, false);
    assert.equal(refused.ok ? 0 : refused.status, 503);
    assert.equal(registry.size, 4, 'a refusal closes nothing');
  });
});

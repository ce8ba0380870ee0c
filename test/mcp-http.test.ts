import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pino from 'pino';
import { startServer } from '../src/server.js';
import type { Config } from '../src/config.js';
import { REPO_ROOT, cleanupJobs, testConfig, waitFor } from './helpers.js';
import { needsPosix } from './support/platform.js';

const TOKEN = 'cas_test_token_0123456789abcdef';

async function serverFor(t: { after: (fn: () => unknown) => void }, overrides: Partial<Config> = {}) {
  const config = testConfig({ port: 0, token: TOKEN, auth: 'token', ...overrides });
  const server = await startServer(config, pino({ level: 'silent' }));
  t.after(async () => {
    await server.close();
    cleanupJobs(config);
  });
  return { config, server };
}

async function connect(url: string, token = TOKEN) {
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

type Structured = Record<string, unknown>;

describe('MCP over Streamable HTTP with the SDK client', () => {
  it('initializes, lists the tools, starts a job, waits and checks until completed', async (t) => {
    const { server } = await serverFor(t);
    const { client } = await connect(server.url);
    t.after(() => client.close());
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), ['claude_approve', 'claude_cancel', 'claude_check', 'claude_jobs', 'claude_run', 'claude_start', 'claude_wait']);
    const check = tools.find((x) => x.name === 'claude_check')!;
    assert.equal(check.annotations?.readOnlyHint, true);
    assert.ok(check.outputSchema);
    assert.equal(tools.find((x) => x.name === 'claude_cancel')!.annotations?.destructiveHint, true);

    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 3 100\nbuild it', title: 'e2e' } });
    const { jobId, createdAt } = started.structuredContent as Structured;
    assert.match(String(jobId), /^[0-9a-z]{26}$/);
    assert.equal(typeof createdAt, 'number');

    const progress: number[] = [];
    const waited = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 20 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
      timeout: 60_000,
    });
    const done = waited.structuredContent as Structured;
    assert.equal(done.status, 'completed');
    assert.equal(done.exitCode, 0);
    assert.match(String(done.tail), /tick 3/);
    assert.equal((done.result as Structured).result, 'Echo: build it');
    const checked = await client.callTool({ name: 'claude_check', arguments: { jobId } });
    assert.equal((checked.structuredContent as Structured).status, 'completed');
    const jobs = await client.callTool({ name: 'claude_jobs', arguments: {} });
    assert.equal(((jobs.structuredContent as Structured).jobs as Structured[])[0]!.jobId, jobId);
  });

  it('claude_wait sends progress notifications while it waits', async (t) => {
    const { server } = await serverFor(t);
    const { client } = await connect(server.url);
    t.after(() => client.close());
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake sleep 2500' } });
    const { jobId } = started.structuredContent as Structured;
    const progress: number[] = [];
    const waited = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 20 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    assert.equal((waited.structuredContent as Structured).status, 'completed');
    assert.ok(progress.length >= 1, 'no progress notification arrived');
  });

  it('bad tool input is a tool error a model can act on, and changes nothing', async (t) => {
    const { server } = await serverFor(t);
    const { client } = await connect(server.url);
    t.after(() => client.close());
    const unknown = await client.callTool({ name: 'claude_check', arguments: { jobId: '01jabcdefghjkmnpqrstvwxyz0' } });
    assert.equal(unknown.isError, true);
    assert.match(JSON.stringify(unknown.content), /No such job/);
    const pathy = await client.callTool({ name: 'claude_check', arguments: { jobId: '../../etc/passwd' } });
    assert.equal(pathy.isError, true);
    const outside = await client.callTool({ name: 'claude_start', arguments: { prompt: 'x', cwd: '/' } });
    assert.equal(outside.isError, true);
    assert.match(JSON.stringify(outside.content), /outside the allowed roots/);
    const list = await client.callTool({ name: 'claude_jobs', arguments: {} });
    assert.deepEqual((list.structuredContent as Structured).jobs, []);
  });

  it('supports ping and logging/setLevel, and advertises only what it implements', async (t) => {
    const { server } = await serverFor(t);
    const { client } = await connect(server.url);
    t.after(() => client.close());
    await client.ping();
    await client.setLoggingLevel('warning');
    const caps = client.getServerCapabilities()!;
    assert.deepEqual(caps, {
      completions: {},
      logging: {},
      prompts: { listChanged: false },
      resources: { subscribe: true, listChanged: true },
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
      tools: { listChanged: false },
    });
  });

  it('a job survives a server restart: a new session on the new server sees it complete', async (t) => {
    const config = testConfig({ port: 0, token: TOKEN });
    const env = { ...process.env, CLAUDE_ASYNC_DATA_DIR: config.dataDir, CLAUDE_ASYNC_CLAUDE_BIN: config.claudeBin, CLAUDE_ASYNC_DEFAULT_CWD: config.defaultCwd, CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_PORT: '0', CLAUDE_ASYNC_LOG_LEVEL: 'info' };
    const bin = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');
    const children: ChildProcess[] = [];
    t.after(() => {
      for (const c of children) c.kill('SIGKILL');
      cleanupJobs(config);
    });
    const boot = async () => {
      const child = spawn(process.execPath, [bin, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], 60_000, 'server to listen');
      return { child, url };
    };
    const first = await boot();
    const a = await connect(first.url);
    const started = await a.client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 10 150\nlong haul' } });
    const { jobId } = started.structuredContent as Structured;
    await waitFor(async () => ((await a.client.callTool({ name: 'claude_check', arguments: { jobId } })).structuredContent as Structured).status === 'running', 10_000);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const second = await boot();
    const b = await connect(second.url);
    t.after(() => b.client.close());
    const waited = await b.client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 30 } });
    const done = waited.structuredContent as Structured;
    assert.equal(done.status, 'completed');
    assert.match(String(done.tail), /tick 10/);
    second.child.kill('SIGTERM');
  });
});

/** Reads SSE events off a fetch body until `until` says stop; returns them with their ids. */
async function readEvents(res: Response, until: (events: { id?: string; data: string }[]) => boolean, timeoutMs = 10_000) {
  const events: { id?: string; data: string }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  while (!until(events)) {
    if (Date.now() > deadline) throw new Error(`no matching SSE event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
    const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), 200))]);
    if (chunk === null) continue;
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const id = /^id: ?(.*)$/m.exec(block)?.[1];
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) events.push(id === undefined ? { data } : { id, data });
    }
  }
  await reader.cancel().catch(() => {});
  return events;
}

describe('resumable streams', () => {
  it('a dropped GET stream resumes with Last-Event-ID and gets exactly the events it missed', async (t) => {
    const { server } = await serverFor(t);
    const base = { Authorization: `Bearer ${TOKEN}`, Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
    const init = await fetch(`${server.url}/mcp`, { method: 'POST', headers: base, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    const session = { ...base, 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' };
    await (await fetch(`${server.url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).text();
    const start = async (id: number) => {
      const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'claude_start', arguments: { prompt: `job ${id}` } } }) });
      await res.text();
    };
    const listChanged = (e: { data: string }) => e.data.includes('notifications/resources/list_changed');

    const first = await fetch(`${server.url}/mcp`, { headers: { ...session, Accept: 'text/event-stream' } });
    assert.equal(first.status, 200);
    const firstEvents = readEvents(first, (events) => events.some(listChanged));
    await start(2);
    const seen = await firstEvents; // the stream is dropped here, after one notification
    const lastId = seen.filter(listChanged).pop()!.id!;
    assert.ok(lastId);

    await start(3); // its notification is sent while no GET stream is open
    await start(4);
    const resumed = await fetch(`${server.url}/mcp`, { headers: { ...session, Accept: 'text/event-stream', 'Last-Event-ID': lastId } });
    assert.equal(resumed.status, 200);
    const missed = await readEvents(resumed, (events) => events.filter(listChanged).length >= 2);
    assert.equal(missed.filter(listChanged).length, 2);
    assert.ok(missed.every((e) => e.id !== lastId), 'an event already seen was replayed');
  });
});

describe('the HTTP edge', () => {
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } };
  const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

  it('an unknown session id answers 404 so the client re-initializes', async (t) => {
    const { server } = await serverFor(t);
    const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, 'Mcp-Session-Id': 'no-such-session' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32001);
  });

  it('another principal cannot use a session it did not open', async (t) => {
    const { server } = await serverFor(t);
    const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(init) });
    const sessionId = res.headers.get('mcp-session-id')!;
    assert.ok(sessionId);
    await res.body?.cancel();
    const other = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Authorization: 'Bearer cas_wrong_token_000000000000000', 'Mcp-Session-Id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    assert.equal(other.status, 401);
  });

  it('a wrong Host or a foreign Origin is refused with 403', async (t) => {
    const { server } = await serverFor(t);
    const evilOrigin = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Origin: 'https://evil.example' }, body: JSON.stringify(init) });
    assert.equal(evilOrigin.status, 403);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify(init));
    });
    assert.equal(status, 403);
  });

  it('a 2 MB body is refused with 413 and a JSON-RPC error; a non-JSON-RPC body gets a JSON-RPC error', async (t) => {
    const { server } = await serverFor(t);
    const big = await fetch(`${server.url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ ...init, pad: 'x'.repeat(2 * 1024 * 1024) }) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { jsonrpc: string }).jsonrpc, '2.0');
    const garbage = await fetch(`${server.url}/mcp`, { method: 'POST', headers, body: '{not json' });
    assert.equal(garbage.status, 400);
    const body = (await garbage.json()) as { error: { code: number } };
    assert.equal(body.error.code, -32700);
  });

  it('a client that accepts only application/json gets a JSON answer, not 406', async (t) => {
    const { server } = await serverFor(t);
    const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, Accept: 'application/json' }, body: JSON.stringify(init) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { result: { serverInfo: { name: string } } };
    assert.equal(body.result.serverInfo.name, 'claude-async');
  });

  it('behind a trusted proxy the client IP comes from X-Forwarded-For (per-IP auth limits see real clients)', async (t) => {
    const { server } = await serverFor(t, { trustProxy: 'loopback', authFailuresPerMinute: 2 });
    const tryBadToken = (ip: string) => fetch(`${server.url}/v1/jobs`, { headers: { Authorization: 'Bearer cas_wrong_wrong_wrong_wrong_wrong', 'X-Forwarded-For': ip } });
    assert.equal((await tryBadToken('203.0.113.9')).status, 401);
    assert.equal((await tryBadToken('203.0.113.9')).status, 401);
    const limited = await tryBadToken('203.0.113.9');
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await tryBadToken('203.0.113.10')).status, 401, 'another client behind the proxy was limited too');
  });

  it('a slow client that never finishes its headers is cut off', async (t) => {
    const { server } = await serverFor(t, { headersTimeoutMs: 1000 });
    const { connect: netConnect } = await import('node:net');
    const socket = netConnect(server.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ');
    const started = Date.now();
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const waited = Date.now() - started;
    assert.ok(waited < 6000, `the socket stayed open ${waited} ms`);
    assert.match(answer, /^HTTP\/1\.1 408/);
  });

  it('healthz needs no token; readyz answers; helmet headers are on every response', async (t) => {
    const { server } = await serverFor(t);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { ok: boolean }).ok, true);
    assert.equal(health.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    const noToken = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: headers.Accept }, body: JSON.stringify(init) });
    assert.equal(noToken.status, 401);
    assert.match(noToken.headers.get('www-authenticate') ?? '', /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
  });
});

describe('graceful shutdown', { skip: needsPosix('Windows has no SIGTERM to shut down on: a kill there ends the process at once') }, () => {
  it('SIGTERM stops the server with exit code 0 and running jobs keep running to completion', async (t) => {
    const config = testConfig({ port: 0, token: TOKEN });
    const env = { ...process.env, CLAUDE_ASYNC_DATA_DIR: config.dataDir, CLAUDE_ASYNC_CLAUDE_BIN: config.claudeBin, CLAUDE_ASYNC_DEFAULT_CWD: config.defaultCwd, CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_PORT: '0', CLAUDE_ASYNC_LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, [path.join(REPO_ROOT, '.test-build', 'src', 'index.js'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let service: { close(): Promise<void> } | undefined;
    t.after(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await service?.close();
      cleanupJobs(config);
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], 60_000, 'server to listen');
    const { client } = await connect(url);
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 8 150\noutlives the server' } });
    const { jobId } = started.structuredContent as Structured;
    await waitFor(async () => ((await client.callTool({ name: 'claude_check', arguments: { jobId } })).structuredContent as Structured).status === 'running', 10_000);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await client.close().catch(() => {});
    const { JobService } = await import('../src/jobs/service.js');
    const opened = await JobService.open(config);
    service = opened;
    const done = await opened.wait(String(jobId), { id: 'token:default', admin: false }, { timeoutMs: 20_000 });
    assert.equal(done.status, 'completed');
    assert.match(done.tail, /tick 8/);
  });
});

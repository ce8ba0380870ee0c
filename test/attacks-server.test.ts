// Attacks on the real server process (node .test-build/src/index.js serve): path-like ids, cwd
// escapes, oversized input, tokens in URLs, forged JWTs, other principals' jobs, foreign Origin and
// Host, a flood of abandoned sessions, random JSON-RPC and tool arguments, and secrets leaking into
// a job's environment or the log. Every process started is ended; every temp dir removed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SignJWT, generateKeyPair } from 'jose';
import { tempDir, waitFor } from './support/helpers.js';
import { connect as connectWith } from './support/mcp-client.js';
import { needsLinux } from './support/platform.js';
import { raw } from './support/raw-http.js';
import { INIT, bearer as bearerOf, jsonHeaders as jsonHeadersOf } from './support/raw-mcp.js';
import { spawnServer, type RealServer } from './support/server-process.js';

const TOKEN = `cas_admin_${randomUUID().replace(/-/g, '')}`;
const JWT_SECRET = `jwt-secret-${randomUUID()}-${randomUUID()}`;
const SOME_SECRET = `some-secret-${randomUUID()}`;
const PROMPT_MARKER = `prompt-marker-${randomUUID()}`;
type Structured = Record<string, unknown>;

/** The real server on a known port (so its public URL, JWT audience and Origin are right), with secrets in its environment. */
function startAttacked(extraEnv: Record<string, string> = {}): Promise<RealServer> {
  return spawnServer({
    env: {
      CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_JWT_SECRET: JWT_SECRET,
      CLAUDE_ASYNC_MAX_CONCURRENT: '3', CLAUDE_ASYNC_MAX_PROMPT_BYTES: '64k', CLAUDE_ASYNC_MAX_BODY_BYTES: '256k',
      CLAUDE_ASYNC_JOB_ENV: 'ALLOWED_EXTRA', ALLOWED_EXTRA: 'visible-extra',
      SOME_SECRET,
      ...extraEnv,
    },
  });
}

const connect = (url: string, token = TOKEN) => connectWith(url, token);

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<Structured> {
  const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  if (res.isError) throw new Error(`${name}: ${JSON.stringify(res.content)}`);
  return res.structuredContent as Structured;
}

/** A tool call that must fail as a tool error (or a JSON-RPC error), never as an internal one. */
async function refused(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  try {
    const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 30_000 });
    assert.equal(res.isError, true, `${name} ${JSON.stringify(args).slice(0, 200)} was accepted: ${JSON.stringify(res.structuredContent)}`);
    const text = JSON.stringify(res.content);
    assert.doesNotMatch(text, /Internal error/, `${name} hit an internal error`);
    return text;
  } catch (error) {
    const e = error as { code?: number; message?: string };
    if (e.code === undefined) throw error;
    assert.notEqual(e.code, -32603, `${name} answered an internal JSON-RPC error: ${e.message}`);
    return String(e.message);
  }
}

const bearer = (token = TOKEN) => bearerOf(token);
const jsonHeaders = (token = TOKEN) => jsonHeadersOf(token);

async function jwtFor(server: RealServer, sub: string, scopes = 'jobs:read jobs:write') {
  return new SignJWT({ scope: scopes })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub).setIssuedAt().setExpirationTime('10m').setAudience(`${server.url}/mcp`)
    .sign(new TextEncoder().encode(JWT_SECRET));
}

/** mulberry32: a small seeded generator, so a failing fuzz case can be replayed from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const strings = ['', 'x', '..', '../../etc/passwd', '/etc/passwd', '\u0000', '%00', '\ud800', '💥'.repeat(50), 'a'.repeat(5000), '__proto__', 'constructor', '01jabcdefghjkmnpqrstvwxyz0', '#fake sleep 100', '-rf', '${PATH}', '<script>', 'null'];
  const numbers = [0, -1, 1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 65536, 65537, 50, 51];
  const value = (depth: number): unknown => {
    switch (int(depth > 3 ? 5 : 8)) {
      case 0: return null;
      case 1: return next() < 0.5;
      case 2: return pick(numbers);
      case 3: case 4: return pick(strings) + (next() < 0.3 ? String(int(1000)) : '');
      case 5: return Array.from({ length: int(4) }, () => value(depth + 1));
      default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['a', 'jobId', 'prompt', '__proto__', 'constructor', 'cursor', 'limit', 'x'.repeat(300)]), value(depth + 1)]));
    }
  };
  return { next, int, pick, value };
}

describe('attacks on the real server', { skip: needsLinux('reads the server\'s children, environ and memory from /proc') }, () => {
  let server: RealServer;
  let admin: Client;
  const clients: Client[] = [];
  let alice = '';
  let bob = '';

  before(async () => {
    server = await startAttacked();
    admin = (await connect(server.url)).client;
    clients.push(admin);
    alice = await jwtFor(server, 'alice');
    bob = await jwtFor(server, 'bob');
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    const logs = server.logs();
    await server.stop();
    // Checked last, over everything the suite made the server log.
    for (const [name, secret] of [['CLAUDE_ASYNC_TOKEN', TOKEN], ['CLAUDE_ASYNC_JWT_SECRET', JWT_SECRET], ['SOME_SECRET', SOME_SECRET], ["alice's JWT", alice], ['a prompt', PROMPT_MARKER]] as const) {
      assert.ok(secret && !logs.includes(secret), `${name} appears in the server log`);
    }
  });

  it('path-like job ids are refused over MCP and REST, and never read a file', async () => {
    fs.writeFileSync(path.join(server.dataDir, 'secret.json'), '{"stolen":true}');
    const ids = ['../secret', '../../etc/passwd', '..', '.', '/etc/passwd', 'a/b', '..%2f..%2fetc%2fpasswd', '01jabcdefghjkmnpqrstvwx\u0000z0', '01JABCDEFGHJKMNPQRSTVWXYZ0', '01jabcdefghjkmnpqrstvwxyz0/../../secret.json', 'x'.repeat(10_000), ''];
    for (const jobId of ids) {
      for (const name of ['claude_check', 'claude_wait', 'claude_cancel']) {
        const text = await refused(admin, name, { jobId, ...(name === 'claude_wait' ? { timeoutSeconds: 1 } : {}) });
        assert.doesNotMatch(text, /stolen|root:/);
      }
    }
    const paths = ['/v1/jobs/..%2f..%2fetc%2fpasswd', '/v1/jobs/%2e%2e', '/v1/jobs/..%2fsecret.json', '/v1/jobs/%2e%2e%2fsecret.json/output', '/v1/jobs/01jabcdefghjkmnpqrstvwxyz0%00', '/v1/jobs/../../secret.json', '/v1/jobs/..\\..\\secret.json', '/v1/jobs/%252e%252e%252fsecret.json/output', `/v1/jobs/${'a'.repeat(5000)}`];
    for (const p of paths) {
      for (const method of ['GET', 'DELETE']) {
        const res = await raw(server.url, { method, path: p, headers: bearer() });
        assert.ok([400, 404].includes(res.status), `${method} ${p} answered ${res.status}: ${res.body.slice(0, 200)}`);
        assert.doesNotMatch(res.body, /stolen|root:/);
      }
    }
    const cancel = await raw(server.url, { method: 'POST', path: '/v1/jobs/..%2fsecret.json/cancel', headers: bearer() });
    assert.ok([400, 404].includes(cancel.status));
    assert.ok(fs.existsSync(path.join(server.dataDir, 'secret.json')), 'a path-like id removed a file');
  });

  it('a cwd escaping the allowed roots through .., symlinks or a look-alike prefix is refused, and nothing is created', async () => {
    const outside = tempDir('ca-outside-');
    try {
      fs.mkdirSync(path.join(server.work, 'sub'), { recursive: true });
      fs.mkdirSync(`${server.work}-evil`, { recursive: true });
      fs.writeFileSync(path.join(server.work, 'file.txt'), 'x');
      fs.symlinkSync(outside, path.join(server.work, 'escape'));
      fs.symlinkSync('/etc', path.join(server.work, 'etc'));
      fs.symlinkSync('../', path.join(server.work, 'sub', 'up'));
      const before = fs.readdirSync(path.join(server.dataDir, 'jobs')).length;
      const bad = [
        `${server.work}/..`, `${server.work}/../`, `${server.work}/sub/../..`, `${server.work}/escape`, `${server.work}/escape/..`,
        `${server.work}/etc`, `${server.work}/sub/up/..`, `${server.work}-evil`, `${server.work}/file.txt`, `${server.work}/missing`,
        'work', './', `${server.work}\u0000/sub`, '/proc/self/cwd', '/', outside,
      ];
      for (const cwd of bad) {
        const text = await refused(admin, 'claude_start', { prompt: `#fake cwd\n${PROMPT_MARKER}`, cwd });
        assert.match(text, /cwd/, `${cwd}: the error should name cwd`);
        const res = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: jsonHeaders(), body: JSON.stringify({ prompt: 'x', cwd }) });
        assert.equal(res.status, 400, `REST accepted cwd ${cwd}`);
        assert.equal(((await res.json()) as { field?: string }).field, 'cwd');
      }
      assert.equal(fs.readdirSync(path.join(server.dataDir, 'jobs')).length, before, 'a refused start left a folder behind');
      // A symlink that stays inside the root is fine, and the job runs in its real path.
      fs.symlinkSync(path.join(server.work, 'sub'), path.join(server.work, 'inside'));
      const ok = await tool(admin, 'claude_start', { prompt: '#fake cwd\ncwd probe', cwd: path.join(server.work, 'inside') });
      const done = await tool(admin, 'claude_wait', { jobId: ok.jobId, timeoutSeconds: 30 });
      assert.match(String(done.tail), new RegExp(`cwd ${path.join(server.work, 'sub')}`));
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      fs.rmSync(`${server.work}-evil`, { recursive: true, force: true });
    }
  });

  it('oversized prompts, bodies, tails and deep nesting get clear 4xx answers', async () => {
    const bigPrompt = 'p'.repeat(100 * 1024);
    assert.match(await refused(admin, 'claude_start', { prompt: bigPrompt }), /prompt is \d+ bytes; the limit is 65536/);
    const rest = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: jsonHeaders(), body: JSON.stringify({ prompt: bigPrompt }) });
    assert.equal(rest.status, 413);
    const body = JSON.stringify({ ...INIT, pad: 'x'.repeat(300 * 1024) });
    assert.equal((await fetch(`${server.url}/mcp`, { method: 'POST', headers: jsonHeaders(), body })).status, 413);
    const restBody = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: jsonHeaders(), body: JSON.stringify({ prompt: 'x'.repeat(300 * 1024) }) });
    assert.equal(restBody.status, 413);
    assert.match(restBody.headers.get('content-type') ?? '', /problem\+json/);

    const job = await tool(admin, 'claude_start', { prompt: '#fake lines 50\ntail probe' });
    await tool(admin, 'claude_wait', { jobId: job.jobId, timeoutSeconds: 30 });
    for (const tailBytes of [65537, 1e9, 1e308, -1, 1.5, '100']) await refused(admin, 'claude_check', { jobId: job.jobId, tailBytes });
    for (const offset of [-1, 1.5, 1e308]) await refused(admin, 'claude_check', { jobId: job.jobId, offset });
    const far = await tool(admin, 'claude_check', { jobId: job.jobId, offset: 2 ** 52 });
    assert.equal(far.tail, '');
    for (const q of ['offset=999999999999999', 'limit=999999999999999', 'offset=-1', 'limit=abc', 'offset=1&offset=2', 'format=xml']) {
      const res = await raw(server.url, { path: `/v1/jobs/${String(job.jobId)}/output?${q}`, headers: bearer() });
      assert.ok(res.status < 500, `output?${q} answered ${res.status}`);
    }
    for (const range of ['bytes=0-999999999999', 'bytes=999999999-', 'bytes=-0', 'bytes=5-1', 'bytes=a-b', 'bytes=0-1,2-3']) {
      const res = await raw(server.url, { path: `/v1/jobs/${String(job.jobId)}/output`, headers: { ...bearer(), Range: range } });
      assert.ok(res.status < 500, `Range ${range} answered ${res.status}`);
    }
    // 40,000 levels of nesting: a parser or validator that recurses must not take the server down.
    const deep = `${'['.repeat(40_000)}${']'.repeat(40_000)}`;
    const nested = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...jsonHeaders(), Accept: 'application/json' }, body: `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"claude_check","arguments":{"jobId":${deep}}}}` });
    assert.ok(nested.status < 500, `deep nesting answered ${nested.status}`);
    const restNested = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: jsonHeaders(), body: `{"prompt":${deep}}` });
    assert.ok(restNested.status >= 400 && restNested.status < 500, `deep nesting on REST answered ${restNested.status}`);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('a token in the query string or a form body is refused, even a valid one', async () => {
    for (const p of [`/mcp?access_token=${TOKEN}`, `/v1/jobs?access_token=${TOKEN}`, `/v1/jobs?x=1&access_token=${TOKEN}`]) {
      const res = await raw(server.url, { method: p.startsWith('/mcp') ? 'POST' : 'GET', path: p, headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: p.startsWith('/mcp') ? JSON.stringify(INIT) : undefined });
      assert.equal(res.status, 400, `${p.split('?')[0]} with the token in the URL answered ${res.status}`);
      assert.match(String(res.headers['www-authenticate']), /invalid_request/);
      // Even with a valid header too: a token in a URL is treated as exposed.
      const both = await raw(server.url, { path: `/v1/jobs?access_token=${TOKEN}`, headers: bearer() });
      assert.equal(both.status, 400);
    }
    const form = await raw(server.url, { method: 'POST', path: '/v1/jobs', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `access_token=${TOKEN}&prompt=hi` });
    assert.ok(form.status === 400 || form.status === 401, `a form-body token answered ${form.status}`);
  });

  it('alg:none, foreign-key, wrong-audience, expired and subject-less JWTs are all 401', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: 'root', scope: 'jobs:read jobs:write admin', aud: `${server.url}/mcp`, iat: now, exp: now + 600 };
    const secret = new TextEncoder().encode(JWT_SECRET);
    const { privateKey } = await generateKeyPair('RS256');
    const { privateKey: edKey } = await generateKeyPair('EdDSA');
    const forged: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      'alg NONE': `${b64({ alg: 'NONE', typ: 'JWT' })}.${b64(claims)}.`,
      'HS256, another secret': await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(`another-${JWT_SECRET}`)),
      'RS256, attacker key': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'attacker' }).sign(privateKey),
      'EdDSA, attacker key': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA' }).sign(edKey),
      'HS512, right secret': await new SignJWT(claims).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(JWT_SECRET.repeat(2))),
      'wrong audience': await new SignJWT({ ...claims, aud: 'https://elsewhere.example/mcp' }).setProtectedHeader({ alg: 'HS256' }).sign(secret),
      expired: await new SignJWT({ ...claims, iat: now - 7200, exp: now - 3600 }).setProtectedHeader({ alg: 'HS256' }).sign(secret),
      'no exp': await new SignJWT({ sub: 'root', scope: 'admin', aud: `${server.url}/mcp` }).setProtectedHeader({ alg: 'HS256' }).sign(secret),
      'no sub': await new SignJWT({ scope: 'admin', aud: `${server.url}/mcp`, exp: now + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(secret),
      'signature stripped': (await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secret)).replace(/\.[^.]+$/, '.'),
      'payload swapped': (() => {
        const [h, , s] = alice.split('.');
        return `${h}.${b64({ ...claims, sub: 'alice' })}.${s}`;
      })(),
    };
    for (const [name, token] of Object.entries(forged)) {
      const mcp = await fetch(`${server.url}/mcp`, { method: 'POST', headers: jsonHeaders(token), body: JSON.stringify(INIT) });
      assert.equal(mcp.status, 401, `${name} on /mcp answered ${mcp.status}`);
      assert.match(mcp.headers.get('www-authenticate') ?? '', /invalid_token/);
      await mcp.body?.cancel();
      const rest = await fetch(`${server.url}/v1/jobs`, { headers: bearer(token) });
      assert.equal(rest.status, 401, `${name} on /v1 answered ${rest.status}`);
      await rest.body?.cancel();
    }
    // The control: the genuine token works.
    assert.equal((await fetch(`${server.url}/v1/jobs`, { headers: bearer(alice) })).status, 200);
  });

  it("another principal's job reads exactly like a job that does not exist", async () => {
    const a = (await connect(server.url, alice)).client;
    const b = await connect(server.url, bob);
    clients.push(a, b.client);
    const job = await tool(a, 'claude_start', { prompt: `#fake sleep 1500\n${PROMPT_MARKER} alice only` });
    const jobId = String(job.jobId);
    const ghost = '01jabcdefghjkmnpqrstvwxyz0';
    for (const name of ['claude_check', 'claude_wait', 'claude_cancel']) {
      const extra = name === 'claude_wait' ? { timeoutSeconds: 1 } : {};
      const theirs = (await refused(b.client, name, { jobId, ...extra })).replaceAll(jobId, 'ID');
      const none = (await refused(b.client, name, { jobId: ghost, ...extra })).replaceAll(ghost, 'ID');
      assert.equal(theirs, none, `${name} tells bob that alice's job exists`);
    }
    const listed = (await tool(b.client, 'claude_jobs', { limit: 200 })).jobs as { jobId: string }[];
    assert.ok(!listed.some((j) => j.jobId === jobId), "bob's list shows alice's job");
    for (const [method, suffix] of [['GET', ''], ['GET', '/output'], ['GET', '/events'], ['POST', '/cancel'], ['DELETE', '']] as const) {
      const theirs = await raw(server.url, { method, path: `/v1/jobs/${jobId}${suffix}`, headers: bearer(bob) });
      const none = await raw(server.url, { method, path: `/v1/jobs/${ghost}${suffix}`, headers: bearer(bob) });
      assert.equal(theirs.status, 404, `${method} ${suffix} as bob answered ${theirs.status}`);
      assert.equal(theirs.body.replaceAll(jobId, 'ID'), none.body.replaceAll(ghost, 'ID'));
    }
    // Alice's MCP session is hers: bob's valid token cannot ride it.
    const second = await connect(server.url, alice);
    clients.push(second.client);
    const sessionId = second.transport.sessionId!;
    const ride = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...jsonHeaders(bob), 'Mcp-Session-Id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }) });
    assert.equal(ride.status, 404);
    const done = await tool(a, 'claude_wait', { jobId, timeoutSeconds: 30 });
    assert.equal(done.status, 'completed', 'bob cancelled alice\'s job');
    // The admin token sees every owner's jobs.
    assert.ok(((await tool(admin, 'claude_jobs', { limit: 200 })).jobs as { jobId: string }[]).some((j) => j.jobId === jobId));
  });

  it('a foreign Origin or Host is refused before authentication, on every route', async () => {
    const origins = ['https://evil.example', 'null', `http://127.0.0.1.evil.example:${server.port}`, `http://localhost.evil.example:${server.port + 1}`, 'file://'];
    for (const origin of origins) {
      for (const [method, p] of [['POST', '/mcp'], ['GET', '/v1/jobs'], ['POST', '/v1/jobs']] as const) {
        const res = await raw(server.url, { method, path: p, headers: { ...jsonHeaders(), Origin: origin }, body: method === 'POST' ? JSON.stringify(p === '/mcp' ? INIT : { prompt: 'x' }) : undefined });
        assert.equal(res.status, 403, `Origin ${origin} on ${method} ${p} answered ${res.status}`);
      }
    }
    for (const host of ['evil.example', `evil.example:${server.port}`, `127.0.0.1.evil.example:${server.port}`, `localhost.evil.example`, '[::2]', `127.0.0.1@evil.example:${server.port}`]) {
      for (const p of ['/mcp', '/v1/jobs', '/healthz']) {
        const res = await raw(server.url, { method: p === '/mcp' ? 'POST' : 'GET', path: p, headers: { ...jsonHeaders(), Host: host }, body: p === '/mcp' ? JSON.stringify(INIT) : undefined });
        assert.equal(res.status, 403, `Host '${host}' on ${p} answered ${res.status}`);
      }
    }
    // No Host header at all (node's client always adds one, so write the request by hand).
    const noHost = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.end(`GET /v1/jobs HTTP/1.1\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`));
      let answer = '';
      socket.on('data', (d) => (answer += d.toString()));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      socket.setTimeout(10_000, () => socket.destroy(new Error('no answer without a Host header')));
    });
    assert.match(noHost.split('\r\n')[0] ?? '', / (400|403) /, `no Host header answered ${noHost.split('\r\n')[0]}`);
    // The control: our own origin passes.
    const own = await raw(server.url, { path: '/v1/jobs', headers: { ...bearer(), Origin: server.url } });
    assert.equal(own.status, 200);
    // On a loopback bind a page of this machine on another port is not foreign (issue 15 item 12).
    const local = await raw(server.url, { path: '/v1/jobs', headers: { ...bearer(), Origin: `http://localhost:${server.port + 1}` } });
    assert.equal(local.status, 200);
  });

  it('a job never sees the server\'s secrets, only allowlisted and named variables', async () => {
    const prompt = ['#fake env SOME_SECRET', '#fake env CLAUDE_ASYNC_JWT_SECRET', '#fake env CLAUDE_ASYNC_TOKEN', '#fake env ALLOWED_EXTRA', '#fake env PATH', '#fake sleep 1500', PROMPT_MARKER].join('\n');
    const job = await tool(admin, 'claude_start', { prompt });
    const jobId = String(job.jobId);
    const runnerFile = path.join(server.dataDir, 'jobs', jobId, 'runner.json');
    const runner = await waitFor(() => {
      try {
        const r = JSON.parse(fs.readFileSync(runnerFile, 'utf8')) as { runnerPid: number; claudePid?: number };
        return r.claudePid ? r : undefined;
      } catch {
        return undefined;
      }
    }, 20_000, 'the job to start');
    // Linux: read the live processes' environment and argv. The spawner is the server's child.
    if (process.platform === 'linux') {
      const children = fs.readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      for (const pid of [runner.runnerPid, runner.claudePid!, ...children]) {
        let environ = '';
        let cmdline = '';
        try {
          environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
          cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue; // already gone
        }
        for (const secret of [SOME_SECRET, JWT_SECRET, TOKEN]) assert.ok(!environ.includes(secret), `pid ${pid} (${cmdline.replace(/\0/g, ' ').slice(0, 80)}) has a server secret in its environment`);
        assert.ok(!environ.includes('CLAUDE_ASYNC_'), `pid ${pid} inherited CLAUDE_ASYNC_* settings`);
        assert.ok(!cmdline.includes(PROMPT_MARKER), `pid ${pid} has the prompt on its command line`);
      }
    }
    const done = await tool(admin, 'claude_wait', { jobId, timeoutSeconds: 30 });
    const tail = String(done.tail);
    assert.match(tail, /env SOME_SECRET=<unset>/);
    assert.match(tail, /env CLAUDE_ASYNC_JWT_SECRET=<unset>/);
    assert.match(tail, /env CLAUDE_ASYNC_TOKEN=<unset>/);
    assert.match(tail, /env ALLOWED_EXTRA=visible-extra/, 'CLAUDE_ASYNC_JOB_ENV should pass a named variable');
    assert.doesNotMatch(tail, /env PATH=<unset>/);
    const files = fs.readdirSync(path.join(server.dataDir, 'jobs', jobId)).map((f) => fs.readFileSync(path.join(server.dataDir, 'jobs', jobId, f), 'utf8')).join('\n');
    for (const secret of [SOME_SECRET, JWT_SECRET, TOKEN]) assert.ok(!files.includes(secret), 'a secret reached the job folder');
    const spec = fs.readFileSync(path.join(server.dataDir, 'jobs', jobId, 'spec.json'), 'utf8');
    assert.ok(!spec.includes(PROMPT_MARKER), 'spec.json holds the prompt');
    const list = JSON.stringify(await tool(admin, 'claude_jobs', { limit: 200 }));
    for (const secret of [SOME_SECRET, JWT_SECRET, TOKEN]) assert.ok(!list.includes(secret));
  });

  it('random JSON-RPC bodies and random tool arguments never cause a 500, an internal error or a crash', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20240611);
    const r = rng(seed);
    const { client, transport } = await connect(server.url);
    clients.push(client);
    const sessionId = transport.sessionId!;
    const methods = ['tools/call', 'tools/list', 'initialize', 'ping', 'notifications/initialized', 'notifications/cancelled', 'resources/list', 'resources/read', 'prompts/list', 'logging/setLevel', 'completion/complete', 'tasks/get', 'x/unknown', '', '__proto__'];
    const tools = ['claude_start', 'claude_check', 'claude_jobs', 'claude_wait', 'claude_cancel', 'nope', '__proto__'];
    const message = () => {
      const msg: Record<string, unknown> = {};
      if (r.next() < 0.9) msg.jsonrpc = r.next() < 0.9 ? '2.0' : r.value(3);
      if (r.next() < 0.8) msg.id = r.pick([1, 'a', null, 0, -1, 1.5, { x: 1 }, [], 'x'.repeat(1000)]);
      msg.method = r.next() < 0.9 ? r.pick(methods) : r.value(2);
      if (r.next() < 0.8) {
        msg.params = msg.method === 'tools/call' && r.next() < 0.8
          ? { name: r.pick(tools), arguments: r.next() < 0.9 ? r.value(1) : r.value(4) }
          : r.value(1);
      }
      return msg;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 250; i++) {
      const kind = r.int(4);
      let body: string;
      if (kind === 0) body = JSON.stringify(r.next() < 0.5 ? [message(), message()] : r.value(0));
      else body = JSON.stringify(message());
      if (r.next() < 0.05) body = body.slice(0, r.int(body.length + 1)); // truncated
      const headers: Record<string, string> = r.next() < 0.5
        ? { ...jsonHeaders(), 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' }
        : { ...jsonHeaders(), Accept: 'application/json' };
      const res = await raw(server.url, { method: r.next() < 0.9 ? 'POST' : r.pick(['GET', 'DELETE', 'PUT', 'PATCH']), path: '/mcp', headers, body });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `seed ${seed} case ${i}: ${res.status} for ${body.slice(0, 300)}\n${res.body.slice(0, 300)}`);
      assert.doesNotMatch(res.body, /Internal error/, `seed ${seed} case ${i}: internal error for ${body.slice(0, 300)}`);
      if (headers['Mcp-Session-Id'] && res.status === 404) break; // a random DELETE ended our session
    }
    // Random arguments through the SDK client, for every tool (wait only with ids that do not exist).
    const fresh = (await connect(server.url)).client;
    clients.push(fresh);
    for (let i = 0; i < 150; i++) {
      const name = r.pick(['claude_start', 'claude_check', 'claude_jobs', 'claude_cancel', 'claude_wait']);
      const args = r.value(1);
      const call = (args && typeof args === 'object' && !Array.isArray(args) ? args : { junk: args }) as Record<string, unknown>;
      if (name === 'claude_wait') call.jobId = '01jabcdefghjkmnpqrstvwxyz0';
      if (name === 'claude_start' && r.next() < 0.9) call.prompt = r.value(3); // mostly not a usable prompt
      try {
        const res = await fresh.callTool({ name, arguments: call }, undefined, { timeout: 30_000 });
        assert.doesNotMatch(JSON.stringify(res.content), /Internal error/, `seed ${seed}: ${name}(${JSON.stringify(call).slice(0, 300)})`);
      } catch (error) {
        const e = error as { code?: number; message?: string };
        assert.notEqual(e.code, -32603, `seed ${seed}: ${name}(${JSON.stringify(call).slice(0, 300)}) → ${e.message}`);
        assert.ok(e.code !== undefined, `seed ${seed}: ${name} threw ${String(error)}`);
      }
    }
    // REST bodies too.
    for (let i = 0; i < 100; i++) {
      const res = await raw(server.url, { method: 'POST', path: '/v1/jobs', headers: { ...jsonHeaders(), ...(r.next() < 0.3 ? { 'Idempotency-Key': String(r.value(3)).slice(0, 300) } : {}) }, body: JSON.stringify(r.value(0)) });
      assert.ok(res.status < 500, `seed ${seed} REST case ${i}: ${res.status} ${res.body.slice(0, 300)}`);
    }
    assert.equal(server.child.exitCode, null, 'the server died');
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe('a thousand MCP sessions opened and abandoned', { skip: needsLinux('reads the server\'s children, environ and memory from /proc') }, () => {
  it('the session count stays bounded by CLAUDE_ASYNC_MAX_SESSIONS, idle ones are reaped, memory stays bounded', async (t) => {
    const server = await startAttacked({ CLAUDE_ASYNC_MAX_SESSIONS: '50', CLAUDE_ASYNC_SESSION_IDLE: '2s', CLAUDE_ASYNC_LOG_LEVEL: 'warn' });
    t.after(() => server.stop());
    const health = async () => (await (await fetch(`${server.url}/healthz`)).json()) as { ok: boolean; sessions?: number };
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    if ((await health()).sessions === undefined) {
      t.skip('/healthz does not report the session count');
      return;
    }
    const rssBefore = process.platform === 'linux' ? rss() : 0;
    let maxSeen = 0;
    const open = async (i: number) => {
      const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: jsonHeaders(), body: JSON.stringify(INIT) });
      const id = res.headers.get('mcp-session-id');
      await res.text();
      assert.equal(res.status, 200);
      assert.ok(id);
      // Every tenth also opens the GET event stream and walks away mid-stream.
      if (i % 10 === 0) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 300).unref();
        const stream = await fetch(`${server.url}/mcp`, { headers: { ...bearer(), Accept: 'text/event-stream', 'Mcp-Session-Id': id, 'Mcp-Protocol-Version': '2025-06-18' }, signal: controller.signal }).catch(() => null);
        controller.abort();
        await stream?.body?.cancel().catch(() => {});
      }
    };
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(Array.from({ length: 25 }, (_, k) => open(batch * 25 + k)));
      if (batch % 5 === 4) maxSeen = Math.max(maxSeen, (await health()).sessions!);
    }
    const after = await health();
    maxSeen = Math.max(maxSeen, after.sessions!);
    assert.ok(maxSeen <= 50, `saw ${maxSeen} open sessions; the cap is 50`);
    await waitFor(async () => (await health()).sessions === 0, 15_000, 'idle sessions to be reaped');
    if (process.platform === 'linux') {
      const grown = rss() - rssBefore;
      t.diagnostic(`server RSS ${rssBefore.toFixed(0)} MB before, ${rss().toFixed(0)} MB after 1000 sessions (+${grown.toFixed(0)} MB)`);
      assert.ok(grown < 150, `the server grew by ${grown.toFixed(0)} MB for 1000 abandoned sessions`);
    }
    // Still serving.
    const { client } = await connect(server.url);
    assert.ok((await client.listTools()).tools.length >= 5);
    await client.close();
  });
});

// The files of the several-fronts deployment (deploy/compose.scale.yaml, deploy/nginx.scale.conf,
// deploy/Caddyfile.scale), run for real where it is cheap: Debian's nginx and Caddy in front of two
// real fronts (the app, each with its own CLAUDE_ASYNC_FRONT_ID, on loopback ports). Sessions opened
// through the proxy land on both fronts; every later request of a session reaches the front that
// holds it (another front would answer 404); a session whose front is gone gets 404 so the client
// starts a new one, which lands on the live front. The compose file is parsed and cross-checked
// (no Docker engine here).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import YAML from 'yaml';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { TokenStore } from '../src/auth/token-store.js';
import { createApp, type App } from '../src/http/app.js';
import { DEPLOY, findCommand, missing, startNginx, stockNginxTree, type LiveNginx } from './support/deploy.js';
import { freePort, isAlive, openService, readRepoFile, tempDir, waitFor } from './support/helpers.js';
import { needsLinux } from './support/platform.js';

const FRONTS = ['front1', 'front2'] as const;
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'scale-test', version: '1' } } };

interface Fronts {
  ports: number[];
  apps: App[];
  token: string;
  stop(index: number): Promise<void>;
}

/** Two fronts over one job store, on loopback ports, each naming its MCP sessions. */
async function startFronts(t: { after: (fn: () => unknown) => void }): Promise<Fronts> {
  const { config, service } = await openService(t);
  const store = new TokenStore(path.join(config.dataDir, 'tokens.json'));
  const token = (await store.create('alice', ['jobs:read', 'jobs:write'])).token;
  const servers: Server[] = [];
  const apps: App[] = [];
  for (const frontId of FRONTS) {
    const authenticator = createAuthenticator({ mode: 'token', publicUrl: config.publicUrl, tokensFile: store.file, authFailuresPerMinute: 1000 }, store);
    const app = createApp({ config: { ...config, frontId }, service, authenticator, log: pino({ level: 'silent' }) });
    const server = app.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers.push(server);
    apps.push(app);
  }
  const stop = (i: number) => new Promise<void>((resolve) => {
    const server = servers[i]!;
    if (!server.listening) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  t.after(async () => {
    await Promise.all(servers.map((_, i) => stop(i)));
  });
  return { ports: servers.map((s) => (s.address() as AddressInfo).port), apps, token, stop };
}

/** One MCP POST through the proxy; returns the status, the session id and the body. */
async function mcp(base: string, token: string, body: unknown, sessionId?: string) {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      ...(sessionId ? { 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, sessionId: res.headers.get('mcp-session-id') ?? undefined, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** What both proxies must do with two fronts behind them. */
async function provesSessionRouting(base: string, fronts: Fronts): Promise<void> {
  // initialize carries no session id: the proxy may send it to any front, and sends some to each.
  const sessions: string[] = [];
  for (let i = 0; i < 8; i++) {
    const opened = await mcp(base, fronts.token, INIT);
    assert.equal(opened.status, 200, opened.text);
    assert.ok(opened.sessionId, 'initialize answered without Mcp-Session-Id');
    sessions.push(opened.sessionId);
  }
  const byFront = FRONTS.map((f) => sessions.filter((s) => s.startsWith(`${f}.`)));
  assert.equal(byFront[0]!.length + byFront[1]!.length, sessions.length, `ids name their front: ${sessions.join(' ')}`);
  assert.ok(byFront.every((ids) => ids.length > 0), `initialize reached both fronts: ${sessions.join(' ')}`);
  for (const [i, app] of fronts.apps.entries()) assert.equal(app.mcp.sessions.size, byFront[i]!.length, `${FRONTS[i]} holds its own sessions`);

  // Every later request of a session reaches the front that holds it (the other would answer 404).
  for (const sessionId of sessions) {
    assert.equal((await mcp(base, fronts.token, { jsonrpc: '2.0', method: 'notifications/initialized' }, sessionId)).status, 202);
    for (let i = 0; i < 3; i++) {
      const listed = await mcp(base, fronts.token, { jsonrpc: '2.0', id: 2 + i, method: 'tools/list' }, sessionId);
      assert.equal(listed.status, 200, `${sessionId}: ${listed.text}`);
      assert.match(listed.text, /claude_start/);
    }
  }

  // front1 goes away: its sessions get 404 (start again), a new session lands on front2, REST goes on.
  await fronts.stop(0);
  const gone = await mcp(base, fronts.token, { jsonrpc: '2.0', id: 9, method: 'tools/list' }, byFront[0]![0]);
  assert.equal(gone.status, 404, gone.text);
  assert.match(gone.type, /application\/json/);
  assert.match(gone.text, /Session not found/);
  for (let i = 0; i < 3; i++) {
    const again = await mcp(base, fronts.token, INIT);
    assert.equal(again.status, 200, again.text);
    assert.ok(again.sessionId?.startsWith('front2.'), `a new session after front1 died: ${again.sessionId}`);
    assert.equal((await mcp(base, fronts.token, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, again.sessionId)).status, 200);
  }
  const rest = await fetch(`${base}/v1/jobs`, { headers: { Authorization: `Bearer ${fronts.token}` } });
  assert.equal(rest.status, 200);
}

describe('deploy/compose.scale.yaml', () => {
  const compose = YAML.parse(readRepoFile('deploy/compose.scale.yaml'), { merge: true }) as {
    name: string;
    services: Record<string, { command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; depends_on?: unknown; image?: string; healthcheck?: { disable?: boolean } }>;
    volumes: Record<string, unknown>;
  };
  const services = compose.services;

  it('has Redis with its append-only file, two fronts, two workers and the proxy', () => {
    assert.deepEqual(Object.keys(services).sort(), ['front1', 'front2', 'proxy', 'redis', 'worker1', 'worker2']);
    const redis = services.redis!.command!.join(' ');
    assert.match(redis, /--appendonly yes/);
    assert.match(redis, /--appendfsync always/);
    assert.match(redis, /--maxmemory-policy noeviction/, 'BullMQ needs Redis never to evict keys');
    for (const name of ['front1', 'front2', 'worker1', 'worker2']) {
      const service = services[name]!;
      assert.equal(service.environment?.CLAUDE_ASYNC_REDIS_URL, 'redis://redis:6379', name);
      assert.deepEqual(service.depends_on, { redis: { condition: 'service_healthy' } }, `${name} waits for Redis`);
      // Each keeps its own data dir: nothing but Redis is shared between them.
      assert.ok(service.volumes?.some((v) => v === `${name}-data:/data`), `${name} has its own /data`);
    }
  });

  it('fronts serve with their own names; workers run jobs with stable ids, roots and slots', () => {
    for (const front of FRONTS) {
      assert.deepEqual(services[front]!.command, ['serve']);
      assert.equal(services[front]!.environment?.CLAUDE_ASYNC_FRONT_ID, front);
    }
    const workerIds = ['worker1', 'worker2'].map((name) => {
      const worker = services[name]!;
      assert.deepEqual(worker.command, ['worker']);
      assert.equal(worker.environment?.CLAUDE_ASYNC_ALLOWED_ROOTS, '/workspace');
      assert.match(worker.environment?.CLAUDE_ASYNC_MAX_CONCURRENT ?? '', /^\d+$/);
      assert.equal(worker.healthcheck?.disable, true, 'a worker has no /healthz to probe');
      return worker.environment?.CLAUDE_ASYNC_WORKER_ID;
    });
    assert.deepEqual(workerIds, ['worker1', 'worker2']);
  });

  it('the proxy runs deploy/nginx.scale.conf on loopback, and its upstreams are the fronts compose starts', () => {
    const proxy = services.proxy!;
    assert.deepEqual(proxy.ports, ['127.0.0.1:8787:80']);
    const mount = proxy.volumes!.find((v) => v.includes('nginx.scale.conf'))!;
    assert.ok(fs.existsSync(path.join(DEPLOY, mount.split(':')[0]!)), mount);
    const conf = readRepoFile('deploy/nginx.scale.conf');
    const caddy = readRepoFile('deploy/Caddyfile.scale');
    for (const front of FRONTS) {
      assert.match(conf, new RegExp(`"~\\^${front}\\\\\\."\\s+claude_async_${front};`), `nginx routes ${front}'s sessions`);
      assert.match(conf, new RegExp(`upstream claude_async_${front} \\{\\s+server ${front}:8787;`));
      assert.match(caddy, new RegExp(`@${front} header_regexp Mcp-Session-Id \\^${front}\\\\\\.`), `Caddy routes ${front}'s sessions`);
    }
    for (const volume of Object.values(services).flatMap((s) => s.volumes ?? [])) {
      const source = volume.split(':')[0]!;
      if (!source.startsWith('.') && !source.startsWith('$')) assert.ok(source in compose.volumes, `volume ${source} is declared`);
    }
  });
});

describe('deploy/nginx.scale.conf live in front of two fronts', { skip: needsLinux('the nginx deploy path is Linux') || missing('nginx', 'nginx'), timeout: 120_000 }, () => {
  let nginx: LiveNginx | undefined;
  let root = '';
  before(() => {
    root = tempDir('ca-nginx-scale-');
  });
  after(async () => {
    await nginx?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('keeps each MCP session on its front and sends a session whose front is gone to start again', async (t) => {
    const fronts = await startFronts(t);
    const port = await freePort();
    const original = readRepoFile('deploy/nginx.scale.conf');
    // Only addresses and the log path change; every other line runs as shipped.
    const site = original
      .replaceAll('server front1:8787;', `server 127.0.0.1:${fronts.ports[0]};`)
      .replaceAll('server front2:8787;', `server 127.0.0.1:${fronts.ports[1]};`)
      .replace(/^\s*listen 80;/m, `    listen 127.0.0.1:${port};`)
      .replace('/var/log/nginx/access.log', path.join(root, 'access.log'));
    assert.notEqual(site, original);
    assert.doesNotMatch(site, /front\d:8787|listen 80;/, 'every address was replaced');
    const tree = stockNginxTree(root, () => site);
    const base = `http://127.0.0.1:${port}`;
    nginx = await startNginx(tree, async () => (await fetch(`${base}/readyz`)).ok);
    await provesSessionRouting(base, fronts);
  });
});

describe('deploy/Caddyfile.scale', { skip: needsLinux('the Caddy deploy path is Linux') || missing('caddy', 'caddy'), timeout: 120_000 }, () => {
  let home = '';
  let caddyPid: number | undefined;
  before(() => {
    home = tempDir('ca-caddy-scale-');
  });
  after(async () => {
    if (caddyPid && isAlive(caddyPid)) {
      try {
        process.kill(-caddyPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(home, { recursive: true, force: true });
  });
  const caddyEnv = (extra: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home, ...extra });

  it('passes caddy validate with the compose defaults', async () => {
    const { spawnSync } = await import('node:child_process');
    const checked = spawnSync(findCommand('caddy')!, ['validate', '--config', path.join(DEPLOY, 'Caddyfile.scale'), '--adapter', 'caddyfile'], { encoding: 'utf8', env: caddyEnv({}) });
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
    assert.match(`${checked.stdout}${checked.stderr}`, /Valid configuration/);
  });

  it('live: keeps each MCP session on its front and sends a session whose front is gone to start again', async (t) => {
    const fronts = await startFronts(t);
    const port = await freePort();
    const site = `http://127.0.0.1:${port}`;
    // The shipped file, bound to loopback only (Caddy listens on every interface otherwise).
    const file = path.join(home, 'Caddyfile');
    const original = readRepoFile('deploy/Caddyfile.scale');
    const bound = original.replace('{$CLAUDE_ASYNC_SITE:claude-async.example.com} {\n', (line) => `${line}\tbind 127.0.0.1\n`);
    assert.notEqual(bound, original);
    fs.writeFileSync(file, bound);
    const child = spawn(findCommand('caddy')!, ['run', '--config', file, '--adapter', 'caddyfile'], {
      env: caddyEnv({ CLAUDE_ASYNC_SITE: site, FRONT1: `127.0.0.1:${fronts.ports[0]}`, FRONT2: `127.0.0.1:${fronts.ports[1]}` }),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    caddyPid = child.pid;
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    t.after(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`caddy exited at start:\n${output}`);
      return (await fetch(`${site}/readyz`).catch(() => null))?.ok;
    }, 20_000, 'caddy to listen');
    try {
      await provesSessionRouting(site, fronts);
    } catch (error) {
      throw new Error(`${String(error)}\ncaddy said:\n${output.slice(-4000)}`);
    }
  });
});

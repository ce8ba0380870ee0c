import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import pino from 'pino';
import type { Config } from '../src/config.js';
import { JobService } from '../src/jobs/service.js';
import { startServer } from '../src/server.js';
import { STDIO_VIEWER } from '../src/stdio.js';
import { cleanupJobs, isAlive, testConfig, waitFor } from './support/helpers.js';
import { SERVER_BIN } from './support/server-process.js';
import { needsPosix } from './support/platform.js';

const TOOL_NAMES = ['claude_approve', 'claude_cancel', 'claude_check', 'claude_jobs', 'claude_run', 'claude_start', 'claude_wait'];
type Structured = Record<string, unknown>;
/** node:test runs after-hooks first-in first-out; cleanup must undo in reverse (processes, then dirs). */
function deferrals(t: TestContext): (fn: () => unknown) => void {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => stack.push(fn);
}

/** The environment a stdio client would give the server: nothing but where things are. */
function stdioEnv(config: Config): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: config.dataDir,
    CLAUDE_ASYNC_DATA_DIR: config.dataDir,
    CLAUDE_ASYNC_CLAUDE_BIN: config.claudeBin,
    CLAUDE_ASYNC_DEFAULT_CWD: config.defaultCwd,
    CLAUDE_ASYNC_ALLOWED_ROOTS: config.allowedRoots.join(','),
    CLAUDE_ASYNC_KILL_GRACE: '1s',
    CLAUDE_ASYNC_RETENTION: '0',
    CLAUDE_ASYNC_LOG_LEVEL: 'info',
  };
}

/** A raw `claude-async stdio` child on a fresh data dir, ended and cleaned up after the test. */
function spawnRawStdio(t: TestContext) {
  const config = testConfig();
  const defer = deferrals(t);
  defer(() => cleanupJobs(config));
  const child = spawn(process.execPath, [SERVER_BIN, 'stdio'], { env: stdioEnv(config), stdio: ['pipe', 'pipe', 'pipe'] });
  defer(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { config, child, defer };
}

async function stdioClient(defer: (fn: () => unknown) => void, env: Record<string, string>, cwd?: string) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [SERVER_BIN, 'stdio'], env, stderr: 'pipe', ...(cwd ? { cwd } : {}) });
  let stderr = '';
  transport.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const protocolErrors: Error[] = [];
  const client = new Client({ name: 'stdio-test', version: '1.0.0' });
  client.onerror = (error) => protocolErrors.push(error);
  await client.connect(transport);
  const pid = transport.pid;
  defer(async () => {
    await client.close();
    if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return { client, transport, stderr: () => stderr, protocolErrors };
}

async function waitDone(client: Client, jobId: unknown): Promise<Structured> {
  const waited = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 20 } }, undefined, { timeout: 60_000 });
  return waited.structuredContent as Structured;
}

describe('claude-async stdio', () => {
  it('lists the tools with nothing in the environment but PATH and HOME (how Glama runs it)', async (t) => {
    const config = testConfig();
    const home = config.dataDir; // the server falls back to $HOME/.claude-async and cwd = $HOME
    const defer = deferrals(t);
    defer(() => cleanupJobs(config));
    const { client, protocolErrors } = await stdioClient(defer, { PATH: process.env.PATH ?? '', HOME: home }, home);
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((x) => x.name).sort(), TOOL_NAMES);
    // The one start schema: what HTTP clients may send, stdio clients may too (labels, approvals).
    const startFields = Object.keys(tools.find((x) => x.name === 'claude_start')?.inputSchema.properties ?? {});
    assert.ok(startFields.includes('labels') && startFields.includes('approvals'), startFields.join(', '));
    assert.deepEqual(protocolErrors, []);
  });

  it('starts a job, waits until it completes, and writes logs only to stderr', async (t) => {
    const config = testConfig();
    const defer = deferrals(t);
    defer(() => cleanupJobs(config));
    const { client, stderr, protocolErrors } = await stdioClient(defer, stdioEnv(config));
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 3 100\nbuild it', title: 'over stdio' } });
    const { jobId } = started.structuredContent as Structured;
    assert.match(String(jobId), /^[0-9a-z]{26}$/);
    const done = await waitDone(client, jobId);
    assert.equal(done.status, 'completed');
    assert.equal((done.result as Structured).result, 'Echo: build it');
    const jobs = await client.callTool({ name: 'claude_jobs', arguments: {} });
    assert.equal(((jobs.structuredContent as Structured).jobs as Structured[])[0]!.jobId, jobId);
    // Every non-protocol byte went to stderr: the client saw no garbage on stdout.
    assert.deepEqual(protocolErrors, []);
    assert.match(stderr(), /serving MCP over stdio/);
  });

  it('exits 0 when the client closes stdin, and a running job keeps running to completion', async (t) => {
    const { config, child, defer } = spawnRawStdio(t);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
    send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'claude_start', arguments: { prompt: '#fake sleep 1500\nslow' } } });
    const reply = await waitFor(() => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id?: number; result?: { structuredContent?: Structured } }).find((m) => m.id === 2), 15_000, 'claude_start reply');
    const jobId = String(reply.result!.structuredContent!.jobId);
    // Every stdout line is a JSON-RPC message.
    for (const line of out.split('\n').filter(Boolean)) assert.equal((JSON.parse(line) as { jsonrpc: string }).jsonrpc, '2.0');

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    assert.equal(await exited, 0);

    const service = await JobService.open(config);
    defer(() => service.close());
    const running = await service.check(jobId, STDIO_VIEWER);
    assert.ok(['queued', 'running', 'completed'].includes(running.status), `status after the stdio server left: ${running.status}`);
    const done = await waitFor(async () => {
      const check = await service.check(jobId, STDIO_VIEWER);
      return check.status === 'completed' ? check : undefined;
    }, 15_000, 'the job to complete after the server exited');
    assert.equal(done.exitCode, 0);
  });

  it('exits 0 on SIGTERM', { skip: needsPosix('Windows has no SIGTERM: a kill there ends the process at once') }, async (t) => {
    const { child } = spawnRawStdio(t);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => /serving MCP over stdio/.test(err), 15_000, 'the stdio server to start');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

describe('stdio and HTTP on one data dir', () => {
  it('a job started over stdio is visible over HTTP, and one started over HTTP is visible over stdio', async (t) => {
    // Auth none: the HTTP caller is principal 'local', the same identity stdio uses.
    const config = testConfig({ port: 0, auth: 'none' });
    const server = await startServer(config, pino({ level: 'silent' }));
    const defer = deferrals(t);
    defer(() => cleanupJobs(config));
    defer(() => server.close());
    const { client } = await stdioClient(defer, stdioEnv(config));

    const fromStdio = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 2 50\nfrom stdio' } });
    const stdioJobId = String((fromStdio.structuredContent as Structured).jobId);
    const seen = await fetch(`${server.url}/v1/jobs/${stdioJobId}`);
    assert.equal(seen.status, 200);
    assert.equal(((await seen.json()) as Structured).jobId, stdioJobId);

    const posted = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: '#fake tick 2 50\nfrom http' }) });
    assert.equal(posted.status, 201);
    const httpJobId = String(((await posted.json()) as Structured).jobId);
    const done = await waitDone(client, httpJobId);
    assert.equal(done.status, 'completed');
    assert.equal((done.result as Structured).result, 'Echo: from http');

    await waitDone(client, stdioJobId);
    const listed = await fetch(`${server.url}/v1/jobs`);
    const ids = (((await listed.json()) as Structured).jobs as Structured[]).map((j) => j.jobId);
    assert.ok(ids.includes(stdioJobId) && ids.includes(httpJobId), `HTTP list: ${ids.join(', ')}`);
    const overStdio = await client.callTool({ name: 'claude_jobs', arguments: {} });
    const stdioIds = ((overStdio.structuredContent as Structured).jobs as Structured[]).map((j) => j.jobId);
    assert.ok(stdioIds.includes(stdioJobId) && stdioIds.includes(httpJobId), `stdio list: ${stdioIds.join(', ')}`);
  });
});

// The real server process for attack tests: `node .test-build/src/index.js serve` on a free loopback
// port with the fake CLI, its own temp data dir, and raw HTTP helpers that send paths and headers
// exactly as written. Every process started here is ended by pid in stop().
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { configFor } from '../../src/config.js';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, freePort, tempDir, waitFor } from '../helpers.js';

export const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface RealServer {
  child: ChildProcess;
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  work: string;
  env: Record<string, string>;
  logs: () => string;
  stop: () => Promise<void>;
}

export { freePort } from '../helpers.js';

/** The real server on a known port (so its public URL, JWT audience and Origin are right). */
export async function spawnServer(env: Record<string, string>, dataDir = tempDir('ca-harden-')): Promise<RealServer> {
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  const port = await freePort();
  const fullEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dataDir,
    CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
    CLAUDE_ASYNC_PORT: String(port), CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_RETENTION: '0',
    CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '100000', CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE: '100000',
    CLAUDE_ASYNC_MAX_CONCURRENT: '4', CLAUDE_ASYNC_KILL_GRACE: '1s',
    ...env,
  };
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: dataDir, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  // Generous: on a busy shared box a cold start of node + the engine can take a while.
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${out}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 90_000, 'the server to listen').catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}; its output:\n${out.slice(-2000)}`);
  });
  return {
    child, url, port, pid: child.pid!, dataDir, work, env: fullEnv, logs: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      cleanupJobs(configFor({ dataDir }));
    },
  };
}

export async function connect(url: string, token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'attacker', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raw HTTP, so paths and headers go out exactly as written (fetch would normalize them). */
export function raw(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawAnswer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout on ${options.path}`)));
    req.end(options.body);
  });
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * An open SSE response read event by event. `closed` resolves when the server ends the stream;
 * `abort()` hangs up from our side.
 */
export interface OpenStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  closed: Promise<void>;
  abort(): void;
}

export function openStream(url: string, urlPath: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<OpenStream> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event.event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'id') event.id = value;
          }
          if (data.length === 0 && event.event === 'message') continue;
          event.data = data.join('\n');
          events.push(event);
        }
      });
      const closed = new Promise<void>((done) => {
        res.once('close', () => done());
        res.once('error', () => done());
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, events, closed, abort: () => req.destroy() });
    });
    req.on('error', (err) => reject(err));
    req.end(body);
  });
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const jsonHeaders = (token: string) => ({ ...bearer(token), 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' });
export const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** POST /v1/jobs with a JSON body; the parsed answer. */
export async function startJob(url: string, token: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: jsonHeaders(token), body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

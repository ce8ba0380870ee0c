// The real server process (node .test-build/src/index.js serve) for tests that speak raw HTTP to it,
// and a small raw MCP client, so a test sends exactly the request the spec text is about.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, freePort, tempDir, waitFor } from '../helpers.js';
import { configFor } from '../../src/config.js';

const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface RealServer {
  child: ChildProcess;
  url: string;
  port: number;
  dataDir: string;
  work: string;
  logs: () => string;
  stop: () => Promise<void>;
}

export { freePort } from '../helpers.js';

/**
 * Starts the server on a free port of 127.0.0.1 (so its public URL and Origin are known) with the
 * fake CLI; `prepare` may seed the data dir first. Register `stop` with t.after.
 */
export async function spawnServer(env: Record<string, string> = {}, prepare?: (dataDir: string, work: string) => void | Promise<void>): Promise<RealServer> {
  const dataDir = tempDir('ca-mcp-');
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  await prepare?.(dataDir, work);
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dataDir,
      CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
      CLAUDE_ASYNC_PORT: String(port), CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_RETENTION: '0',
      CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '100000', CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE: '100000', CLAUDE_ASYNC_KILL_GRACE: '1s',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    cleanupJobs(configFor({ dataDir }));
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${out}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    }, 60_000, 'the server to listen');
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, url, port, dataDir, work, logs: () => out, stop };
}

export interface SseEvent {
  id?: string;
  retry?: number;
  data: string;
}

/** Parses SSE blocks out of a growing buffer; returns the events and the unparsed rest. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = buffer;
  let cut: number;
  while ((cut = rest.indexOf('\n\n')) >= 0) {
    const block = rest.slice(0, cut);
    rest = rest.slice(cut + 2);
    if (block.split('\n').every((line) => line.startsWith(':'))) continue; // keepalive comment
    const field = (name: string) => block.split('\n').filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).replace(/^ /, ''));
    const id = field('id')[0];
    const retry = field('retry')[0];
    events.push({ ...(id !== undefined ? { id } : {}), ...(retry !== undefined ? { retry: Number(retry) } : {}), data: field('data').join('\n') });
  }
  return { events, rest };
}

/** Reads SSE events off a response until `until` is satisfied (or the stream ends), then stops reading. */
export async function readSse(res: Response, until: (events: SseEvent[]) => boolean, timeoutMs = 15_000): Promise<{ events: SseEvent[]; ended: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const events: SseEvent[] = [];
  let ended = false;
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching SSE event within ${timeoutMs} ms; got ${JSON.stringify(events).slice(0, 2000)}`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => (timer = setTimeout(() => r(null), left)))]);
      clearTimeout(timer);
      if (chunk === null) continue;
      if (chunk.done) {
        ended = true;
        break;
      }
      const parsed = parseSse(buffer + decoder.decode(chunk.value, { stream: true }));
      buffer = parsed.rest;
      events.push(...parsed.events);
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => {});
  }
  return { events, ended };
}

/** The JSON-RPC messages carried by SSE events (priming events carry none). */
export const messagesOf = (events: SseEvent[]) => events.filter((e) => e.data.trim() !== '').map((e) => JSON.parse(e.data) as Record<string, any>);

export interface RawSession {
  sessionId: string;
  protocolVersion: string;
  headers: Record<string, string>;
  /** POSTs one JSON-RPC message in this session and returns the raw response. */
  post(body: unknown, extra?: Record<string, string>): Promise<Response>;
  /** POSTs a request and returns its JSON-RPC answer (from JSON or from the SSE stream). */
  call(method: string, params?: unknown, extra?: Record<string, string>): Promise<Record<string, any>>;
}

let nextId = 100;

/** initialize + notifications/initialized over raw HTTP. */
export async function rawSession(url: string, options: { token?: string; protocolVersion?: string; accept?: string } = {}): Promise<RawSession> {
  const protocolVersion = options.protocolVersion ?? '2025-11-25';
  const base: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: options.accept ?? 'application/json, text/event-stream',
    ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
  };
  const init = await fetch(`${url}/mcp`, { method: 'POST', headers: base, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${await init.text()}`);
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  if (!sessionId) throw new Error('initialize gave no Mcp-Session-Id');
  const headers = { ...base, 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': protocolVersion };
  const post = (body: unknown, extra: Record<string, string> = {}) => fetch(`${url}/mcp`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  const call = async (method: string, params?: unknown, extra?: Record<string, string>) => {
    const id = nextId++;
    const res = await post({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }, extra);
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const { events } = await readSse(res, (evs) => messagesOf(evs).some((m) => m.id === id));
      return messagesOf(events).find((m) => m.id === id)!;
    }
    return (await res.json()) as Record<string, any>;
  };
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
  return { sessionId, protocolVersion, headers, post, call };
}

// A real /v1 app for the REST tests: the real authenticator with hashed API tokens (so scopes and
// ownership are exercised end to end), the router under test and its problem handler, on 127.0.0.1:0.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { requireAuth, resourceMetadataUrl } from '../src/auth/middleware.js';
import { TokenStore } from '../src/auth/token-store.js';
import type { Config } from '../src/config.js';
import { createRestRouter, type RestOptions } from '../src/http/rest.js';
import { problemErrorHandler } from '../src/http/problem.js';
import { openService, waitFor } from './helpers.js';

export interface RestApp {
  base: string;
  config: Config;
  service: Awaited<ReturnType<typeof openService>>['service'];
  /** alice and bob: jobs:read + jobs:write; reader: jobs:read only; root: admin. */
  tokens: { alice: string; bob: string; reader: string; root: string };
  call(path: string, init?: { token?: string | null; method?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<Response>;
}

export async function startRestApp(
  t: { after: (fn: () => unknown) => void },
  overrides: Partial<Config> = {},
  restOptions: RestOptions = { heartbeatMs: 200 },
): Promise<RestApp> {
  const { config, service } = await openService(t, overrides, undefined, { followPollMs: 50 });
  const store = new TokenStore(path.join(config.dataDir, 'tokens.json'));
  const tokens = {
    alice: (await store.create('alice', ['jobs:read', 'jobs:write'])).token,
    bob: (await store.create('bob', ['jobs:read', 'jobs:write'])).token,
    reader: (await store.create('reader', ['jobs:read'])).token,
    root: (await store.create('root', ['admin'])).token,
  };
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  // Client and server share this process: a test that hashes 100 MB blocks both, and the server's
  // 5 s keep-alive timer then closes a socket just as fetch reuses it ("fetch failed"). A long
  // keep-alive keeps that race out of tests that are about something else.
  server.keepAliveTimeout = 120_000;
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const authOptions = { mode: 'token' as const, publicUrl: base, tokensFile: store.file, authFailuresPerMinute: 1000 };
  const fullConfig = { ...config, publicUrl: base };
  // The same order as src/http/app.ts: parse, authenticate, route, map errors.
  app.use(
    '/v1',
    express.json({ limit: config.maxBodyBytes }),
    requireAuth(createAuthenticator(authOptions, store), { resourceMetadataUrl: resourceMetadataUrl(base) }),
    createRestRouter(service, fullConfig, restOptions),
  );
  app.use('/v1', problemErrorHandler());
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));

  return {
    base, config: fullConfig, service, tokens,
    call(urlPath, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const token = init.token === undefined ? tokens.alice : init.token;
      if (token) headers.authorization = `Bearer ${token}`;
      let body: string | undefined = init.rawBody;
      if (init.body !== undefined) {
        body = JSON.stringify(init.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(base + urlPath, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body } : {}) });
    },
  };
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Reads an event stream to its end (or until `stop` says so), parsing events and counting pings. */
export async function readEvents(res: Response, stop?: (events: SseEvent[]) => boolean): Promise<{ events: SseEvent[]; pings: number }> {
  const events: SseEvent[] = [];
  let pings = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) pings++;
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('id: ')) event.id = line.slice(4);
      }
      event.data = data.join('\n');
      if (data.length) events.push(event);
    }
    if (stop?.(events)) {
      await reader.cancel();
      break;
    }
  }
  return { events, pings };
}

/** Starts a job through the API and waits until it has ended. */
export async function runJob(app: RestApp, prompt: string, token = app.tokens.alice): Promise<string> {
  const res = await app.call('/v1/jobs', { token, body: { prompt } });
  if (res.status !== 201) throw new Error(`start failed: ${res.status} ${await res.text()}`);
  const { jobId } = (await res.json()) as { jobId: string };
  await waitFor(async () => {
    const job = (await (await app.call(`/v1/jobs/${jobId}`, { token })).json()) as { status: string };
    return ['completed', 'failed', 'cancelled', 'timed_out', 'orphaned'].includes(job.status);
  }, 15_000, `job ${jobId} to end`);
  return jobId;
}

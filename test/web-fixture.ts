// A real server (startServer, the same app `serve` runs) on a free loopback port, with tokens for
// two people and an admin, and a headless Chromium from Debian driven by playwright-core. The public
// URL must be known before the app is built (allowed Origins, the OAuth resource), so a free port is
// found first and the start is retried if another process takes it in between.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { TokenStore } from '../src/auth/token-store.js';
import type { Config } from '../src/config.js';
import { startServer, StartupError, type RunningServer } from '../src/server.js';
import { cleanupJobs, freePort, REPO_ROOT, testConfig, waitFor } from './helpers.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
export const chromiumMissing = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it): browser tests skipped`;

type After = { after: (fn: () => unknown) => void };
type Json = Record<string, any>;

export interface WebServer {
  base: string;
  config: Config;
  server: RunningServer;
  tokens: { alice: string; bob: string; root: string };
  call(urlPath: string, init?: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  startJob(prompt: string, token?: string, extra?: Record<string, unknown>): Promise<string>;
  waitStatus(jobId: string, wanted: (status: string) => boolean, token?: string): Promise<Record<string, any>>;
  /** Ends the server side of every /events stream open right now (a dropped connection). */
  dropEventStreams(): number;
}

export async function startWebServer(t: After, overrides: Partial<Config> = {}): Promise<WebServer> {
  const base0 = testConfig({ auth: 'token', ...overrides });
  let server: RunningServer | undefined;
  // One hook, in order: the server flushes its index before the folder goes.
  t.after(async () => {
    await server?.close();
    cleanupJobs(base0);
  });
  const store = new TokenStore(path.join(base0.dataDir, 'tokens.json'));
  const tokens = {
    alice: (await store.create('alice', ['jobs:read', 'jobs:write'])).token,
    bob: (await store.create('bob', ['jobs:read', 'jobs:write'])).token,
    root: (await store.create('root', ['admin'])).token,
  };
  let config = base0;
  for (let attempt = 0; !server; attempt++) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    config = { ...base0, port, host: '127.0.0.1', publicUrl: base, allowedOrigins: [base], jwtAudience: `${base}/mcp` };
    try {
      server = await startServer(config, pino({ level: 'silent' }));
    } catch (error) {
      if (!(error instanceof StartupError) || attempt >= 4) throw error;
    }
  }
  const running = server;
  // Event streams still being answered (not the idle keep-alive sockets that once carried one).
  const streams = new Set<net.Socket>();
  running.http.on('request', (req, res) => {
    if (/\/events(\?|$)/.test(req.url ?? '')) {
      const socket = req.socket;
      streams.add(socket);
      res.once('close', () => streams.delete(socket));
    }
  });
  const base = config.publicUrl;
  const call: WebServer['call'] = (urlPath, init = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${init.token ?? tokens.alice}`, ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(base + urlPath, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  };
  return {
    base, config, server: running, tokens, call,
    async startJob(prompt, token = tokens.alice, extra = {}) {
      const res = await call('/v1/jobs', { token, body: { prompt, ...extra } });
      if (res.status !== 201) throw new Error(`start failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { jobId: string }).jobId;
    },
    async waitStatus(jobId, wanted, token = tokens.alice) {
      return waitFor(async () => {
        const job = (await (await call(`/v1/jobs/${jobId}`, { token })).json()) as Record<string, any>;
        return wanted(String(job.status)) ? job : undefined;
      }, 20_000, `job ${jobId} status`);
    },
    dropEventStreams() {
      const n = streams.size;
      for (const socket of streams) socket.destroy();
      return n;
    },
  };
}

/** The caller closes it (browser.close() ends the Chromium process tree it started). */
export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return browser;
}

export interface Watched {
  page: Page;
  context: BrowserContext;
  requests: Request[];
  dialogs: string[];
  consoleErrors: string[];
}

/** A fresh context (its own sessionStorage) and page, recording every request, dialog and error. */
export async function openPage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<Watched> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  const watched: Watched = { page, context, requests: [], dialogs: [], consoleErrors: [] };
  page.on('request', (request) => watched.requests.push(request));
  page.on('dialog', (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') watched.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => watched.consoleErrors.push(String(error)));
  return watched;
}

export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Every request the page made is its own static file, an OAuth discovery document, or a documented /v1 operation. */
export async function assertDocumentedRequests(server: WebServer, requests: Request[], token: string, oauthPaths: string[] = []): Promise<void> {
  const doc = (await (await server.call('/v1/openapi.json')).json()) as Json;
  const operations = Object.entries(doc.paths as Json).flatMap(([template, item]) => Object.keys(item).filter((k) => k !== 'parameters').map((method) => ({
    method: method.toUpperCase(),
    pattern: new RegExp(`^/v1${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  })));
  const staticFiles = new Set(['/', '/ui/', '/ui/index.html']);
  assert.ok(requests.length > 0);
  for (const request of requests) {
    const url = new URL(request.url());
    const where = `${request.method()} ${url.pathname}`;
    if (url.protocol === 'blob:') continue;
    assert.equal(url.origin, server.base, `${where} left the server's origin`);
    assert.ok(!request.url().includes(token), `${where} put the token in the URL`);
    if (!oauthPaths.includes(url.pathname)) assert.equal(request.headers().cookie, undefined, `${where} sent a cookie`);
    if (url.pathname.startsWith('/v1/')) {
      assert.ok(operations.some((op) => op.method === request.method() && op.pattern.test(url.pathname)), `${where} is not a documented /v1 operation`);
      assert.match(request.headers().authorization ?? '', /^Bearer /, `${where} went without the bearer header`);
    } else if (oauthPaths.includes(url.pathname)) {
      // The OAuth endpoints the authorization server's own metadata named (a navigation or a fetch).
    } else if (url.pathname.startsWith('/.well-known/')) {
      assert.match(url.pathname, /^\/\.well-known\/oauth-(protected-resource\/mcp|authorization-server)$/, where);
      assert.equal(request.method(), 'GET', where);
    } else {
      assert.equal(request.method(), 'GET', where);
      assert.ok(staticFiles.has(url.pathname) || /^\/ui\/[a-z-]+\.(js|css|svg)$/.test(url.pathname), `${where} is not one of the page's files`);
    }
  }
}


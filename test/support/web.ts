// The jobs page under a real browser: the in-process test server on a known URL (allowed Origins and
// the OAuth resource name it) and a headless Chromium from Debian driven by playwright-core.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import type { Config } from '../../src/config.js';
import { REPO_ROOT } from './helpers.js';
import { startTestServer, type After, type TestServer } from './in-process-server.js';
import { forSuite } from './suite.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
export const chromiumMissing = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it): browser tests skipped`;

type Json = Record<string, any>;

export interface WebServer extends TestServer {
  /** Ends the server side of every /events stream open right now (a dropped connection). */
  dropEventStreams(): number;
}

export async function startWebServer(t: After, overrides: Partial<Config> = {}): Promise<WebServer> {
  const server = await startTestServer(t, overrides, { knownUrl: true, defaultToken: 'alice' });
  // Event streams still being answered (not the idle keep-alive sockets that once carried one).
  const streams = new Set<net.Socket>();
  server.running.http.on('request', (req, res) => {
    if (/\/events(\?|$)/.test(req.url ?? '')) {
      const socket = req.socket;
      streams.add(socket);
      res.once('close', () => streams.delete(socket));
    }
  });
  return Object.assign(server, {
    dropEventStreams() {
      const n = streams.size;
      for (const socket of streams) socket.destroy();
      return n;
    },
  });
}

/** The caller closes it (browser.close() ends the Chromium process tree it started). */
async function launchBrowser(): Promise<Browser> {
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

export interface SuiteBrowser {
  /** A fresh context (its own sessionStorage) and page, recording every request, dialog and error. */
  openPage(viewport?: { width: number; height: number }): Promise<Watched>;
}

/**
 * Call inside a describe: one Chromium for its tests, launched before the first and closed after the
 * last (a launch costs seconds on a busy box); each openPage() is a fresh context, so tests stay apart.
 */
export function suiteBrowser(): SuiteBrowser {
  const browser = forSuite(launchBrowser, (launched) => launched.close());
  return { openPage: (viewport) => openPage(browser(), viewport) };
}

async function openPage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<Watched> {
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
    assert.equal(url.origin, server.url, `${where} left the server's origin`);
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


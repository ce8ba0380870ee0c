// mcp-remote's own OAuth flow against the real server, with the consent page driven by a real
// headless browser (Debian's chromium through playwright-core; nothing is downloaded). mcp-remote
// prints the authorize URL (its "open a browser" helper is replaced by a no-op on PATH), chromium
// approves with a claude-async token, mcp-remote receives the code on its loopback callback, and
// then MCP calls go through it over stdio. The consent page is kept as a screenshot in
// test-artifacts/ (gitignored).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, freePort, tempDir, waitFor } from './support/helpers.js';
import { startOAuthServer } from './support/oauth.js';

const CHROMIUM = '/usr/bin/chromium';
const MCP_REMOTE = path.join(REPO_ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it)`;

describe('mcp-remote signs in through the consent page in a real browser', { skip }, () => {
  it('prints the authorize URL, chromium approves with a token, MCP calls then go through', async (t) => {
    const { chromium } = await import('playwright-core');
    const { server, tokens } = await startOAuthServer();
    const scratch = tempDir('ca-mcp-remote-');
    // Hooks run last-registered first here: the browser and mcp-remote (registered below) are ended
    // before the server and its data go.
    const cleanups: Array<() => unknown> = [];
    t.after(async () => {
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          process.stderr.write(`cleanup failed: ${(error as Error).message}\n`);
        }
      }
    });
    cleanups.push(async () => {
      await server.stop();
      fs.rmSync(scratch, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    });
    // mcp-remote would open the system browser; a no-op opener keeps this headless and in our hands.
    const bin = path.join(scratch, 'bin');
    fs.mkdirSync(bin);
    for (const opener of ['xdg-open', 'sensible-browser', 'x-www-browser', 'gio']) {
      fs.writeFileSync(path.join(bin, opener), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    }
    const callbackPort = await freePort();
    const remote = spawn(process.execPath, [MCP_REMOTE, `${server.url}/mcp`, String(callbackPort)], {
      env: {
        PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: scratch, BROWSER: path.join(bin, 'xdg-open'),
        MCP_REMOTE_CONFIG_DIR: path.join(scratch, 'mcp-auth'),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const remoteExited = new Promise<void>((resolve) => remote.once('exit', () => resolve()));
    cleanups.push(async () => {
      if (remote.exitCode === null && remote.signalCode === null) {
        try {
          process.kill(-remote.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await remoteExited;
    });
    let stderr = '';
    remote.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const authorizeUrl = await waitFor(() => /Please authorize this client by visiting:\s*\n(\S+)/.exec(stderr)?.[1], 60_000, `mcp-remote to print the authorize URL; it said:\n${stderr}`);
    assert.ok(authorizeUrl.startsWith(`${server.url}/authorize?`));

    const profile = path.join(scratch, 'chromium-profile');
    // A fresh profile per run (playwright's spelling of --user-data-dir).
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 390, height: 844 }, // a phone
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    cleanups.push(() => browser.close());
    const page = browser.pages()[0] ?? await browser.newPage();
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused/i.test(message.text())) cspViolations.push(message.text());
    });
    const consent = await page.goto(authorizeUrl);
    assert.equal(consent?.status(), 200);
    assert.match(await page.locator('h1').innerText(), /Allow .* to use claude-async\?/);
    assert.match(await page.content(), new RegExp(`localhost:${callbackPort}|127\\.0\\.0\\.1:${callbackPort}`), 'the page names the host it will send you back to');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'consent-page.png'), fullPage: true });
    const fits = await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
    assert.ok(fits, 'the consent page fits a phone screen without sideways scrolling');

    await page.fill('input[name="token"]', tokens.alice!);
    await Promise.all([
      page.waitForURL(new RegExp(`^http://(localhost|127\\.0\\.0\\.1):${callbackPort}/`), { timeout: 30_000 })
        .catch(async (error: Error) => {
          throw new Error(`${error.message}\npage: ${page.url()}\n${(await page.content()).slice(0, 2000)}\nconsole: ${cspViolations.join('\n')}\nserver: ${server.logs().slice(-2000)}`);
        }),
      page.click('button[name="decision"][value="approve"]'),
    ]);
    assert.deepEqual(cspViolations, [], 'the pages break none of their own CSP');
    await waitFor(() => /Proxy established successfully/.test(stderr), 60_000, `mcp-remote to connect; it said:\n${stderr}`);

    // MCP over mcp-remote's stdio, with the OAuth token it got.
    const replies = new Map<number, Record<string, unknown>>();
    let buffer = '';
    remote.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        const message = JSON.parse(line) as { id?: number };
        if (typeof message.id === 'number') replies.set(message.id, message as Record<string, unknown>);
      }
    });
    const send = (message: Record<string, unknown>) => remote.stdin!.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
    send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'browser-test', version: '1' } } });
    await waitFor(() => replies.get(1), 30_000, 'the initialize reply');
    send({ method: 'notifications/initialized' });
    send({ id: 2, method: 'tools/call', params: { name: 'claude_start', arguments: { prompt: '#fake tick 1 10\nfrom mcp-remote' } } });
    const started = await waitFor(() => replies.get(2), 30_000, 'the claude_start reply') as { result?: { structuredContent?: { jobId?: string } } };
    const jobId = started.result?.structuredContent?.jobId;
    assert.match(String(jobId), /^[0-9a-z]{26}$/, JSON.stringify(started));

    // Framed by another page, the consent page does not render (clickjacking): the browser gets it
    // (its response carries frame-ancestors 'none') and shows an error page in the frame instead.
    const framer = await browser.newPage();
    const served = framer.waitForResponse((r) => r.url().startsWith(`${server.url}/authorize`), { timeout: 30_000 });
    await framer.setContent(`<iframe src="${authorizeUrl}" width="400" height="600"></iframe>`);
    assert.match((await served).headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
    const framed = framer.frames().find((f) => f !== framer.mainFrame())!;
    await framed.waitForLoadState('load');
    const framedUrl = await waitFor(() => (framed.url().startsWith('chrome-error:') ? framed.url() : undefined), 30_000, `the frame to be blocked; it shows ${framed.url()}`);
    assert.match(framedUrl, /^chrome-error:/);
    assert.equal(await framed.locator('input[name="token"]').count(), 0, 'no consent form inside the frame');

    // The job belongs to alice: her static token sees it.
    const status = await waitFor(async () => {
      const check = await fetch(`${server.url}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${tokens.alice}` } });
      assert.equal(check.status, 200);
      const job = await check.json() as { status: string };
      return job.status === 'completed' || job.status === 'failed' ? job.status : undefined;
    }, 30_000, 'the job to end');
    assert.equal(status, 'completed');
  });
});

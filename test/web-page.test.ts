// The jobs page in a real headless Chromium (Debian's, driven by playwright-core): signing in,
// starting, following, cancelling and continuing jobs, ownership, XSS payloads, dropped streams,
// and that the page uses nothing but documented /v1 routes and its own static files.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { assertDocumentedRequests, chromiumMissing, screenshot, signIn, startWebServer, suiteBrowser } from './support/web.js';

type Json = Record<string, any>;

const transcriptText = (page: Page) => page.locator('.transcript').innerText();

describe('the jobs page in a real browser', { skip: chromiumMissing }, () => {
  const browser = suiteBrowser();

  it('signs in with a token from the keyboard, starts a job, shows its lines live and the result with cost; screenshots', async (t) => {
    const server = await startWebServer(t);
    const { page, requests, dialogs, consoleErrors } = await browser.openPage();
    const res = await page.goto(`${server.url}/`);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    const csp = res!.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /require-trusted-types-for 'script'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);

    // Keyboard only: the token field has focus; Enter submits.
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.name'), 'token');
    await page.keyboard.type(server.tokens.alice);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Jobs' }).waitFor();
    assert.equal(await page.locator('#who').innerText(), 'token:alice');
    assert.deepEqual(await page.context().cookies(), [], 'no cookie is ever set');

    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Prompt').fill('#fake tool Read /etc/hosts\n#fake tick 4 700\nhello from the web page');
    await page.getByLabel('Title').fill('web e2e');
    const modes = await page.getByLabel('Permission mode').locator('option').allInnerTexts();
    assert.deepEqual(modes, ['plan', 'dontAsk', 'default', 'acceptEdits'], 'only the modes within the cap (acceptEdits) are offered');
    assert.equal(await page.getByLabel('Permission mode').inputValue(), 'acceptEdits');
    const unlabelled = await page.evaluate('[...document.querySelectorAll("input, select, textarea")].filter((c) => c.labels.length === 0).map((c) => c.outerHTML)');
    assert.deepEqual(unlabelled, [], 'every control has a label');
    await screenshot(page, 'start-desktop');
    await page.getByRole('button', { name: 'Start job' }).click();

    await page.waitForURL(/#\/jobs\/[0-9a-z]{26}$/);
    const jobId = /#\/jobs\/([0-9a-z]{26})$/.exec(page.url())![1]!;
    await page.getByText('tick 1', { exact: true }).waitFor();
    // The first line is on screen while the job is still running: it arrived live, not at the end.
    const midway = (await (await server.call(`/v1/jobs/${jobId}`)).json()) as Json;
    assert.equal(midway.status, 'running');
    assert.equal(await page.locator('section.result').count(), 0);

    const result = page.locator('section.result');
    await result.waitFor({ timeout: 20_000 });
    assert.match(await result.innerText(), /Echo: hello from the web page/);
    assert.match(await result.innerText(), /\$0\.0123/);
    assert.match(await result.innerText(), /Turns\s+\d/);
    await page.locator('.badge.s-completed').waitFor();
    assert.deepEqual((await transcriptText(page)).match(/tick \d/g), ['tick 1', 'tick 2', 'tick 3', 'tick 4']);
    // The tool call is one line; opened, it shows its input, and its result stays folded inside.
    const tool = page.locator('details.tool');
    assert.equal(await tool.locator('> summary').innerText(), 'Read(/etc/hosts)');
    assert.equal(await tool.getAttribute('open'), null);
    await tool.locator('> summary').click();
    assert.match(await tool.locator('pre.tool-input').innerText(), /"file_path": "\/etc\/hosts"/);
    assert.equal(await tool.locator('details.tool-result').getAttribute('open'), null);
    assert.equal(await tool.locator('details.tool-result > summary').innerText(), 'Result · 1 line');
    await screenshot(page, 'job-desktop');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.locator('details.tool, .msg').first().waitFor();
    assert.notEqual(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(250, 249, 245)', 'the dark scheme applies');
    await screenshot(page, 'job-desktop-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'job-phone');

    await page.getByRole('link', { name: '← Jobs' }).click();
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.waitFor();
    await row.getByText('$0.0123').waitFor();
    assert.match(await row.innerText(), /web e2e/);
    assert.match(await row.innerText(), /completed/);
    await screenshot(page, 'list-phone');
    await page.setViewportSize({ width: 1280, height: 860 });
    await screenshot(page, 'list-desktop');
    assert.equal(await page.getByRole('columnheader', { name: 'Owner' }).count(), 0, 'no owner column for a non-admin');

    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors, []);
    await assertDocumentedRequests(server, requests, server.tokens.alice);
    for (const need of ['GET /v1/info', 'POST /v1/jobs', `GET /v1/jobs/${jobId}/events`, 'GET /v1/jobs']) {
      assert.ok(requests.some((r) => `${r.method()} ${new URL(r.url()).pathname}` === need), `the page never called ${need}`);
    }
  });

  it('cancels a running job, downloads its raw log, and signs out forgetting the token', async (t) => {
    const server = await startWebServer(t);
    const elsewhere = await server.startJob('#fake sleep 60000\ncancelled by a script', server.tokens.alice, { title: 'cancelled elsewhere' });
    const jobId = await server.startJob('#fake tick 1 10\n#fake sleep 60000\nlong job', server.tokens.alice, { title: 'to cancel' });
    const { page, requests, consoleErrors } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    // The list follows live jobs: a cancel from somewhere else shows up without a reload.
    await page.locator(`tr[data-job-id="${elsewhere}"] .badge.s-running`).waitFor();
    assert.equal((await server.call(`/v1/jobs/${elsewhere}/cancel`, { method: 'POST' })).status, 200);
    await page.locator(`tr[data-job-id="${elsewhere}"] .badge.s-cancelled`).waitFor({ timeout: 15_000 });
    await page.getByRole('link', { name: 'to cancel' }).click();
    await page.getByText('tick 1', { exact: true }).waitFor();
    await page.locator('.badge.s-running').waitFor();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await page.locator('.badge.s-cancelled').waitFor();
    assert.equal((await server.waitStatus(jobId, (s) => s === 'cancelled')).status, 'cancelled');
    assert.ok(await page.getByRole('button', { name: 'Cancel job' }).isHidden());

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download raw log' }).click()]);
    assert.equal(download.suggestedFilename(), `${jobId}.jsonl`);
    const saved = fs.readFileSync((await download.path())!, 'utf8');
    assert.equal(saved, fs.readFileSync(path.join(server.config.jobsDir, jobId, 'out.jsonl'), 'utf8'));

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate('sessionStorage.length + localStorage.length'), 0, 'nothing is kept after sign-out');
    await page.reload();
    await page.getByLabel('API token').waitFor();
    assert.deepEqual(consoleErrors, []);
    await assertDocumentedRequests(server, requests, server.tokens.alice);
  });

  it('keeps another principal\'s job out of reach by URL; an admin sees it with its owner', async (t) => {
    const server = await startWebServer(t);
    const bobJob = await server.startJob('bob private words', server.tokens.bob, { title: 'bob secret title' });
    await server.waitStatus(bobJob, (s) => s === 'completed', server.tokens.bob);
    const { page, requests } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    await page.goto(`${server.url}/ui/#/jobs/${bobJob}`);
    await page.getByRole('heading', { name: 'Job not found' }).waitFor();
    const body = await page.locator('body').innerText();
    assert.doesNotMatch(body, /bob private words|bob secret title/);
    await page.goto(`${server.url}/ui/#/`);
    await page.getByText('No jobs here yet.').waitFor();
    assert.doesNotMatch(await page.locator('body').innerText(), /bob secret title/);
    const eventsCalls = requests.filter((r) => r.url().includes(`/v1/jobs/${bobJob}/events`));
    assert.equal(eventsCalls.length, 0, 'the page did not even try to follow a job it could not see');

    const admin = await browser.openPage();
    await signIn(admin.page, server.url, server.tokens.root);
    const row = admin.page.locator(`tr[data-job-id="${bobJob}"]`);
    await row.waitFor();
    await admin.page.getByRole('columnheader', { name: 'Owner' }).waitFor();
    assert.match(await row.innerText(), /bob/);
    await admin.page.setViewportSize({ width: 1280, height: 860 });
    await screenshot(admin.page, 'list-admin-desktop');
    await admin.context.close();
  });

  it('shows script tags, onerror images, javascript: links and ANSI escapes as inert text', async (t) => {
    const server = await startWebServer(t);
    const payloads = [
      '<script>window.__pwned = 1; alert("script")</script>',
      '<img src="/ui/pwned-img" onerror="window.__pwned = 2; alert(\'img\')">',
      '<a href="javascript:alert(\'link\')">click me</a> [md](javascript:alert(1))',
    ];
    // ANSI and OSC escapes come from claude's output (#fake ansi): a prompt may not carry control characters.
    const jobId = await server.startJob(`#fake tool Bash <img src=/ui/pwned-tool onerror=alert('tool')>\n#fake ansi\n${payloads.join('\n')}`, server.tokens.alice, {
      title: '<img src=/ui/pwned-title onerror=alert("title")>',
    });
    await server.waitStatus(jobId, (s) => s === 'completed');
    const { page, requests, dialogs, consoleErrors } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    await page.getByRole('link', { name: '<img src=/ui/pwned-title onerror=alert("title")>' }).click();
    await page.locator('section.result').waitFor();
    await page.locator('details.tool > summary').click();
    await page.locator('details.tool-result > summary').click();

    const text = await transcriptText(page);
    assert.ok(text.includes('<script>window.__pwned = 1; alert("script")</script>'), text);
    assert.ok(text.includes('<img src="/ui/pwned-img" onerror='), text);
    assert.ok(text.includes('<a href="javascript:alert(\'link\')">click me</a>'), text);
    assert.ok(text.includes('␛[31mRED␛[0m'), 'ANSI escapes are shown as visible symbols');
    assert.ok(!text.includes('\u001b'), 'no raw escape character reaches the page');
    const found = await page.evaluate(`({
      pwned: window.__pwned ?? null,
      scripts: document.querySelectorAll('main script').length,
      images: document.querySelectorAll('main img').length,
      jsLinks: [...document.querySelectorAll('a')].filter((a) => (a.getAttribute('href') ?? '').trim().toLowerCase().startsWith('javascript')).length,
      handlers: [...document.querySelectorAll('main *')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
    })`);
    assert.deepEqual(found, { pwned: null, scripts: 0, images: 0, jsLinks: 0, handlers: 0 });
    await screenshot(page, 'job-xss-desktop');
    await page.goto(`${server.url}/ui/#/`);
    await page.locator(`tr[data-job-id="${jobId}"]`).waitFor();
    assert.deepEqual(dialogs, [], 'no dialog opened');
    assert.equal(requests.filter((r) => r.url().includes('pwned')).length, 0, 'no payload made a request');
    assert.deepEqual(consoleErrors, []);
  });

  it('follows a job across a dropped connection without losing or repeating a line, and continues its session', async (t) => {
    const server = await startWebServer(t);
    const { page, requests, consoleErrors } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    const jobId = await server.startJob('#fake tick 8 700\nresumable', server.tokens.alice, { title: 'resumable' });
    await page.goto(`${server.url}/ui/#/jobs/${jobId}`);
    await page.getByText('tick 2', { exact: true }).waitFor();
    assert.equal(((await (await server.call(`/v1/jobs/${jobId}`)).json()) as Json).status, 'running', 'the job is still running when its stream is cut');
    assert.equal(server.dropEventStreams(), 1, 'the page\'s event stream was open');
    await page.locator('section.result').waitFor({ timeout: 20_000 });
    assert.deepEqual((await transcriptText(page)).match(/tick \d/g), ['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5', 'tick 6', 'tick 7', 'tick 8']);
    assert.equal(await page.locator('section.result').count(), 1);
    const follows = requests.filter((r) => r.url().includes(`/v1/jobs/${jobId}/events`));
    assert.ok(follows.length >= 2, 'the page reconnected');
    assert.match(follows.at(-1)!.headers()['last-event-id'] ?? '', /^\d+$/, 'the reconnect said where it had got to');

    const first = await server.waitStatus(jobId, (s) => s === 'completed');
    await page.getByRole('link', { name: 'Continue' }).click();
    await page.getByText(`Continues session ${first.result.sessionId} of job ${jobId}.`).waitFor();
    await page.getByLabel('Prompt').fill('and then?');
    await page.getByRole('button', { name: 'Continue session' }).click();
    await page.waitForURL((url) => /#\/jobs\/[0-9a-z]{26}$/.test(url.hash) && !url.hash.endsWith(jobId));
    await page.locator('section.result').waitFor({ timeout: 20_000 });
    const nextId = /#\/jobs\/([0-9a-z]{26})$/.exec(page.url())![1]!;
    const next = await server.waitStatus(nextId, (s) => s === 'completed');
    assert.equal(next.result.sessionId, first.result.sessionId, 'the new job resumed the same Claude session');
    assert.equal(next.cwd, first.cwd);
    // The one error is the stream the test cut off.
    assert.deepEqual(consoleErrors.filter((e) => !/ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e)), []);
    await assertDocumentedRequests(server, requests, server.tokens.alice);
  });
});

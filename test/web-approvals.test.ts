// The jobs page and approvals, in Debian's headless Chromium: a job started with approvals: true
// shows each question it asks (tool, input) with Allow / Deny and a message; the answer goes to
// POST /v1/jobs/{id}/approvals/{approvalId} and the question leaves the page, also when someone
// answers it elsewhere (REST, an MCP client).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertDocumentedRequests, chromiumMissing, screenshot, signIn, startWebServer, suiteBrowser } from './support/web.js';
import { waitFor } from './support/helpers.js';

type Json = Record<string, any>;

describe('approvals on the jobs page', { skip: chromiumMissing }, () => {
  const browser = suiteBrowser();

  it('shows each question with its tool and input; Deny with a message and Allow answer it; one answered elsewhere leaves the page; screenshots', async (t) => {
    const server = await startWebServer(t, { approvals: true });
    const gate = fs.mkdtempSync(path.join(os.tmpdir(), 'web-approvals-gate-'));
    t.after(() => fs.rmSync(gate, { recursive: true, force: true }));
    // Three questions one after another; the job waits at the gate before the third, so the page
    // is known to be showing nothing between them.
    const { page, requests, dialogs, consoleErrors } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Prompt').fill(`#fake ask Bash rm -rf dist\n#fake ask Write /srv/app/config.json 100000\n#fake wait-file ${gate}/go\n#fake ask Bash git push\nthe end`);
    await page.getByLabel('Title').fill('asks three times');
    await page.getByLabel('Ask me first (approvals)').check();
    await screenshot(page, 'start-approvals-desktop');
    await page.getByRole('button', { name: 'Start job' }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-z]{26}$/);
    const jobId = /#\/jobs\/([0-9a-z]{26})$/.exec(page.url())![1]!;
    const startBody = JSON.parse(requests.find((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/jobs')!.postData() ?? '{}') as Json;
    assert.equal(startBody.approvals, true);

    const panel = page.getByRole('region', { name: 'Waiting for your answer' });
    const first = panel.getByRole('article', { name: 'Claude wants to use Bash' });
    await first.waitFor({ timeout: 30_000 });
    assert.match(await first.locator('pre.approval-input').innerText(), /"command": "rm -rf dist"/);
    assert.equal(await first.locator('.approval-truncated').count(), 0, 'a short input is shown whole, without a note');
    const unlabelled = await page.evaluate('[...document.querySelectorAll("input, select, textarea")].filter((c) => c.labels.length === 0).map((c) => c.outerHTML)');
    assert.deepEqual(unlabelled, [], 'every control has a label');
    await screenshot(page, 'job-approval-desktop');
    await first.getByLabel(/Message to Claude/).fill('use npm run clean instead');
    await first.getByRole('button', { name: 'Deny' }).click();
    await first.waitFor({ state: 'detached' });

    const second = panel.getByRole('article', { name: 'Claude wants to use Write' });
    await second.waitFor({ timeout: 30_000 });
    assert.match(await second.locator('pre.approval-input').innerText(), /"file_path": "\/srv\/app\/config.json"/);
    // 100 KB of content is past what a question shows: its head, and a word on the whole.
    assert.match(await second.locator('pre.approval-input').innerText(), /x{16384}… \[83616 more characters\]/);
    assert.match(await second.locator('.approval-truncated').innerText(), /^The input is 98 KB: long text is cut above\. Allow runs it whole/);
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'job-approval-phone');
    await page.setViewportSize({ width: 1280, height: 860 });
    await second.getByRole('button', { name: 'Allow' }).click();
    await second.waitFor({ state: 'detached' });
    await page.getByText('Allowed Write; the job goes on.').waitFor();
    assert.ok(await panel.isHidden(), 'no open question, no panel');

    // The third is answered over REST while the page shows it: it leaves the page by itself.
    fs.writeFileSync(path.join(gate, 'go'), '');
    const third = panel.getByRole('article', { name: 'Claude wants to use Bash' });
    await third.waitFor({ timeout: 30_000 });
    const open = await waitFor(async () => {
      const job = (await (await server.call(`/v1/jobs/${jobId}`)).json()) as Json;
      return (job.pendingApprovals as Json[] | undefined)?.[0];
    }, 30_000, 'the third question over REST');
    assert.equal(open.toolName, 'Bash');
    assert.deepEqual(open.input, { command: 'git push' });
    const elsewhere = await server.call(`/v1/jobs/${jobId}/approvals/${open.approvalId}`, { body: { decision: 'allow' } });
    assert.equal(elsewhere.status, 200);
    await third.waitFor({ state: 'detached', timeout: 15_000 });

    await page.locator('section.result').waitFor({ timeout: 30_000 });
    const transcript = await page.locator('.transcript').innerText();
    assert.match(transcript, /Denied Bash: use npm run clean instead/);
    assert.match(transcript, /Allowed Write/);
    assert.match(transcript, /Allowed Bash/);
    const answers = fs.readdirSync(path.join(server.config.jobsDir, jobId, 'approvals')).filter((f) => f.endsWith('.answer.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(server.config.jobsDir, jobId, 'approvals', f), 'utf8')) as Json);
    assert.deepEqual(answers.map((a) => [a.decision, a.answeredBy, a.message ?? null]).sort(), [
      ['allow', 'token:alice', null], ['allow', 'token:alice', null], ['deny', 'token:alice', 'use npm run clean instead'],
    ]);
    const posts = requests.filter((r) => r.method() === 'POST' && /\/approvals\/ap-[0-9a-f]{16}$/.test(new URL(r.url()).pathname));
    assert.equal(posts.length, 2, 'the page answered twice, the script once');
    assert.deepEqual(posts.map((r) => JSON.parse(r.postData() ?? '{}')), [{ decision: 'deny', message: 'use npm run clean instead' }, { decision: 'allow' }]);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors, []);
    await assertDocumentedRequests(server, requests, server.tokens.alice);
  });

  it('offers approvals on the start form only when the operator turned them on', async (t) => {
    const server = await startWebServer(t);
    const { page, consoleErrors } = await browser.openPage();
    await signIn(page, server.url, server.tokens.alice);
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Permission mode').waitFor();
    assert.equal(await page.getByLabel('Ask me first (approvals)').count(), 0);
    assert.deepEqual(consoleErrors, []);
  });

  it('shows a question answered first elsewhere as settled when the page answers late, and shows tool input as inert text', async (t) => {
    const server = await startWebServer(t, { approvals: true });
    // After the answer the job waits at a gate: had it ended, the page would drop the question for
    // that reason before its late Allow could be refused (a race a busy machine loses).
    const gate = fs.mkdtempSync(path.join(os.tmpdir(), 'web-approvals-late-'));
    t.after(() => fs.rmSync(gate, { recursive: true, force: true }));
    const jobId = await server.startJob(`#fake ask <img_src=x_onerror=alert(1)> <script>alert(2)</script>\n#fake wait-file ${gate}/go`, server.tokens.alice, { approvals: true });
    const open = await waitFor(async () => {
      const job = (await (await server.call(`/v1/jobs/${jobId}`)).json()) as Json;
      return (job.pendingApprovals as Json[] | undefined)?.[0];
    }, 30_000, 'the question');
    const { page, dialogs, consoleErrors } = await browser.openPage();
    // The page's looks at the job stop after the first, so it keeps showing the question after the
    // REST answer and its own answer comes second.
    let looks = 0;
    await page.route(`**/v1/jobs/${jobId}`, async (route) => {
      looks += 1;
      if (looks === 1) await route.continue();
      else await route.abort();
    });
    await signIn(page, server.url, server.tokens.alice);
    await page.goto(`${server.url}/ui/#/jobs/${jobId}`);
    const card = page.getByRole('article', { name: /Claude wants to use <img_src=x_onerror=alert\(1\)>/ });
    await card.waitFor({ timeout: 30_000 });
    assert.match(await card.locator('pre.approval-input').innerText(), /<script>alert\(2\)<\/script>/);
    assert.equal(await page.locator('main img, main script').count(), 0);
    assert.equal((await server.call(`/v1/jobs/${jobId}/approvals/${open.approvalId}`, { body: { decision: 'deny', message: 'no' } })).status, 200);
    await card.getByRole('button', { name: 'Allow' }).click();
    await card.waitFor({ state: 'detached' });
    await page.getByText(/already answered \(deny by token:alice at/).waitFor();
    fs.writeFileSync(path.join(gate, 'go'), '');
    await server.waitStatus(jobId, (s) => s === 'completed');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors.filter((e) => !/Failed to load resource/.test(e)), []);
  });
});

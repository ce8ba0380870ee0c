// Signing in to the jobs page through the built-in OAuth server, in a real headless Chromium: the
// page discovers the server (RFC 9728 → RFC 8414), registers itself as a public client, sends the
// browser to /authorize with PKCE S256, state and the MCP resource, the person approves on the
// consent page with their cas_… token, and the page redeems the code at /token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { waitFor } from './support/helpers.js';
import { assertDocumentedRequests, chromiumMissing, screenshot, startWebServer, suiteBrowser } from './support/web.js';

type Json = Record<string, any>;

/** The authorization server's consent page (not the jobs page's own token field, also named "token"). */
async function onConsentPage(page: Page): Promise<void> {
  await page.locator('button[name="decision"][value="approve"]').waitFor();
}

describe('the jobs page signs in with the built-in OAuth server', { skip: chromiumMissing }, () => {
  const browser = suiteBrowser();

  it('approve: PKCE code flow to a bearer JWT for the token\'s principal; nothing stays in the URL; sign-out forgets it', async (t) => {
    const server = await startWebServer(t);
    const meta = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Json;
    const { page, requests, dialogs, consoleErrors } = await browser.openPage();
    await page.goto(`${server.url}/ui/#/jobs`);
    await page.getByRole('button', { name: 'Sign in with claude-async' }).click();

    await page.waitForURL((url) => url.pathname === new URL(meta.authorization_endpoint).pathname || url.pathname.startsWith('/oauth/'));
    const authorize = requests.find((r) => r.url().startsWith(meta.authorization_endpoint))!;
    const asked = new URL(authorize.url()).searchParams;
    assert.equal(asked.get('code_challenge_method'), 'S256');
    assert.match(asked.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.match(asked.get('state') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(asked.get('resource'), `${server.url}/mcp`);
    assert.equal(asked.get('redirect_uri'), `${server.url}/ui/`);
    await screenshot(page, 'oauth-consent-from-page');

    await page.locator('input[name="token"]').fill(server.tokens.alice);
    await page.locator('button[name="decision"][value="approve"]').click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
    assert.equal(await page.locator('#who').innerText(), 'token:alice');
    const landed = new URL(page.url());
    assert.equal(landed.search, '', 'the code and state are gone from the address bar');
    assert.equal(landed.hash, '#/jobs', 'back where the sign-in started');

    const session = JSON.parse(String(await page.evaluate('sessionStorage.getItem("claude-async.session")'))) as Json;
    assert.equal(session.kind, 'oauth');
    assert.match(session.accessToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'an access token (JWT), not the cas_ token');
    assert.ok(!JSON.stringify(session).includes(server.tokens.alice), 'the cas_ token never reaches the page\'s storage');
    const info = await (await fetch(`${server.url}/v1/info`, { headers: { authorization: `Bearer ${session.accessToken}` } })).json() as Json;
    assert.equal(info.principal.id, 'token:alice');

    // A job started with the OAuth sign-in belongs to alice.
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Prompt').fill('started through oauth');
    await page.getByRole('button', { name: 'Start job' }).click();
    await page.locator('section.result').waitFor({ timeout: 20_000 });
    const jobId = /#\/jobs\/([0-9a-z]{26})$/.exec(page.url())![1]!;
    assert.equal(((await (await server.call(`/v1/jobs/${jobId}`)).json()) as Json).owner, 'token:alice');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors, []);
    const oauthPaths = [meta.authorization_endpoint, meta.token_endpoint, meta.registration_endpoint].map((u: string) => new URL(u).pathname);
    // The consent form posts to the authorization server's own consent path (its page, not ours).
    const consentPosts = requests.filter((r) => r.method() === 'POST' && !oauthPaths.includes(new URL(r.url()).pathname) && !new URL(r.url()).pathname.startsWith('/v1/')).map((r) => new URL(r.url()).pathname);
    await assertDocumentedRequests(server, requests, server.tokens.alice, [...oauthPaths, ...new Set(consentPosts)]);
    for (const path of oauthPaths) assert.ok(requests.some((r) => new URL(r.url()).pathname === path), `the page never used ${path}`);
  });

  it('refreshes a refused access token once, without the person noticing', async (t) => {
    const server = await startWebServer(t);
    const { page, requests, consoleErrors } = await browser.openPage();
    await page.goto(`${server.url}/ui/`);
    await page.getByRole('button', { name: 'Sign in with claude-async' }).click();
    await onConsentPage(page);
    await page.locator('input[name="token"]').fill(server.tokens.bob);
    await page.locator('button[name="decision"][value="approve"]').click();
    await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
    const first = JSON.parse(String(await page.evaluate('sessionStorage.getItem("claude-async.session")'))) as Json;
    // The server stops accepting the access token (as at expiry, which has 30 s of clock tolerance):
    // here its signature is spoilt in the tab's storage. The next request must refresh and go on.
    await page.evaluate(`(() => {
      const s = JSON.parse(sessionStorage.getItem('claude-async.session'));
      s.accessToken = s.accessToken.slice(0, -4) + (s.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      sessionStorage.setItem('claude-async.session', JSON.stringify(s));
    })()`);
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByLabel('Permission mode').waitFor();
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
    await page.getByText('No jobs here yet.').waitFor();
    const second = JSON.parse(String(await page.evaluate('sessionStorage.getItem("claude-async.session")'))) as Json;
    assert.notEqual(second.accessToken, first.accessToken);
    assert.equal((await fetch(`${server.url}/v1/info`, { headers: { authorization: `Bearer ${second.accessToken}` } })).status, 200, 'the page holds a fresh access token');
    assert.notEqual(second.refreshToken, first.refreshToken, 'the refresh token rotated');
    const refreshes = requests.filter((r) => r.method() === 'POST' && r.postData()?.includes('grant_type=refresh_token'));
    assert.ok(refreshes.length >= 1, 'the page used its refresh token');
    assert.equal(await page.locator('#who').innerText(), 'token:bob');
    assert.deepEqual(consoleErrors.filter((e) => !/401 \(Unauthorized\)/.test(e)), [], 'only the expected 401 before the refresh');
  });

  it('shows no OAuth button when the server runs no authorization server', async (t) => {
    const server = await startWebServer(t, { oauth: false });
    const { page, requests } = await browser.openPage();
    await page.goto(`${server.url}/ui/`);
    await page.getByLabel('API token').waitFor();
    await waitFor(() => requests.some((r) => r.url().endsWith('/.well-known/oauth-protected-resource/mcp')), 10_000, 'discovery');
    await page.waitForLoadState('networkidle');
    assert.equal(await page.getByRole('button', { name: 'Sign in with claude-async' }).count(), 0);
  });

  it('deny: the page says so and stays signed out', async (t) => {
    const server = await startWebServer(t);
    const { page, consoleErrors } = await browser.openPage();
    await page.goto(`${server.url}/ui/`);
    await page.getByRole('button', { name: 'Sign in with claude-async' }).click();
    await onConsentPage(page);
    await page.locator('button[name="decision"][value="deny"]').click();
    await page.getByText('Sign-in was denied.').waitFor();
    assert.equal(new URL(page.url()).search, '');
    assert.equal(await page.evaluate('sessionStorage.getItem("claude-async.session")'), null);
    assert.deepEqual(consoleErrors, []);
  });
});

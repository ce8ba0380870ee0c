// Attacks on the built-in OAuth server, against the real server process: redirect URI tricks, code
// replay, PKCE downgrades, refresh-token reuse, forged consent posts, framing, tokens for another
// audience or issuer, scope escalation at consent, registration floods, metadata documents that point
// inside the network or are huge, expired tokens, and other principals' jobs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeJwt, importJWK, SignJWT, generateKeyPair, type JWK } from 'jose';
import { tempDir, waitFor } from './support/helpers.js';
import { REDIRECT, authorizeUrl, formPost, openConsent, pkce, postConsent, register, startHttpsServer, mcpStatus, startOAuthServer } from './support/oauth.js';
import { runCli, type RealServer } from './support/server-process.js';
import { selfSignedCertificate } from './support/tls.js';

/** Register → authorize → approve with `token` → code. */
async function codeFor(url: string, token: string, options: { scope?: string; clientId?: string } = {}) {
  const clientId = options.clientId ?? String((await register(url)).json.client_id);
  const { verifier, challenge } = pkce();
  const form = await openConsent(authorizeUrl(url, clientId, { code_challenge: challenge, code_challenge_method: 'S256', scope: options.scope ?? 'jobs:read jobs:write' }));
  assert.equal(form.status, 200, form.html.slice(0, 300));
  const res = await postConsent(url, { ...form.fields, token, decision: 'approve' });
  assert.equal(res.status, 302, (await res.clone().text()).slice(0, 300));
  const back = new URL(res.headers.get('location')!);
  return { clientId, verifier, code: back.searchParams.get('code')! };
}

async function exchange(url: string, clientId: string, code: string, verifier: string | undefined) {
  return formPost(`${url}/token`, { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: REDIRECT, ...(verifier ? { code_verifier: verifier } : {}) });
}

async function signIn(url: string, token: string, scope?: string) {
  const { clientId, code, verifier } = await codeFor(url, token, scope ? { scope } : {});
  const tokens = await exchange(url, clientId, code, verifier);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
  return { clientId, access: String(tokens.json.access_token), refresh: String(tokens.json.refresh_token), scope: String(tokens.json.scope) };
}

/** Signs with the server's own private key, so only the claims under test are wrong. */
async function forgeWithServerKey(server: RealServer, claims: Record<string, unknown>, expiresAt?: number) {
  const keys = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'oauth', 'keys.json'), 'utf8')) as { keys: Array<{ kid: string; privateJwk: JWK }> };
  const key = keys.keys[0]!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuedAt(now - 7200)
    .setExpirationTime(expiresAt ?? now + 600).sign(await importJWK(key.privateJwk, 'ES256'));
}

describe('attacks on the built-in OAuth server', () => {
  let server: RealServer;
  let tokens: Record<string, string>;
  before(async () => {
    ({ server, tokens } = await startOAuthServer({ tokens: { alice: 'jobs:read,jobs:write', reader: 'jobs:read', bob: 'jobs:read,jobs:write' } }));
  });
  after(async () => {
    await server.stop();
  });

  it('an unregistered or look-alike redirect URI gets an error page, never a redirect', async () => {
    const clientId = String((await register(server.url)).json.client_id);
    const { challenge } = pkce();
    for (const redirect of [
      'https://app.example.com.evil.example/callback', 'https://app.example.com/callback/../steal', 'https://app.example.com/callbackx',
      'http://app.example.com/callback', 'https://app.example.com/callback?x=1', 'https://evil.example/callback',
    ]) {
      const res = await fetch(authorizeUrl(server.url, clientId, { redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      assert.equal(res.status, 400, redirect);
      assert.equal(res.headers.get('location'), null, `${redirect} must not be redirected to`);
      assert.match(await res.text(), /not one this app registered/);
    }
    const unknown = await fetch(authorizeUrl(server.url, 'no-such-client', { code_challenge: challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers.get('location'), null);
    // Registration refuses redirect URIs that are not https or loopback http.
    for (const bad of ['http://app.example.com/cb', 'javascript:alert(1)', 'https://app.example.com/cb#frag']) {
      const refused = await register(server.url, { redirect_uris: [bad] });
      assert.equal(refused.status, 400, bad);
      assert.equal(refused.json.error, 'invalid_client_metadata');
    }
  });

  it('a replayed code is refused and every token issued from it dies', async () => {
    const { clientId, code, verifier } = await codeFor(server.url, tokens.alice!);
    const first = await exchange(server.url, clientId, code, verifier);
    assert.equal(first.status, 200);
    assert.equal((await mcpStatus(server.url, String(first.json.access_token))).status, 200);
    const replay = await exchange(server.url, clientId, code, verifier);
    assert.equal(replay.status, 400);
    assert.equal(replay.json.error, 'invalid_grant');
    assert.equal((await mcpStatus(server.url, String(first.json.access_token))).status, 401, 'the access token from the code is revoked');
    const refresh = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: String(first.json.refresh_token), client_id: clientId });
    assert.equal(refresh.json.error, 'invalid_grant', 'the refresh token from the code is revoked');
  });

  it('PKCE: a missing or plain challenge is refused, and a wrong verifier gets no tokens', async () => {
    const clientId = String((await register(server.url)).json.client_id);
    for (const params of [{}, { code_challenge: 'abc'.repeat(15), code_challenge_method: 'plain' }, { code_challenge: pkce().challenge }]) {
      const res = await fetch(authorizeUrl(server.url, clientId, params), { redirect: 'manual' });
      assert.equal(res.status, 302, JSON.stringify(params));
      const back = new URL(res.headers.get('location')!);
      assert.equal(back.searchParams.get('error'), 'invalid_request', JSON.stringify(params));
      assert.equal(back.searchParams.get('code'), null);
    }
    const { code, verifier } = await codeFor(server.url, tokens.alice!, { clientId });
    const wrong = await exchange(server.url, clientId, code, pkce().verifier);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.json.error, 'invalid_grant');
    assert.equal(wrong.json.access_token, undefined);
    const none = await exchange(server.url, clientId, code, undefined);
    assert.equal(none.status, 400);
    assert.equal(none.json.access_token, undefined);
    assert.equal((await exchange(server.url, clientId, code, verifier)).status, 200, 'the right verifier still works once');
  });

  it('a refresh token used twice revokes the whole family', async () => {
    const signedIn = await signIn(server.url, tokens.alice!);
    const rotated = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: signedIn.refresh, client_id: signedIn.clientId });
    assert.equal(rotated.status, 200);
    const reused = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: signedIn.refresh, client_id: signedIn.clientId });
    assert.equal(reused.json.error, 'invalid_grant');
    const next = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: String(rotated.json.refresh_token), client_id: signedIn.clientId });
    assert.equal(next.json.error, 'invalid_grant', 'the newest refresh token of the family is dead too');
    assert.equal((await mcpStatus(server.url, String(rotated.json.access_token))).status, 401, 'and so are its access tokens');
  });

  it('a consent post without the CSRF token, with a wrong one, or from another origin approves nothing', async () => {
    const clientId = String((await register(server.url)).json.client_id);
    const form = await openConsent(authorizeUrl(server.url, clientId, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    const { csrf, ...withoutCsrf } = form.fields;
    assert.ok(csrf);
    const attempts: Array<[Record<string, string>, Record<string, string>]> = [
      [{ ...withoutCsrf, token: tokens.alice!, decision: 'approve' }, {}],
      [{ ...form.fields, csrf: 'x'.repeat(csrf.length), token: tokens.alice!, decision: 'approve' }, {}],
      [{ ...form.fields, token: tokens.alice!, decision: 'approve' }, { origin: 'https://evil.example' }],
      [{ ...form.fields, token: tokens.alice!, decision: 'approve' }, { 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [fields, headers] of attempts) {
      const res = await postConsent(server.url, fields, headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(res.headers.get('location'), null);
    }
    // The genuine form still works afterwards, and deny says access_denied.
    const denied = await postConsent(server.url, { ...form.fields, token: '', decision: 'deny' });
    assert.equal(denied.status, 302);
    const back = new URL(denied.headers.get('location')!);
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), 'st');
    assert.equal(back.searchParams.get('code'), null);
  });

  it('the consent page refuses to be framed and loads nothing from elsewhere', async () => {
    const clientId = String((await register(server.url)).json.client_id);
    const form = await openConsent(authorizeUrl(server.url, clientId, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    const csp = form.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(form.headers.get('x-frame-options'), 'DENY');
    assert.match(form.headers.get('cache-control') ?? '', /no-store/);
    assert.doesNotMatch(form.html, /<script|src=|href="http/i, 'no scripts, no external assets');
    assert.match(form.html, /name="token"/);
    assert.match(form.html, /name="decision" value="approve"/);
    assert.match(form.html, /name="decision" value="deny"/);
  });

  it('a wrong token at consent shows the form again with an error', async () => {
    const clientId = String((await register(server.url)).json.client_id);
    const form = await openConsent(authorizeUrl(server.url, clientId, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    const res = await postConsent(server.url, { ...form.fields, token: `cas_${'x'.repeat(43)}`, decision: 'approve' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('location'), null);
    assert.match(await res.text(), /That token was not accepted[\s\S]*name="token"/);
  });

  it('access tokens for another audience or from another issuer are refused', async () => {
    const signedIn = await signIn(server.url, tokens.alice!);
    const real = decodeJwt(signedIn.access);
    const base = { sub: real.sub, scope: real.scope, client_id: real.client_id, grant_id: real.grant_id };
    const otherAudience = await forgeWithServerKey(server, { ...base, iss: server.url, aud: 'https://other.example/mcp' });
    const otherIssuer = await forgeWithServerKey(server, { ...base, iss: 'https://other.example', aud: `${server.url}/mcp` });
    const control = await forgeWithServerKey(server, { ...base, iss: server.url, aud: `${server.url}/mcp` });
    assert.equal((await mcpStatus(server.url, control)).status, 200, 'the forging helper makes tokens the server would accept');
    for (const token of [otherAudience, otherIssuer]) {
      const res = await mcpStatus(server.url, token);
      assert.equal(res.status, 401);
      assert.match(res.challenge, /error="invalid_token"/);
    }
    const { privateKey } = await generateKeyPair('ES256');
    const foreignKey = await new SignJWT({ ...base }).setProtectedHeader({ alg: 'ES256', kid: 'foreign' }).setIssuer(server.url)
      .setAudience(`${server.url}/mcp`).setExpirationTime('10m').sign(privateKey);
    assert.equal((await mcpStatus(server.url, foreignKey)).status, 401, 'a token signed by another key');
    const otherSub = await forgeWithServerKey(server, { ...base, sub: 'bob', iss: server.url, aud: `${server.url}/mcp` });
    assert.equal((await mcpStatus(server.url, otherSub)).status, 401, "a token whose sub is not its grant's principal");
  });

  it('an expired access token answers 401 with a WWW-Authenticate challenge', async () => {
    const signedIn = await signIn(server.url, tokens.alice!);
    const real = decodeJwt(signedIn.access);
    const expired = await forgeWithServerKey(server, { sub: real.sub, scope: real.scope, client_id: real.client_id, grant_id: real.grant_id, iss: server.url, aud: `${server.url}/mcp` }, Math.floor(Date.now() / 1000) - 3600);
    const res = await mcpStatus(server.url, expired);
    assert.equal(res.status, 401);
    assert.match(res.challenge, /^Bearer error="invalid_token", error_description="The token has expired; refresh it", resource_metadata="[^"]+", scope="jobs:read jobs:write"$/);
    const rest = await fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${expired}` } });
    assert.equal(rest.status, 401);
    assert.match(rest.headers.get('www-authenticate') ?? '', /resource_metadata=/);
  });

  it('a jobs:read token asking for jobs:write at consent gets a jobs:read grant', async () => {
    const signedIn = await signIn(server.url, tokens.reader!, 'jobs:write');
    assert.equal(signedIn.scope, 'jobs:read');
    assert.equal(decodeJwt(signedIn.access).scope, 'jobs:read');
    const start = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${signedIn.access}`, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi' }) });
    assert.equal(start.status, 403);
    const widened = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: signedIn.refresh, client_id: signedIn.clientId, scope: 'jobs:read jobs:write' });
    assert.equal(widened.json.error, 'invalid_scope', 'a refresh cannot widen the grant');
  });

  it("another principal's jobs stay invisible through OAuth tokens", async () => {
    const alice = await signIn(server.url, tokens.alice!);
    const started = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${tokens.bob}`, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'bob only' }) });
    const bobsJob = ((await started.json()) as { jobId: string }).jobId;
    const peek = await fetch(`${server.url}/v1/jobs/${bobsJob}`, { headers: { authorization: `Bearer ${alice.access}` } });
    assert.equal(peek.status, 404);
    const list = await (await fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${alice.access}` } })).json() as { jobs: Array<{ jobId: string }> };
    assert.ok(!list.jobs.some((j) => j.jobId === bobsJob));
  });

  it('an unknown client_id at /token is 401 invalid_client; a resource other than ours is refused', async () => {
    const res = await formPost(`${server.url}/token`, { grant_type: 'authorization_code', code: 'x', code_verifier: 'y', client_id: 'gone-client' });
    assert.equal(res.status, 401);
    assert.equal(res.json.error, 'invalid_client');
    const clientId = String((await register(server.url)).json.client_id);
    const other = await fetch(authorizeUrl(server.url, clientId, { resource: 'https://other.example/mcp', code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
    assert.equal(new URL(other.headers.get('location')!).searchParams.get('error'), 'invalid_target');
  });

  it('a confidential client must present its secret at /token, in the body or with HTTP Basic', async () => {
    const registered = await register(server.url, { token_endpoint_auth_method: 'client_secret_post' });
    assert.equal(registered.status, 201);
    const clientId = String(registered.json.client_id);
    const secret = String(registered.json.client_secret);
    assert.ok(secret.length >= 32, 'a confidential client gets a secret');
    const attempt = async (auth: { body?: Record<string, string>; basic?: string }) => {
      const { code, verifier } = await codeFor(server.url, tokens.alice!, { clientId });
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth.basic ? { authorization: `Basic ${Buffer.from(auth.basic).toString('base64')}` } : {}) },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, ...auth.body }).toString(),
      });
      return { status: res.status, json: await res.json() as Record<string, unknown> };
    };
    const noSecret = await attempt({ body: { client_id: clientId } });
    assert.equal(noSecret.json.error, 'invalid_client');
    assert.equal(noSecret.json.access_token, undefined);
    const wrongSecret = await attempt({ body: { client_id: clientId, client_secret: 'nope' } });
    assert.equal(wrongSecret.json.error, 'invalid_client');
    assert.equal((await attempt({ body: { client_id: clientId, client_secret: secret } })).status, 200, 'client_secret_post');
    assert.equal((await attempt({ basic: `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}` })).status, 200, 'client_secret_basic');
    const wrongBasic = await attempt({ basic: `${clientId}:wrong` });
    assert.equal(wrongBasic.json.error, 'invalid_client');
  });

  it('token revoke, oauth revoke and rotate-key take effect on the running server', async () => {
    const aliceAgain = await signIn(server.url, tokens.alice!);
    const reader = await signIn(server.url, tokens.reader!);
    const oldKid = decodeJwt(reader.access) && JSON.parse(Buffer.from(reader.access.split('.')[0]!, 'base64url').toString()).kid as string;
    assert.match(runCli(server.env, ['oauth', 'rotate-key']), /New signing key/);
    const jwks = await waitFor(async () => {
      const doc = await (await fetch(`${server.url}/.well-known/jwks.json`)).json() as { keys: Array<{ kid: string }> };
      return doc.keys.length === 2 ? doc : undefined;
    }, 10_000, 'the new key in the JWKS');
    assert.ok(jwks.keys.some((k) => k.kid === oldKid), 'the old key stays until its tokens expire');
    assert.equal((await mcpStatus(server.url, reader.access)).status, 200, 'tokens signed with the old key still work');
    const rotated = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: reader.refresh, client_id: reader.clientId });
    const newKid = JSON.parse(Buffer.from(String(rotated.json.access_token).split('.')[0]!, 'base64url').toString()).kid as string;
    assert.notEqual(newKid, oldKid);

    // oauth revoke <grant>
    const grantId = String(decodeJwt(String(rotated.json.access_token)).grant_id);
    assert.match(runCli(server.env, ['oauth', 'revoke', grantId]), /revoked/);
    await waitFor(async () => (await mcpStatus(server.url, String(rotated.json.access_token))).status === 401, 10_000, 'the revoked grant to stop working');

    // token revoke alice ends alice's grants
    assert.match(runCli(server.env, ['token', 'revoke', 'alice']), /OAuth grant/);
    await waitFor(async () => (await mcpStatus(server.url, aliceAgain.access)).status === 401, 10_000, "alice's OAuth token to stop working");
    const refresh = await formPost(`${server.url}/token`, { grant_type: 'refresh_token', refresh_token: aliceAgain.refresh, client_id: aliceAgain.clientId });
    assert.equal(refresh.json.error, 'invalid_grant');
    assert.match(runCli(server.env, ['oauth', 'clients']), /revoked .*the token "alice" was revoked/);
  });
});

describe('the built-in server beside other credentials', () => {
  it('token mint JWTs and static tokens keep working beside it', async (t) => {
    const secret = `jwt-secret-${randomBytes(24).toString('hex')}`;
    const { server, tokens } = await startOAuthServer({ env: { CLAUDE_ASYNC_JWT_SECRET: secret } });
    t.after(() => server.stop());
    const minted = runCli(server.env, ['token', 'mint', '--sub', 'carol', '--scopes', 'jobs:read']).trim();
    for (const token of [minted, tokens.alice!]) {
      assert.equal((await fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    }
    assert.equal((await fetch(`${server.url}/.well-known/oauth-authorization-server`)).status, 200);
  });

  it('with CLAUDE_ASYNC_JWKS_URL set it is off and the metadata names the external issuer', async (t) => {
    const { server } = await startOAuthServer({ env: { CLAUDE_ASYNC_JWKS_URL: 'https://idp.example/jwks', CLAUDE_ASYNC_JWT_ISSUER: 'https://idp.example/realms/dev' } });
    t.after(() => server.stop());
    const prm = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json() as Record<string, unknown>;
    assert.deepEqual(prm.authorization_servers, ['https://idp.example/realms/dev']);
    for (const route of ['/.well-known/oauth-authorization-server', '/.well-known/jwks.json']) {
      assert.equal((await fetch(`${server.url}${route}`)).status, 404, route);
    }
    assert.equal((await register(server.url)).status, 404);
    assert.equal(fs.existsSync(path.join(server.dataDir, 'oauth')), false, 'no keys are made');
  });
});

describe('floods and limits of the built-in OAuth server', () => {
  it('registration is rate-limited per IP, the client cap holds, and wrong consent tokens hit the failed-auth limit', async (t) => {
    const { server, tokens } = await startOAuthServer({
      env: { CLAUDE_ASYNC_OAUTH_REGISTRATIONS_PER_HOUR: '8', CLAUDE_ASYNC_OAUTH_MAX_CLIENTS: '3', CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE: '3' },
    });
    t.after(() => server.stop());
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await register(server.url, { client_name: `flood ${i}` })).status);
    assert.deepEqual(statuses, [...Array(8).fill(201), ...Array(4).fill(429)]);
    const state = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'oauth', 'state.json'), 'utf8')) as { clients: unknown[] };
    assert.equal(state.clients.length, 3, 'never more clients than the cap: the oldest never-used ones were pruned');

    // Wrong tokens on the consent page count toward the per-IP failed-auth limit.
    const clients = JSON.parse(fs.readFileSync(path.join(server.dataDir, 'oauth', 'state.json'), 'utf8')) as { clients: Array<{ info: { client_id: string } }> };
    const form = await openConsent(authorizeUrl(server.url, clients.clients[0]!.info.client_id, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
    for (let i = 0; i < 3; i++) assert.equal((await postConsent(server.url, { ...form.fields, token: `cas_wrong_${i}`, decision: 'approve' })).status, 401);
    const blocked = await postConsent(server.url, { ...form.fields, token: tokens.alice!, decision: 'approve' });
    assert.equal(blocked.status, 429, 'even the right token waits once the limit is reached');
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    const bearer = await fetch(`${server.url}/v1/jobs`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    assert.equal(bearer.status, 429, 'the same limiter guards bearer tokens');
  });

  it('metadata documents pointing inside the network, redirecting there, or 10 MB large are refused', async (t) => {
    const certDir = tempDir('ca-cimd-attack-');
    t.after(() => fs.rmSync(certDir, { recursive: true, force: true }));
    const tls = selfSignedCertificate(certDir);
    let origin = '';
    const doc = (id: string) => JSON.stringify({ client_id: id, client_name: 'x', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' });
    const docs = await startHttpsServer(tls, {
      '/to-metadata': (_req, res) => res.writeHead(302, { location: 'https://169.254.169.254/latest/meta-data/client.json' }).end(),
      '/to-loopback': (_req, res) => res.writeHead(302, { location: `https://127.0.0.1:${new URL(origin).port}/plain.json` }).end(),
      '/plain.json': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc(`https://127.0.0.1:${new URL(origin).port}/plain.json`)),
      '/huge.json': (_req, res) => {
        // 10 MB without a Content-Length: the cap must stop the download, not trust a header.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 10 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      },
      '/silent.json': () => {
        // Never answers: the 5 s budget must end the fetch.
      },
      '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
      '/wrong-id.json': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc('https://someone-else.example/client.json')),
    });
    t.after(() => docs.stop());
    origin = docs.origin;
    const { server } = await startOAuthServer({ env: { NODE_EXTRA_CA_CERTS: tls.certFile, CLAUDE_ASYNC_OAUTH_CIMD_LOOPBACK_ORIGINS: docs.origin } });
    t.after(() => server.stop());
    const tryClient = async (clientId: string) => {
      const res = await fetch(authorizeUrl(server.url, clientId, { code_challenge: pkce().challenge, code_challenge_method: 'S256' }), { redirect: 'manual' });
      assert.equal(res.headers.get('location'), null, clientId);
      return { status: res.status, text: await res.text() };
    };
    const direct = await tryClient(`https://127.0.0.1:${docs.port}/plain.json`);
    assert.equal(direct.status, 400);
    assert.match(direct.text, /non-public address/);
    const metadataIp = await tryClient('https://169.254.169.254/latest/meta-data/client.json');
    assert.match(metadataIp.text, /non-public address/);
    const viaRedirectToMetadata = await tryClient(`${docs.origin}/to-metadata`);
    assert.match(viaRedirectToMetadata.text, /non-public address/);
    const viaRedirectToLoopback = await tryClient(`${docs.origin}/to-loopback`);
    assert.match(viaRedirectToLoopback.text, /non-public address/);
    assert.ok(!docs.hits.includes('/plain.json'), 'the loopback target was never fetched');
    const huge = await tryClient(`${docs.origin}/huge.json`);
    assert.match(huge.text, /larger than 65536 bytes/);
    const silent = await tryClient(`${docs.origin}/silent.json`);
    assert.match(silent.text, /no complete answer within 5000 ms/);
    const loop = await tryClient(`${docs.origin}/loop`);
    assert.match(loop.text, /more than 3 redirects/);
    assert.equal(docs.hits.filter((h) => h === '/loop').length, 4, 'the first request and three redirects, then it stops');
    const wrongId = await tryClient(`${docs.origin}/wrong-id.json`);
    assert.match(wrongId.text, /different client_id/);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'the server is fine afterwards');
  });
});

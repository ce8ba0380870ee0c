// The MCP SDK client's own OAuth support against the real server process, headless: discovery →
// registration (DCR, or a Client ID Metadata Document served over https by the test) → /authorize →
// the consent form posted with a claude-async token → code → tokens → tool calls → refresh → revoke
// → 401. Also: grants survive a restart, and the CLI lists and revokes them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { decodeJwt } from 'jose';
import { tempDir } from './support/helpers.js';
import { MemoryClientProvider, consent, formPost, startHttpsServer, mcpStatus, startOAuthServer } from './support/oauth.js';
import { runCli, spawnServer, type RealServer } from './support/server-process.js';
import { selfSignedCertificate } from './support/tls.js';

const REDIRECT = 'http://127.0.0.1:9/callback';

async function connectWith(url: string, provider: MemoryClientProvider) {
  const client = new Client({ name: 'oauth-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { authProvider: provider }));
  return client;
}

/** First connect: the SDK discovers, registers and asks for a redirect to /authorize. */
async function signIn(url: string, provider: MemoryClientProvider, token: string) {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { authProvider: provider });
  await assert.rejects(new Client({ name: 'oauth-e2e', version: '1.0.0' }).connect(transport), UnauthorizedError);
  assert.ok(provider.authorizationUrl, 'the SDK asked to open the authorize URL');
  const back = await consent(url, provider.authorizationUrl, token);
  assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
  assert.equal(back.searchParams.get('state'), 'state-123');
  assert.equal(back.searchParams.get('iss'), url);
  const code = back.searchParams.get('code');
  assert.ok(code);
  await transport.finishAuth(code);
  assert.ok(provider.saved?.access_token && provider.saved.refresh_token);
}

describe('the SDK client signs in with the built-in OAuth server', () => {
  it('DCR end to end: discovery, registration, consent, tokens, tool calls, refresh, revoke, 401', async (t) => {
    const { server, tokens } = await startOAuthServer({ tokens: { alice: 'jobs:read,jobs:write', bob: 'jobs:read,jobs:write' } });
    let again: RealServer | undefined;
    t.after(async () => {
      await again?.kill();
      await server.stop();
    });

    // Discovery documents say what Claude needs.
    const prm = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json() as Record<string, unknown>;
    assert.deepEqual(prm.authorization_servers, [server.url]);
    assert.equal(prm.resource, `${server.url}/mcp`);
    for (const wellKnown of ['oauth-authorization-server', 'openid-configuration']) {
      const meta = await (await fetch(`${server.url}/.well-known/${wellKnown}`)).json() as Record<string, unknown>;
      assert.equal(meta.issuer, server.url);
      assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
      assert.equal(meta.client_id_metadata_document_supported, true);
      assert.ok((meta.token_endpoint_auth_methods_supported as string[]).includes('none'));
      assert.equal(meta.registration_endpoint, `${server.url}/register`);
      assert.equal(meta.jwks_uri, `${server.url}/.well-known/jwks.json`);
    }
    const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json() as { keys: Array<Record<string, unknown>> };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.alg, 'ES256');
    assert.equal(jwks.keys[0]!.d, undefined, 'the JWKS never carries the private key');
    const unauth = await fetch(`${server.url}/mcp`, { method: 'POST' });
    assert.equal(unauth.status, 401);
    assert.equal(unauth.headers.get('www-authenticate'), `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp", scope="jobs:read jobs:write"`);

    const provider = new MemoryClientProvider(REDIRECT);
    await signIn(server.url, provider, tokens.alice!);
    const claims = decodeJwt(provider.saved!.access_token);
    assert.equal(claims.iss, server.url);
    assert.equal(claims.aud, `${server.url}/mcp`);
    assert.equal(claims.sub, 'token:alice');
    assert.equal(claims.scope, 'jobs:read jobs:write');
    assert.equal(claims.client_id, (provider.info as { client_id: string }).client_id);
    assert.equal((claims.exp as number) - (claims.iat as number), 3600);
    const keyFiles = ['keys.json', 'state.json'].map((f) => path.join(server.dataDir, 'oauth', f));
    for (const file of keyFiles) assert.equal(fs.statSync(file).mode & 0o777, 0o600, `${file} is 0600`);
    assert.doesNotMatch(fs.readFileSync(keyFiles[1]!, 'utf8'), new RegExp(provider.saved!.refresh_token!), 'refresh tokens are stored only hashed');

    // Tool calls as alice: she sees her own jobs (started with her static token), not bob's.
    const startAs = async (token: string, prompt: string) => {
      const res = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { jobId: string }).jobId;
    };
    const alicesJob = await startAs(tokens.alice!, 'by alice via REST');
    const bobsJob = await startAs(tokens.bob!, 'by bob via REST');
    const client = await connectWith(server.url, provider);
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake tick 1 10\nvia oauth' } });
    assert.equal(started.isError, undefined, JSON.stringify(started.content));
    const listed = await client.callTool({ name: 'claude_jobs', arguments: {} });
    const ids = ((listed.structuredContent as { jobs: Array<{ jobId: string }> }).jobs).map((j) => j.jobId);
    assert.ok(ids.includes(alicesJob), 'alice sees the job she started with her token');
    assert.ok(ids.includes(String((started.structuredContent as { jobId: string }).jobId)));
    assert.ok(!ids.includes(bobsJob), "bob's job stays invisible through alice's OAuth token");
    const peek = await client.callTool({ name: 'claude_check', arguments: { jobId: bobsJob } });
    assert.equal(peek.isError, true, "checking bob's job is refused");
    await client.close();

    // Refresh: a new refresh token each time, the old one refused.
    const first = provider.saved!;
    assert.equal(await auth(provider, { serverUrl: new URL(`${server.url}/mcp`) }), 'AUTHORIZED');
    const second = provider.saved!;
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    assert.equal((await mcpStatus(server.url, second.access_token)).status, 200);

    // The grant survives a restart of the server.
    await server.kill();
    again = await spawnServer({ env: server.env, dataDir: server.dataDir });
    assert.equal((await mcpStatus(again.url, second.access_token)).status, 200, 'the access token still works after a restart');
    const clients = runCli(server.env, ['oauth', 'clients']);
    assert.match(clients, /SDK test client/);
    assert.match(clients, /alice/);

    // Revoke (RFC 7009) with the refresh token: every token of the grant dies.
    const clientId = (provider.info as { client_id: string }).client_id;
    const revoked = await formPost(`${again.url}/revoke`, { token: second.refresh_token!, client_id: clientId });
    assert.equal(revoked.status, 200);
    const after = await mcpStatus(again.url, second.access_token);
    assert.equal(after.status, 401);
    assert.match(after.challenge, /^Bearer error="invalid_token"/);
    assert.match(after.challenge, /resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp"/);
    const refreshed = await formPost(`${again.url}/token`, { grant_type: 'refresh_token', refresh_token: second.refresh_token!, client_id: clientId });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.json.error, 'invalid_grant');
  });

  it('a Client ID Metadata Document served over https: the URL is the client_id, its redirect URIs are enforced', async (t) => {
    const certDir = tempDir('ca-cimd-cert-');
    t.after(() => fs.rmSync(certDir, { recursive: true, force: true }));
    const tls = selfSignedCertificate(certDir);
    let documentUrl = '';
    const documentServer = await startHttpsServer(tls, {
      '/client.json': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          client_id: documentUrl, client_name: 'CIMD test app', redirect_uris: [REDIRECT],
          grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
        }));
      },
    });
    t.after(() => documentServer.stop());
    documentUrl = `${documentServer.origin}/client.json`;
    const { server, tokens } = await startOAuthServer({
      env: { NODE_EXTRA_CA_CERTS: tls.certFile, CLAUDE_ASYNC_OAUTH_CIMD_LOOPBACK_ORIGINS: documentServer.origin },
    });
    t.after(() => server.stop());

    const provider = new MemoryClientProvider(REDIRECT, 'ignored: the document names the client', documentUrl);
    await signIn(server.url, provider, tokens.alice!);
    assert.equal((provider.info as { client_id: string }).client_id, documentUrl, 'no registration: the URL is the client_id');
    assert.equal(decodeJwt(provider.saved!.access_token).client_id, documentUrl);
    const page = await fetch(provider.authorizationUrl!);
    assert.match(await page.text(), /CIMD test app/, 'the consent page shows the name from the document');
    assert.equal(documentServer.hits.filter((h) => h === '/client.json').length, 1, 'the document was fetched once and cached');

    const client = await connectWith(server.url, provider);
    const listed = await client.callTool({ name: 'claude_jobs', arguments: {} });
    assert.equal(listed.isError, undefined);
    await client.close();

    // A redirect URI the document does not list is refused on a page, never redirected to.
    const bad = new URL(provider.authorizationUrl!);
    bad.searchParams.set('redirect_uri', 'http://127.0.0.1:9/elsewhere');
    const refused = await fetch(bad, { redirect: 'manual' });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('location'), null);
    assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
  });
});

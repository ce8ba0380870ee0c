import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { createAuthenticator } from '../src/auth/authenticator.js';
import {
  createAuthFailureLimiter,
  mountProtectedResourceMetadata,
  requireAuth,
  requireScope,
  resourceMetadataUrl,
} from '../src/auth/middleware.js';
import { TokenStore } from '../src/auth/token-store.js';
import type { AuthOptions } from '../src/auth/types.js';

interface TestApp {
  base: string;
  metadataUrl: string;
  readToken: string;
  adminToken: string;
  close(): Promise<void>;
}

async function startApp(overrides: Partial<AuthOptions> = {}): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), 'cas-auth-mw-'));
  const store = new TokenStore(join(dir, 'tokens.json'));
  const readToken = (await store.create('reader', ['jobs:read'])).token;
  const adminToken = (await store.create('boss', ['admin'])).token;

  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const options: AuthOptions = { mode: 'token', publicUrl: base, tokensFile: join(dir, 'tokens.json'), authFailuresPerMinute: 3, ...overrides };
  const metadataUrl = resourceMetadataUrl(options.publicUrl);

  mountProtectedResourceMetadata(app, options);
  app.use(
    '/mcp',
    requireAuth(createAuthenticator(options, store), {
      resourceMetadataUrl: metadataUrl,
      failureLimiter: createAuthFailureLimiter({ failuresPerMinute: options.authFailuresPerMinute }),
    }),
  );
  app.get('/mcp/jobs', requireScope('jobs:read', { resourceMetadataUrl: metadataUrl }), (req, res) => {
    res.json({ principal: req.principal });
  });
  app.post('/mcp/jobs', requireScope('jobs:write', { resourceMetadataUrl: metadataUrl }), (req, res) => {
    res.json({ started: true, by: req.principal?.id });
  });

  return {
    base,
    metadataUrl,
    readToken,
    adminToken,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('requireAuth and requireScope over HTTP', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp({ authFailuresPerMinute: 1000 });
  });
  after(() => t.close());

  it('a request without a token gets 401 with resource_metadata and no error code', async () => {
    const res = await fetch(`${t.base}/mcp/jobs`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Bearer resource_metadata="${t.metadataUrl}"`);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
  });

  it('a wrong token gets 401 invalid_token, and the token is echoed nowhere', async () => {
    const wrong = `cas_${'Z'.repeat(43)}`;
    const res = await fetch(`${t.base}/mcp/jobs`, { headers: bearer(wrong) });
    assert.equal(res.status, 401);
    const header = res.headers.get('www-authenticate') ?? '';
    assert.match(header, /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="([^"]+)"$/);
    assert.ok(header.includes(`resource_metadata="${t.metadataUrl}"`));
    const text = await res.text();
    assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['error', 'error_description']);
    assert.ok(!text.includes('ZZZZ') && !header.includes('ZZZZ'));
  });

  it('a valid token reaches the route with its principal', async () => {
    const res = await fetch(`${t.base}/mcp/jobs`, { headers: bearer(t.readToken) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { principal: { id: 'token:reader', legacyId: 'reader', scopes: ['jobs:read'], kind: 'static' } });
  });

  it('a token without the scope gets 403 insufficient_scope; admin holds every scope', async () => {
    const res = await fetch(`${t.base}/mcp/jobs`, { method: 'POST', headers: bearer(t.readToken) });
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope", scope="jobs:write", /);
    const body = (await res.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'insufficient_scope');
    assert.match(body.error_description, /jobs:write/);

    const ok = await fetch(`${t.base}/mcp/jobs`, { method: 'POST', headers: bearer(t.adminToken) });
    assert.deepEqual(await ok.json(), { started: true, by: 'token:boss' });
  });

  it('refuses a token in the query string, even a valid one', async () => {
    const res = await fetch(`${t.base}/mcp/jobs?access_token=${t.adminToken}`);
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.equal(JSON.parse(text).error, 'invalid_request');
    assert.match(JSON.parse(text).error_description, /Authorization header/);
    assert.ok(!text.includes(t.adminToken));
  });
});

describe('failed-auth limiter', () => {
  it('answers 429 with Retry-After once an address exceeds its failures per minute, even for a good token', async () => {
    const t = await startApp({ authFailuresPerMinute: 3 });
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal((await fetch(`${t.base}/mcp/jobs`)).status, 401, 'no token at all is discovery, not a failure');
      }
      for (let i = 0; i < 3; i++) {
        assert.equal((await fetch(`${t.base}/mcp/jobs`, { headers: bearer(`guess-${i}`) })).status, 401);
      }
      const blocked = await fetch(`${t.base}/mcp/jobs`, { headers: bearer('guess-4') });
      assert.equal(blocked.status, 429);
      const retryAfter = Number(blocked.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await fetch(`${t.base}/mcp/jobs`, { headers: bearer(t.readToken) })).status, 429);
    } finally {
      await t.close();
    }
  });

  it('forgets an address when its window ends, and evicts the oldest when full', () => {
    let clock = 0;
    const limiter = createAuthFailureLimiter({ failuresPerMinute: 1, maxEntries: 2, now: () => clock });
    limiter.recordFailure('a');
    assert.equal(limiter.retryAfterSeconds('a'), 60);
    clock += 30_000;
    assert.equal(limiter.retryAfterSeconds('a'), 30);
    clock += 30_000;
    assert.equal(limiter.retryAfterSeconds('a'), 0, 'a new window');

    limiter.recordFailure('a');
    limiter.recordFailure('b');
    limiter.recordFailure('c'); // full: 'a' is the oldest and goes
    assert.equal(limiter.retryAfterSeconds('a'), 0);
    assert.ok(limiter.retryAfterSeconds('b') > 0);
    assert.ok(limiter.retryAfterSeconds('c') > 0);
  });
});

describe('RFC 9728 protected resource metadata', () => {
  it('a static-token server advertises no authorization server', async () => {
    const t = await startApp();
    try {
      const res = await fetch(t.metadataUrl);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        resource: `${t.base}/mcp`,
        scopes_supported: ['jobs:read', 'jobs:write', 'admin'],
        bearer_methods_supported: ['header'],
        resource_name: 'claude-async',
      });
      const root = (await (await fetch(`${t.base}/.well-known/oauth-protected-resource`)).json()) as Record<string, unknown>;
      assert.equal(root.resource, t.base, 'the root document names the origin (RFC 9728 section 3.3)');
      assert.ok(!('authorization_servers' in root));
    } finally {
      await t.close();
    }
  });

  it('a server with a JWT issuer advertises it', async () => {
    const t = await startApp({ jwtIssuer: 'https://as.example/realms/dev', jwksUrl: 'https://as.example/jwks' });
    try {
      const doc = (await (await fetch(t.metadataUrl)).json()) as Record<string, unknown>;
      assert.deepEqual(doc.authorization_servers, ['https://as.example/realms/dev']);
      assert.equal(doc.resource, `${t.base}/mcp`);
    } finally {
      await t.close();
    }
  });
});

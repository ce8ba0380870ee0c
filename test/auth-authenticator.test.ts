import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { mintToken } from '../src/auth/jwt.js';
import { TokenStore } from '../src/auth/token-store.js';
import type { AuthOptions } from '../src/auth/types.js';

const ENV_TOKEN = 'env-token-0123456789abcdef0123456789';
const SECRET = 'another-test-secret-long-enough-for-hs256';

describe('authenticate(Authorization header)', () => {
  let dir: string;
  let store: TokenStore;
  let options: AuthOptions;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cas-auth-authn-'));
    options = {
      mode: 'token',
      publicUrl: 'http://127.0.0.1:8787/',
      envToken: ENV_TOKEN,
      tokensFile: join(dir, 'tokens.json'),
      jwtSecret: SECRET,
      authFailuresPerMinute: 10,
    };
    store = new TokenStore(options.tokensFile);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('accepts CLAUDE_ASYNC_TOKEN as principal "default" with every scope', async () => {
    const auth = createAuthenticator(options, store);
    assert.deepEqual(await auth.authenticate(`Bearer ${ENV_TOKEN}`), {
      ok: true,
      principal: { id: 'token:default', legacyId: 'default', scopes: ['jobs:read', 'jobs:write', 'admin'], kind: 'static' },
    });
    assert.equal((await auth.authenticate('bearer   ' + ENV_TOKEN)).ok, true, 'the scheme is case-insensitive');
    const near = await auth.authenticate(`Bearer ${ENV_TOKEN}x`);
    assert.equal(near.ok, false);
  });

  it('accepts a stored cas_ token and refuses it once revoked', async () => {
    const auth = createAuthenticator(options, store);
    const { token } = await store.create('laptop', ['jobs:read']);
    assert.deepEqual(await auth.authenticate(`Bearer ${token}`), { ok: true, principal: { id: 'token:laptop', legacyId: 'laptop', scopes: ['jobs:read'], kind: 'static' } });
    await store.revoke('laptop');
    const result = await auth.authenticate(`Bearer ${token}`);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.error, 'invalid_token');
      assert.ok(!result.description.includes(token.slice(4)), 'the token never appears in the error');
    }
  });

  it('sends JWT-shaped tokens to the JWT verifier', async () => {
    const auth = createAuthenticator(options, store);
    const good = await mintToken({ secret: SECRET, sub: 'carol', scopes: ['jobs:write'], ttlSeconds: 60, audience: 'http://127.0.0.1:8787/mcp' });
    assert.deepEqual(await auth.authenticate(`Bearer ${good}`), { ok: true, principal: { id: 'jwt:|carol', scopes: ['jobs:write'], kind: 'jwt' } });

    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"carol"}').toString('base64url')}.`;
    const refused = await auth.authenticate(`Bearer ${none}`);
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.equal(refused.error, 'invalid_token');
  });

  it('refuses JWTs when no secret or JWKS is configured', async () => {
    const { jwtSecret: _unused, ...withoutJwt } = options;
    const auth = createAuthenticator(withoutJwt, store);
    const jwt = await mintToken({ secret: SECRET, sub: 'carol', scopes: ['admin'], ttlSeconds: 60 });
    const result = await auth.authenticate(`Bearer ${jwt}`);
    assert.equal(result.ok, false);
    if (!result.ok) assert.match(result.description, /does not accept JWTs/);
  });

  it('tells a missing token apart from a malformed header and a wrong token', async () => {
    const auth = createAuthenticator(options, store);
    for (const header of [undefined, '', 'Basic dXNlcjpwYXNz']) {
      const result = await auth.authenticate(header);
      assert.equal(result.ok, false);
      if (!result.ok) assert.equal(result.missing, true, `missing for ${String(header)}`);
    }
    const malformed = await auth.authenticate('Bearer two words');
    assert.ok(!malformed.ok && malformed.error === 'invalid_request' && !malformed.missing);
    const wrong = await auth.authenticate('Bearer something-else');
    assert.ok(!wrong.ok && wrong.error === 'invalid_token' && !wrong.missing);
  });

  it('mode none lets everyone in as "local" with every scope', async () => {
    const auth = createAuthenticator({ ...options, mode: 'none' }, store);
    for (const header of [undefined, 'Bearer whatever']) {
      assert.deepEqual(await auth.authenticate(header), {
        ok: true,
        principal: { id: 'local', scopes: ['jobs:read', 'jobs:write', 'admin'], kind: 'anonymous' },
      });
    }
  });
});

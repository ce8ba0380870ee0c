import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createJwtVerifier, mintToken, type JwtVerifier } from '../src/auth/jwt.js';

const PUBLIC_URL = 'https://box.example';
const ISSUER = 'https://as.example/realms/dev';
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';
const now = () => Math.floor(Date.now() / 1000);

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A stand-in authorization server: it only publishes a JWKS, which a test can swap. */
async function startFakeAuthorizationServer() {
  const state = { keys: [] as JWK[], fetches: 0 };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.writeHead(404).end();
      return;
    }
    state.fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    state,
    jwksUrl: `http://127.0.0.1:${port}/jwks`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function sign(key: SigningKey, claims: JWTPayload = {}, header: { kid?: string } = {}): Promise<string> {
  // Claims given by the test override the valid defaults (undefined removes one).
  const payload = { scope: 'openid jobs:read', sub: 'alice', iss: ISSUER, aud: `${PUBLIC_URL}/mcp`, iat: now(), exp: now() + 300, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: header.kid ?? key.kid }).sign(key.privateKey);
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function expectFailure(verifier: JwtVerifier, token: string, reason: string) {
  const result = await verifier.verify(token);
  assert.equal(result.ok, false, `expected ${reason}, got a pass`);
  if (!result.ok) assert.equal(result.reason, reason, result.description);
}

describe('JWT verification against an issuer JWKS', () => {
  let as: Awaited<ReturnType<typeof startFakeAuthorizationServer>>;
  let key1: SigningKey;
  let verifier: JwtVerifier;

  before(async () => {
    as = await startFakeAuthorizationServer();
    key1 = await newKey('k1');
    as.state.keys = [key1.jwk];
    const created = createJwtVerifier({ publicUrl: PUBLIC_URL, jwksUrl: as.jwksUrl, jwtIssuer: ISSUER, jwtSecret: SECRET });
    assert.ok(created);
    verifier = created;
  });
  after(() => as.close());

  it('accepts a valid token and maps sub and scopes to a principal', async () => {
    const result = await verifier.verify(await sign(key1));
    assert.deepEqual(result, { ok: true, principal: { id: `jwt:${ISSUER}|alice`, scopes: ['jobs:read'], kind: 'jwt' } });
  });

  it('reads scopes from scp as an array too, dropping unknown ones', async () => {
    const result = await verifier.verify(await sign(key1, { scope: undefined, scp: ['jobs:write', 'admin', 'email'] }));
    assert.ok(result.ok);
    assert.deepEqual(result.principal.scopes, ['jobs:write', 'admin']);
  });

  it('accepts the bare origin as audience by default', async () => {
    const token = await new SignJWT({ scope: 'jobs:read' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('alice').setIssuer(ISSUER).setAudience(PUBLIC_URL).setExpirationTime('5m')
      .sign(key1.privateKey);
    assert.equal((await verifier.verify(token)).ok, true);
  });

  it('refuses a wrong issuer', async () => {
    await expectFailure(verifier, await sign(key1, { iss: 'https://evil.example' }), 'claim_invalid');
  });

  it('refuses a wrong audience', async () => {
    await expectFailure(verifier, await sign(key1, { aud: 'https://other-service.example/mcp' }), 'claim_invalid');
  });

  it('refuses an expired token', async () => {
    await expectFailure(verifier, await sign(key1, { exp: now() - 3600, iat: now() - 7200 }), 'expired');
  });

  it('refuses a token whose nbf is in the future', async () => {
    await expectFailure(verifier, await sign(key1, { nbf: now() + 3600 }), 'not_yet_valid');
  });

  it('refuses alg none', async () => {
    const payload = { sub: 'alice', iss: ISSUER, aud: `${PUBLIC_URL}/mcp`, exp: now() + 300, scope: 'admin' };
    await expectFailure(verifier, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`, 'alg_not_allowed');
    await expectFailure(verifier, `${b64({ alg: 'none' })}.${b64(payload)}.c2ln`, 'alg_not_allowed');
  });

  it('refuses a token signed by a key the JWKS does not hold', async () => {
    const stranger = await newKey('unknown-kid');
    await expectFailure(verifier, await sign(stranger), 'no_matching_key');
  });

  it('refuses a token signed by another key under a known kid', async () => {
    const impostor = await newKey('k1');
    await expectFailure(verifier, await sign(impostor), 'bad_signature');
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ scope: 'jobs:read' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('alice').setIssuer(ISSUER).setAudience(`${PUBLIC_URL}/mcp`)
      .sign(key1.privateKey);
    await expectFailure(verifier, token, 'claim_invalid');
  });

  it('refuses garbage', async () => {
    await expectFailure(verifier, 'abc.def.ghi', 'malformed');
  });
});

describe('JWKS key rotation', () => {
  it('picks up a new key after the cooldown, and drops the old one', async (t) => {
    // jose measures the cooldown with Date.now(): a mocked clock steps over it, so a slow machine
    // can neither end the cooldown early nor make the test wait for it.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const as = await startFakeAuthorizationServer();
    try {
      const oldKey = await newKey('old');
      const newer = await newKey('new');
      as.state.keys = [oldKey.jwk];
      const verifier = createJwtVerifier({ publicUrl: PUBLIC_URL, jwksUrl: as.jwksUrl, jwtIssuer: ISSUER }, { cooldownMs: 30_000 });
      assert.ok(verifier);
      assert.equal((await verifier.verify(await sign(oldKey))).ok, true);
      assert.equal(as.state.fetches, 1);

      as.state.keys = [newer.jwk]; // the issuer rotates
      const fresh = await sign(newer);
      await expectFailure(verifier, fresh, 'no_matching_key'); // within the cooldown: no refetch
      assert.equal(as.state.fetches, 1);

      t.mock.timers.tick(29_999);
      await expectFailure(verifier, fresh, 'no_matching_key'); // a millisecond before the cooldown ends
      assert.equal(as.state.fetches, 1);
      t.mock.timers.tick(1);
      assert.deepEqual(await verifier.verify(fresh), { ok: true, principal: { id: `jwt:${ISSUER}|alice`, scopes: ['jobs:read'], kind: 'jwt' } });
      assert.equal(as.state.fetches, 2, 'the unknown kid caused exactly one refetch');
      await expectFailure(verifier, await sign(oldKey), 'no_matching_key');
    } finally {
      await as.close();
    }
  });

  it('says the keys are unavailable when the JWKS cannot be fetched', async () => {
    const as = await startFakeAuthorizationServer();
    const key = await newKey('k');
    await as.close();
    const verifier = createJwtVerifier({ publicUrl: PUBLIC_URL, jwksUrl: as.jwksUrl }, { timeoutMs: 1000 });
    assert.ok(verifier);
    await expectFailure(verifier, await sign(key), 'jwks_unavailable');
  });
});

describe('HS256 tokens from `claude-async token mint`', () => {
  const verifier = createJwtVerifier({ publicUrl: PUBLIC_URL, jwtSecret: SECRET });

  it('a minted token passes with its sub and scopes', async () => {
    assert.ok(verifier);
    const token = await mintToken({ secret: SECRET, sub: 'bob', scopes: ['jobs:write'], ttlSeconds: 60, audience: `${PUBLIC_URL}/mcp` });
    assert.deepEqual(await verifier.verify(token), { ok: true, principal: { id: 'jwt:|bob', scopes: ['jobs:write'], kind: 'jwt' } });
  });

  it('a token minted with another secret fails', async () => {
    assert.ok(verifier);
    const token = await mintToken({ secret: `${SECRET}-other`, sub: 'bob', scopes: ['admin'], ttlSeconds: 60, audience: PUBLIC_URL });
    await expectFailure(verifier, token, 'bad_signature');
  });

  it('a token minted without the audience fails', async () => {
    assert.ok(verifier);
    const token = await mintToken({ secret: SECRET, sub: 'bob', scopes: ['admin'], ttlSeconds: 60 });
    await expectFailure(verifier, token, 'claim_invalid');
  });

  it('an RS256 token is refused when only a secret is configured', async () => {
    assert.ok(verifier);
    await expectFailure(verifier, await sign(await newKey('k')), 'alg_not_allowed');
  });

  it('refuses short secrets and bad lifetimes', async () => {
    assert.throws(() => createJwtVerifier({ publicUrl: PUBLIC_URL, jwtSecret: 'short' }), /at least 32 bytes/);
    await assert.rejects(mintToken({ secret: SECRET, sub: 'bob', scopes: [], ttlSeconds: 0 }), /ttlSeconds/);
  });

  it('no verifier at all when neither secret nor JWKS is configured', () => {
    assert.equal(createJwtVerifier({ publicUrl: PUBLIC_URL }), null);
  });
});

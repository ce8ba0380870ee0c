// The pure and file-level parts of the built-in OAuth server, with plain values and injected clocks:
// which addresses a metadata fetch may reach, which redirect URIs register, what a grant may hold,
// code lifetime and single use, key rotation, concurrent writers of the state file, the doctor check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isNonPublicAddress, isLoopbackAddress } from '../src/auth/oauth/safe-fetch.js';
import { redirectUriProblem } from '../src/auth/oauth/redirect-uris.js';
import { grantableScopes } from '../src/auth/oauth/consent.js';
import { AuthorizationCodes, CODE_TTL_MS, type ApprovedAuthorization } from '../src/auth/oauth/codes.js';
import { SigningKeys } from '../src/auth/oauth/keys.js';
import { StateFile } from '../src/files/state-file.js';
import { checkOAuthIssuer } from '../src/cli/doctor.js';
import { loadConfig } from '../src/config.js';
import { tempDir } from './support/helpers.js';

describe('which addresses a client metadata fetch may reach', () => {
  it('refuses loopback, private, link-local (cloud metadata), CGNAT and mapped forms of them', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:7f00:1',
      '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe']) {
      assert.equal(isNonPublicAddress(address), true, address);
    }
    for (const address of ['93.184.216.34', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isNonPublicAddress(address), false, address);
    }
    assert.equal(isLoopbackAddress('::ffff:127.0.0.1'), true);
    assert.equal(isLoopbackAddress('169.254.169.254'), false, 'the loopback exception never covers the metadata address');
  });
});

describe('redirect URIs a client may register', () => {
  it('takes https anywhere and http only on loopback', () => {
    for (const ok of ['https://claude.ai/api/mcp/auth_callback', 'http://localhost:33418/callback', 'http://127.0.0.1:9/cb', 'http://[::1]:8080/cb']) {
      assert.equal(redirectUriProblem(ok), undefined, ok);
    }
    for (const bad of ['http://claude.ai/cb', 'javascript:alert(1)', 'data:text/html,x', 'https://a.example/cb#x', 'https://user:pw@a.example/cb', 'not a url', 'http://localhost.evil.example/cb']) {
      assert.ok(redirectUriProblem(bad), bad);
    }
  });
});

describe('what a grant may hold', () => {
  it('gives the scopes asked for that the token holds, narrows to the token, never adds admin unasked', () => {
    assert.deepEqual(grantableScopes(['jobs:read', 'jobs:write'], ['jobs:read', 'jobs:write']), ['jobs:read', 'jobs:write']);
    assert.deepEqual(grantableScopes(['jobs:write'], ['jobs:read']), ['jobs:read']);
    assert.deepEqual(grantableScopes(['jobs:read', 'jobs:write', 'admin'], ['jobs:read']), ['jobs:read']);
    assert.deepEqual(grantableScopes(['jobs:read', 'jobs:write'], ['admin']), ['jobs:read', 'jobs:write']);
    assert.deepEqual(grantableScopes(['admin'], ['admin']), ['admin']);
    assert.deepEqual(grantableScopes([], ['jobs:read', 'jobs:write', 'admin']), ['jobs:read', 'jobs:write']);
    assert.deepEqual(grantableScopes(['openid', 'profile'], ['jobs:read']), ['jobs:read']);
  });
});

describe('authorization codes', () => {
  const approved: ApprovedAuthorization = {
    clientId: 'c1', redirectUri: 'https://a.example/cb', codeChallenge: 'x', resource: 'https://box/mcp',
    principalId: 'alice', source: { kind: 'static', name: 'alice', createdAt: '2026-01-01T00:00:00.000Z' }, scopes: ['jobs:read'],
  };

  it('are single-use, bound to their client, and live 60 s', () => {
    let now = 1_000_000;
    const codes = new AuthorizationCodes(() => now);
    const code = codes.issue(approved);
    assert.equal(codes.peek(code, 'other-client').status, 'wrong_client');
    assert.equal(codes.take(code, 'c1').status, 'fresh');
    assert.equal(codes.attachGrant(code, 'grt_1'), false);
    assert.deepEqual(codes.take(code, 'c1'), { status: 'replayed', grantId: 'grt_1' });
    const late = codes.issue(approved);
    now += CODE_TTL_MS;
    assert.equal(codes.take(late, 'c1').status, 'expired');
    assert.equal(codes.take('made-up', 'c1').status, 'unknown');
  });

  it('a replay during the first redemption is reported when the grant is attached', () => {
    const codes = new AuthorizationCodes();
    const code = codes.issue(approved);
    assert.equal(codes.take(code, 'c1').status, 'fresh');
    assert.equal(codes.take(code, 'c1').status, 'replayed');
    assert.equal(codes.attachGrant(code, 'grt_2'), true);
  });
});

describe('signing keys', () => {
  it('makes one key, rotates, and keeps the old one in the JWKS until its tokens have expired', async (t) => {
    const dir = tempDir('ca-keys-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    let now = 5_000_000;
    const file = path.join(dir, 'oauth', 'keys.json');
    const keys = new SigningKeys(file, 3_600_000, () => now);
    await keys.ensureKey();
    await keys.ensureKey();
    assert.equal((await keys.publicJwks()).length, 1);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const first = (await keys.signingKey()).kid;
    const { kid, retired } = await keys.rotate();
    assert.deepEqual(retired, [first]);
    assert.equal((await keys.signingKey()).kid, kid);
    now += 1000; // past the reload check
    assert.deepEqual((await keys.publicJwks()).map((k) => k.kid).sort(), [first, kid].sort());
    assert.ok((await keys.publicJwks()).every((k) => k.d === undefined), 'public keys only');
    now += 3_600_000 + 5 * 60_000;
    assert.deepEqual((await keys.publicJwks()).map((k) => k.kid), [kid]);
  });
});

describe('the OAuth state file', () => {
  it('loses no change when two writers (server and CLI) update it at once', async (t) => {
    const dir = tempDir('ca-state-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const schema = z.object({ items: z.array(z.number()) });
    const file = path.join(dir, 'state.json');
    const a = new StateFile(file, schema, () => ({ items: [] as number[] }), { what: 'claude-async OAuth file' });
    const b = new StateFile(file, schema, () => ({ items: [] as number[] }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).update((d) => void d.items.push(i))));
    const final = JSON.parse(fs.readFileSync(file, 'utf8')) as { items: number[] };
    assert.deepEqual([...final.items].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.writeFileSync(file, '{"items": "broken"}');
    await assert.rejects(a.update(() => undefined), /not a valid claude-async OAuth file/, 'a broken file is never silently replaced');
  });
});

describe('doctor: the OAuth issuer', () => {
  const env = (extra: Record<string, string>) => loadConfig({ CLAUDE_ASYNC_DATA_DIR: '/tmp/x', ...extra }, '/tmp');
  it('is fine on https or loopback, and says why it is off on plain http elsewhere', () => {
    assert.equal(checkOAuthIssuer(env({ CLAUDE_ASYNC_PUBLIC_URL: 'https://box.example.com' }))?.level, 'ok');
    assert.equal(checkOAuthIssuer(env({}))?.level, 'ok');
    const plain = checkOAuthIssuer(env({ CLAUDE_ASYNC_PUBLIC_URL: 'http://box.example.com:8787' }));
    assert.equal(plain?.level, 'warn');
    assert.match(plain!.detail, /issuer must be https/);
    assert.equal(checkOAuthIssuer(env({ CLAUDE_ASYNC_JWKS_URL: 'https://idp.example/jwks', CLAUDE_ASYNC_JWT_ISSUER: 'https://idp.example' })), undefined);
    assert.equal(checkOAuthIssuer(env({ CLAUDE_ASYNC_OAUTH: 'off' })), undefined);
  });
});

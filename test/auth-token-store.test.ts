import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TokenStore, TokenStoreError } from '../src/auth/token-store.js';

describe('static token store', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cas-auth-store-'));
    file = join(dir, 'secrets', 'tokens.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hands out a cas_ token once and keeps only its hash, in a 0600 file in a 0700 folder', async () => {
    const store = new TokenStore(file);
    const { token, info } = await store.create('laptop', ['jobs:read', 'jobs:write']);
    assert.match(token, /^cas_[A-Za-z0-9_-]{43}$/);
    assert.equal(info.name, 'laptop');
    assert.ok(!Number.isNaN(Date.parse(info.createdAt)));

    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(token.slice(4)), 'the plaintext must never reach the disk');
    assert.match(text, /"hash": "[0-9a-f]{64}"/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'secrets'))).mode & 0o777, 0o700);

    const listed = await store.list();
    assert.deepEqual(listed.map((t) => Object.keys(t).sort()), [['createdAt', 'name', 'scopes']]);
    assert.ok(!JSON.stringify(listed).includes('hash'));
  });

  it('accepts the right token, refuses a wrong one and a revoked one', async () => {
    const store = new TokenStore(file);
    const { token } = await store.create('ci', ['jobs:read']);
    assert.deepEqual(await store.verify(token), { id: 'token:ci', legacyId: 'ci', scopes: ['jobs:read'], kind: 'static' });

    const wrong = `cas_${'A'.repeat(43)}`;
    assert.equal(await store.verify(wrong), null);
    assert.equal(await store.verify(token.slice(0, -1)), null);
    assert.equal(await store.verify('not-a-token'), null);

    assert.equal(await store.revoke('ci'), true);
    assert.equal(await store.verify(token), null);
    assert.equal(await store.revoke('ci'), false);
  });

  it('records lastUsedAt in memory when a token is used', async () => {
    const store = new TokenStore(file, { now: () => Date.parse('2030-01-01T00:00:00Z') });
    const { token } = await store.create('bot', ['admin']);
    assert.equal((await store.list())[0]?.lastUsedAt, undefined);
    await store.verify(token);
    assert.equal((await store.list())[0]?.lastUsedAt, '2030-01-01T00:00:00.000Z');
  });

  it('rejects bad names, bad scopes and duplicate names with a clear error', async () => {
    const store = new TokenStore(file);
    await store.create('alice', ['jobs:read']);
    await assert.rejects(store.create('alice', ['admin']), (err: unknown) => {
      assert.ok(err instanceof TokenStoreError);
      assert.equal(err.code, 'duplicate_name');
      assert.match(err.message, /already exists/);
      return true;
    });
    await assert.rejects(store.create('has space', ['jobs:read']), { code: 'invalid_name' });
    await assert.rejects(store.create('x'.repeat(65), ['jobs:read']), { code: 'invalid_name' });
    await assert.rejects(store.create('../etc', ['jobs:read']), { code: 'invalid_name' });
    await assert.rejects(store.create('bob', []), { code: 'invalid_scopes' });
    await assert.rejects(store.create('bob', ['root' as never]), { code: 'invalid_scopes' });
    assert.deepEqual((await store.list()).map((t) => t.name), ['alice']);
  });

  it('sees a token the CLI created in another process once the file changes, stat-ing at most once a second', async () => {
    let clock = 1_000_000;
    const server = new TokenStore(file, { now: () => clock });
    const cli = new TokenStore(file);
    assert.equal(await server.verify(`cas_${'B'.repeat(43)}`), null); // loads the (absent) file

    const { token } = await cli.create('new-laptop', ['jobs:write']);
    clock += 500;
    assert.equal(await server.verify(token), null, 'within the check interval the cached view is used');
    clock += 600;
    assert.deepEqual(await server.verify(token), { id: 'token:new-laptop', legacyId: 'new-laptop', scopes: ['jobs:write'], kind: 'static' });

    await cli.revoke('new-laptop');
    clock += 1001;
    assert.equal(await server.verify(token), null, 'a revocation by the CLI takes effect too');
  });

  it('fails closed when the file is corrupted, and the CLI refuses to overwrite it', async () => {
    let clock = 0;
    const server = new TokenStore(file, { now: () => clock });
    const { token } = await server.create('alice', ['jobs:read']);
    assert.ok(await server.verify(token));

    await writeFile(file, '{"version": 1, "tokens": [ oops');
    clock += 2000;
    assert.equal(await server.verify(token), null);
    await assert.rejects(new TokenStore(file).create('bob', ['jobs:read']), { code: 'corrupt_file' });
    assert.equal(await readFile(file, 'utf8'), '{"version": 1, "tokens": [ oops');
  });

  it('loses no token when two writers create at the same time', async () => {
    const a = new TokenStore(file);
    const b = new TokenStore(file);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).create(`t${i}`, ['jobs:read'])),
    );
    const names = (await new TokenStore(file).list()).map((t) => t.name).sort();
    assert.equal(names.length, 12);
  });
});

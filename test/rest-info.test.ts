import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRestApp } from './support/rest-app.js';

describe('REST: GET /v1/info tells a client what this server allows it', () => {
  it('offers only the permission modes within the cap, caps the default, and names the principal', async (t) => {
    const app = await startRestApp(t, { maxPermissionMode: 'default', defaultPermissionMode: 'acceptEdits' });
    const res = await app.call('/v1/info');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const info = (await res.json()) as Record<string, any>;
    assert.deepEqual(info.permissionModes, ['plan', 'dontAsk', 'default']);
    assert.equal(info.defaultPermissionMode, 'default');
    assert.equal(info.approvals, false, 'approvals are off unless the operator turns them on');
    assert.deepEqual(info.principal, { id: 'token:alice', scopes: ['jobs:read', 'jobs:write'], admin: false });
    // Where jobs may run is not told to a non-admin (a refused cwd names no root either).
    assert.equal(info.defaultCwd, undefined);
    assert.equal(info.allowedRoots, undefined);
    // Every mode it offers is one a start really accepts; the next one up is refused.
    for (const mode of info.permissionModes as string[]) {
      assert.equal((await app.call('/v1/jobs', { body: { prompt: 'x', permissionMode: mode } })).status, 201, mode);
    }
    assert.equal((await app.call('/v1/jobs', { body: { prompt: 'x', permissionMode: 'acceptEdits' } })).status, 400);
  });

  it('says admin and where jobs may run for an admin token, and wants a token like every /v1 route', async (t) => {
    const app = await startRestApp(t);
    const root = (await (await app.call('/v1/info', { token: app.tokens.root })).json()) as Record<string, any>;
    assert.deepEqual(root.principal, { id: 'token:root', scopes: ['admin'], admin: true });
    assert.deepEqual(root.permissionModes, ['plan', 'dontAsk', 'default', 'acceptEdits']);
    assert.equal(root.defaultCwd, app.config.defaultCwd);
    assert.deepEqual(root.allowedRoots, app.config.allowedRoots);
    assert.equal((await app.call('/v1/info', { token: app.tokens.reader })).status, 200);
    assert.equal((await app.call('/v1/info', { token: null })).status, 401);
  });
});

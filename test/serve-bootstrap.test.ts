import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './support/helpers.js';
import { needsPosix } from './support/platform.js';
import { spawnServer, type RealServer } from './support/server-process.js';

/** Both kinds of start print "Jobs page:" to the terminal after listening: the banner is complete once it shows. */
const bannerPrinted = (server: RealServer) => waitFor(() => server.stderr().includes('Jobs page: '), 30_000, 'the start-up banner');

describe('the first serve', { skip: needsPosix('stops the server with SIGTERM and expects a graceful exit') }, () => {
  it('makes one token, prints it once with client commands, and never again; the token works', async (t) => {
    // No token of any kind in the environment: the first serve must make one.
    const first = await spawnServer({ port: 0 });
    let second: RealServer | undefined;
    t.after(async () => {
      await second?.kill();
      await first.stop();
    });
    await bannerPrinted(first);
    const token = /\b(cas_[A-Za-z0-9_-]{40,})\b/.exec(first.stderr())?.[1];
    assert.ok(token, `no token printed: ${first.stderr()}`);
    assert.ok(first.stderr().includes(`claude mcp add --transport http claude-async ${first.url}/mcp --header "Authorization: Bearer ${token}"`), first.stderr());
    assert.doesNotMatch(first.stdout(), new RegExp(token), 'the token reached the log');
    assert.ok(first.stderr().includes(`Jobs page: ${first.url}/ui/ (paste the token there to sign in)`), first.stderr());
    const res = await fetch(`${first.url}/v1/jobs`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.deepEqual(await first.kill('SIGTERM'), { code: 0, signal: null });

    second = await spawnServer({ port: 0, dataDir: first.dataDir, env: first.env });
    await bannerPrinted(second);
    assert.doesNotMatch(second.stderr(), /cas_/, 'a second token was printed');
    assert.equal((await fetch(`${second.url}/v1/jobs`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
  });
});

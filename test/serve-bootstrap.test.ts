import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, cleanupJobs, testConfig, waitFor } from './helpers.js';
import { needsPosix } from './support/platform.js';

const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

describe('the first serve', { skip: needsPosix('stops the server with SIGTERM and expects a graceful exit') }, () => {
  it('makes one token, prints it once with client commands, and never again; the token works', async (t) => {
    const config = testConfig();
    const children: ChildProcess[] = [];
    t.after(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      cleanupJobs(config);
    });
    const env = { PATH: process.env.PATH ?? '', HOME: config.dataDir, CLAUDE_ASYNC_DATA_DIR: config.dataDir, CLAUDE_ASYNC_DEFAULT_CWD: config.defaultCwd, CLAUDE_ASYNC_CLAUDE_BIN: config.claudeBin, CLAUDE_ASYNC_PORT: '0' };
    const boot = async () => {
      const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], 60_000, 'server to listen');
      await new Promise((r) => setTimeout(r, 200)); // the banner follows the listening line
      return { child, url, out: () => out, err: () => err };
    };
    const first = await boot();
    const token = /\b(cas_[A-Za-z0-9_-]{40,})\b/.exec(first.err())?.[1];
    assert.ok(token, `no token printed: ${first.err()}`);
    assert.ok(first.err().includes(`claude mcp add --transport http claude-async ${first.url}/mcp --header "Authorization: Bearer ${token}"`), first.err());
    assert.doesNotMatch(first.out(), new RegExp(token), 'the token reached the log');
    assert.ok(first.err().includes(`Jobs page: ${first.url}/ui/ (paste the token there to sign in)`), first.err());
    const res = await fetch(`${first.url}/v1/jobs`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));

    const second = await boot();
    assert.doesNotMatch(second.err(), /cas_/, 'a second token was printed');
    assert.equal((await fetch(`${second.url}/v1/jobs`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  });
});

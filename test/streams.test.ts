// Open streams and log followers in process: the per-principal cap, the token re-check (at once
// when a token is revoked in this process), and the follower's whole-line guarantee.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { OpenStreams } from '../src/auth/open-streams.js';
import { TokenStore } from '../src/auth/token-store.js';
import type { AuthResult, Principal } from '../src/auth/types.js';
import { LimitExceeded } from '../src/jobs/errors.js';
import { LogFollowers, type LogLine } from '../src/jobs/follower.js';
import { createApp } from '../src/http/app.js';
import { openService, tempDir, waitFor } from './helpers.js';
import { openStream, bearer } from './support/hardening-server.js';

const principal = (id: string): Principal => ({ id, scopes: ['jobs:read'], kind: 'static' });

describe('OpenStreams', () => {
  it('caps streams per principal, frees a slot on release, and leaves other principals alone', () => {
    const streams = new OpenStreams({ maxPerPrincipal: 2, recheckMs: 60_000, authenticate: async () => ({ ok: false, status: 401, error: 'invalid_token', description: 'x' }) });
    try {
      const a1 = streams.open(principal('token:a'), 'Bearer a', () => {});
      streams.open(principal('token:a'), 'Bearer a', () => {});
      assert.throws(() => streams.open(principal('token:a'), 'Bearer a', () => {}), (e: unknown) => e instanceof LimitExceeded && e.kind === 'rate');
      streams.open(principal('token:b'), 'Bearer b', () => {});
      a1.release();
      a1.release(); // twice is harmless
      assert.equal(streams.count('token:a'), 1);
      streams.open(principal('token:a'), 'Bearer a', () => {});
      assert.equal(streams.count(), 3);
    } finally {
      streams.close();
    }
  });

  it('a re-check closes the streams whose token no longer names their principal, checking each header once', async () => {
    const calls: (string | undefined)[] = [];
    const valid = new Set(['Bearer good']);
    const streams = new OpenStreams({
      maxPerPrincipal: 10, recheckMs: 60_000,
      authenticate: async (header): Promise<AuthResult> => {
        calls.push(header);
        return valid.has(header ?? '') ? { ok: true, principal: principal('token:a') } : { ok: false, status: 401, error: 'invalid_token', description: 'Unknown or revoked API token' };
      },
    });
    try {
      const closed: string[] = [];
      const leases = [1, 2, 3].map((i) => streams.open(principal('token:a'), 'Bearer good', (reason) => closed.push(`good${i}: ${reason}`)));
      streams.open(principal('token:a'), 'Bearer gone', (reason) => closed.push(`gone: ${reason}`));
      await streams.recheck();
      assert.deepEqual(closed, ['gone: Unknown or revoked API token']);
      assert.deepEqual(calls.sort(), ['Bearer gone', 'Bearer good']);
      valid.clear();
      await streams.recheck();
      assert.equal(closed.length, 4);
      for (const lease of leases) lease.release();
    } finally {
      streams.close();
    }
  });
});

describe('a token revoked in this process', () => {
  it('closes its open event stream at once, not at the next periodic re-check', async (t) => {
    const { config, service } = await openService(t, { streamRecheckMs: 30_000 });
    const store = new TokenStore(path.join(config.dataDir, 'tokens.json'));
    const { token } = await store.create('alice', ['jobs:read', 'jobs:write']);
    const keep = (await store.create('bob', ['jobs:read', 'jobs:write'])).token;
    const authenticator = createAuthenticator({ mode: 'token', publicUrl: config.publicUrl, tokensFile: store.file, authFailuresPerMinute: 1000 }, store);
    const { app } = createApp({ config, service, authenticator, log: pino({ level: 'silent' }) });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    t.after(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const start = async (bearerToken: string) => (await (await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { ...bearer(bearerToken), 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: '#fake sleep 30000\nlong' }) })).json()) as { jobId: string };
    const mine = await start(token);
    const theirs = await start(keep);
    const stream = await openStream(url, `/v1/jobs/${mine.jobId}/events`, bearer(token));
    const other = await openStream(url, `/v1/jobs/${theirs.jobId}/events`, bearer(keep));
    assert.equal(stream.status, 200);
    const revokedAt = Date.now();
    await store.revoke('alice');
    await Promise.race([stream.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the stream outlived its revoked token')), 10_000).unref())]);
    t.diagnostic(`closed ${Date.now() - revokedAt} ms after the revocation (periodic re-check: 30 s)`);
    assert.equal(stream.events.at(-1)?.event, 'error');
    assert.match(String(stream.events.at(-1)?.data), /token-revoked/);
    other.abort();
    for (const id of [mine.jobId, theirs.jobId]) await service.cancel(id, { id: 'x', admin: true });
  });
});

describe('LogFollowers', () => {
  /** A follower over a plain file whose "job" ends when `ended` is set. */
  function setup(t: { after: (fn: () => unknown) => void }) {
    const dir = tempDir('ca-follow-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'out.jsonl');
    fs.writeFileSync(file, '');
    const state = { ended: false };
    const followers = new LogFollowers({ pollMs: 10 });
    const watch = (from = 0) => {
      const lines: LogLine[] = [];
      let done = false;
      const sub = followers.follow({ file, status: async () => ({ status: state.ended ? 'completed' as const : 'running' as const }) }, from, {
        deliver: (batch) => void lines.push(...batch),
        ended: () => (done = true),
        failed: (error) => assert.fail(String(error)),
      });
      return { lines, sub, ended: () => done };
    };
    return { file, state, followers, watch };
  }

  it('never delivers the torn line after the log is truncated mid-line, and carries on after it', async (t) => {
    const { file, state, watch } = setup(t);
    const w = watch();
    fs.appendFileSync(file, '{"n":1}\n{"n":2}\n{"n":3,"pad":"xxxxxxxx"}\n');
    await waitFor(() => w.lines.length === 3, 5000, 'three lines');
    // Mid-way through line 3, then the writer carries on. Whether a poll sees the shrink first or
    // only the regrown file, the torn line must not come out.
    fs.truncateSync(file, fs.statSync(file).size - 6);
    fs.appendFileSync(file, 'tail of the torn line"}\n{"n":4}\n');
    state.ended = true;
    await waitFor(() => w.ended(), 5000, 'the end');
    assert.deepEqual(w.lines.map((l) => l.text), ['{"n":1}', '{"n":2}', '{"n":3,"pad":"xxxxxxxx"}', '{"n":4}']);
  });

  it('skips a torn line even when the log regrew past its old size before the next poll', async (t) => {
    const dir = tempDir('ca-follow-');
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'out.jsonl');
    fs.writeFileSync(file, '{"n":1}\n');
    // A poll a minute apart: nothing runs between our writes but what a new watcher wakes.
    const followers = new LogFollowers({ pollMs: 60_000 });
    const watch = () => {
      const lines: string[] = [];
      const sub = followers.follow({ file, status: async () => ({ status: 'running' as const }) }, 0, {
        deliver: (batch) => void lines.push(...batch.map((l) => l.text)),
        ended: () => assert.fail('the job did not end'),
        failed: (error) => assert.fail(String(error)),
      });
      t.after(() => sub.close());
      return lines;
    };
    const early = watch();
    await waitFor(() => early.length === 1, 5000, 'the first line');
    // Written, cut mid-line and regrown, all between two polls: the size never looks smaller.
    fs.appendFileSync(file, '{"n":2,"pad":"yyyyyyyy"}\n');
    fs.truncateSync(file, fs.statSync(file).size - 6);
    fs.appendFileSync(file, '{"n":3}\n{"n":4}\n');
    const late = watch(); // wakes the follower
    await waitFor(() => late.length >= 2, 5000, 'the late watcher to read the log');
    await waitFor(() => early.length >= 2, 5000, 'the early watcher to read on');
    assert.deepEqual(late, ['{"n":1}', '{"n":4}']);
    assert.deepEqual(early, ['{"n":1}', '{"n":4}']);
  });

  it('skips a line longer than a chunk instead of cutting it, and watchers at one position share the job', async (t) => {
    const { file, state, followers, watch } = setup(t);
    const a = watch();
    const b = watch();
    assert.deepEqual(followers.stats(), { jobs: 1, watchers: 2 });
    fs.appendFileSync(file, `{"n":1}\n${'x'.repeat(5 * 1024 * 1024)}\n{"n":2}\n`);
    state.ended = true;
    await waitFor(() => a.ended() && b.ended(), 10_000, 'the end');
    assert.deepEqual(a.lines.map((l) => l.text), ['{"n":1}', '{"n":2}']);
    assert.deepEqual(b.lines, a.lines);
    assert.equal(a.lines.at(-1)!.end, fs.statSync(file).size);
    assert.deepEqual(followers.stats(), { jobs: 0, watchers: 0 });
  });
});

// The one backpressure rule both log followers (files: jobs/follower.ts; Redis streams:
// scale/stream-follow.ts) hand lines out by: a slow reader holds back only itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LogLine } from '../src/jobs/follower.js';
import { deliverPaced, type PacedWatcher } from '../src/jobs/paced-delivery.js';

const lines: LogLine[] = [{ text: '{"a":1}', end: 8 }, { text: '{"b":2}', end: 16 }];

function counters() {
  const calls = { ready: 0, gone: 0 };
  return { calls, ready: () => void calls.ready++, gone: () => void calls.gone++ };
}

describe('paced delivery (backpressure)', () => {
  it('a reader that takes its lines at once stays ready and is not called back', () => {
    const watcher: PacedWatcher = { pos: 16, busy: false };
    const got: LogLine[][] = [];
    const { calls, ready, gone } = counters();
    deliverPaced(watcher, { deliver: (batch) => void got.push(batch) }, lines, ready, gone);
    assert.deepEqual(got, [lines]);
    assert.equal(watcher.busy, false);
    assert.deepEqual(calls, { ready: 0, gone: 0 });
  });

  it('a slow reader is busy until its promise settles, then is ready to be read for again', async () => {
    const watcher: PacedWatcher = { pos: 16, busy: false };
    let finish!: () => void;
    const taken = new Promise<void>((resolve) => (finish = resolve));
    const { calls, gone } = counters();
    const readyAgain = new Promise<void>((resolve) => deliverPaced(watcher, { deliver: () => taken }, lines, () => {
      calls.ready++;
      resolve();
    }, gone));
    assert.equal(watcher.busy, true, 'skipped by the reader while it takes its lines');
    assert.equal(calls.ready, 0);
    finish();
    await readyAgain;
    assert.equal(watcher.busy, false);
    assert.deepEqual(calls, { ready: 1, gone: 0 });
  });

  it('a reader whose promise rejects has gone: it is dropped and never handed lines again', async () => {
    const watcher: PacedWatcher = { pos: 16, busy: false };
    const { calls, ready } = counters();
    await new Promise<void>((resolve) => deliverPaced(watcher, { deliver: () => Promise.reject(new Error('socket closed')) }, lines, ready, () => {
      calls.gone++;
      resolve();
    }));
    assert.equal(watcher.busy, true, 'stays busy, so a reader that has not dropped it yet skips it');
    assert.deepEqual(calls, { ready: 0, gone: 1 });
  });
});

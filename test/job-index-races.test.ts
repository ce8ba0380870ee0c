// The job index against a job being made at the same moment: a folder read before its spec.json
// lands gives an owner-less placeholder, and neither a status refresh nor the folder reconcile may
// put that over the creator's entry, or drop a job made while the folders were read. (Two starts
// under one Idempotency-Key through two fronts hid a job from its owner this way: the second start
// read the half-made folder while the first wrote it.) The interleavings are forced, not hoped for:
// the fs calls the index makes are wrapped to let the creator act at the worst moment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { newJobId } from '../src/jobs/ids.js';
import { jobPaths } from '../src/jobs/layout.js';
import type { JobSpecRecord } from '../src/jobs/records.js';
import { StatusReader } from '../src/jobs/status-reader.js';
import { LowdbJobIndex, summaryFromSpec, type IndexEntry } from '../src/jobs/store.js';
import { tempDir } from './support/helpers.js';

async function index(t: TestContext) {
  const dataDir = tempDir();
  const jobsDir = path.join(dataDir, 'jobs');
  fs.mkdirSync(jobsDir);
  const { store } = await LowdbJobIndex.open(dataDir, jobsDir);
  t.after(async () => {
    await store.flush().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const reader = new StatusReader({ jobsDir, store, killGraceMs: 1000, log: pino({ level: 'silent' }), isLaunching: () => false, onEnded: () => {} });
  return { jobsDir, store, reader };
}

function specFor(jobId: string): JobSpecRecord {
  return {
    version: 1, jobId, owner: 'token:alice', createdAt: Date.now(), cwd: '/work', permissionMode: 'default', promptBytes: 5,
    claudeBin: 'claude', args: [], timeoutMs: 60_000, killGraceMs: 1000, resultWatchdogMs: 1000, maxLogBytes: 1 << 20,
  };
}

/** The launcher's half: the folder first, spec.json a moment later. */
function makeFolder(jobsDir: string, jobId: string): void {
  fs.mkdirSync(jobPaths(jobsDir, jobId).dir, { mode: 0o700 });
}

/** The creator's second half: spec.json lands and its entry is put, as LocalBackend.create does. */
function finishCreating(jobsDir: string, store: LowdbJobIndex, jobId: string): IndexEntry {
  const spec = specFor(jobId);
  fs.writeFileSync(jobPaths(jobsDir, jobId).spec, JSON.stringify(spec));
  const entry = summaryFromSpec(spec, 'queued');
  store.put(entry);
  return entry;
}

const placeholderOf = (jobId: string): IndexEntry => ({ jobId, status: 'unknown', statusReason: 'spec.json is missing or unreadable', owner: '', cwd: '', createdAt: 0 });

/** Runs `fn` with one fs.promises method wrapped; the original is back whatever happens. */
async function withWrapped<K extends 'readFile' | 'readdir'>(name: K, wrap: (original: (typeof fs.promises)[K]) => (typeof fs.promises)[K], fn: () => Promise<void>) {
  const original = fs.promises[name];
  fs.promises[name] = wrap(original.bind(fs.promises) as (typeof fs.promises)[K]);
  try {
    await fn();
  } finally {
    fs.promises[name] = original;
  }
}

describe('the job index while a job is being made', () => {
  it('a refresh begun from a placeholder gives, and keeps, the creator\'s entry', async (t) => {
    const { jobsDir, store, reader } = await index(t);
    const jobId = newJobId();
    makeFolder(jobsDir, jobId);
    const real = finishCreating(jobsDir, store, jobId);
    // The reader found the folder before its spec; the creator's entry landed while it looked.
    const { entry } = await reader.inspect(placeholderOf(jobId));
    assert.equal(entry.owner, 'token:alice');
    assert.equal(entry.createdAt, real.createdAt);
    assert.equal(store.get(jobId)?.owner, 'token:alice', 'the index still holds the creator\'s entry');
  });

  it('a refresh that read the folder before spec.json landed does not put its placeholder over the creator\'s entry', async (t) => {
    const { jobsDir, store, reader } = await index(t);
    const jobId = newJobId();
    makeFolder(jobsDir, jobId);
    const spec = jobPaths(jobsDir, jobId).spec;
    let creatorActed = false;
    let inspected: IndexEntry | undefined;
    await withWrapped('readFile', (readFile) => (async (file: fs.PathLike | fs.promises.FileHandle, ...rest: unknown[]) => {
      try {
        return await (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
      } finally {
        // The refresh just found no spec.json; now the creator finishes, before the refresh writes.
        if (file === spec && !creatorActed) {
          creatorActed = true;
          finishCreating(jobsDir, store, jobId);
        }
      }
    }) as typeof fs.promises.readFile, async () => {
      inspected = (await reader.inspect(placeholderOf(jobId))).entry;
    });
    assert.ok(creatorActed, 'the refresh read the half-made folder');
    assert.equal(inspected?.owner, '', 'the refresh itself saw the half-made folder');
    assert.equal(store.get(jobId)?.owner, 'token:alice', 'the index kept the creator\'s entry');
    assert.equal((await reader.inspect(store.get(jobId)!)).entry.owner, 'token:alice');
  });

  it('a placeholder in the index becomes the real entry once spec.json is there', async (t) => {
    const { jobsDir, store, reader } = await index(t);
    const jobId = newJobId();
    makeFolder(jobsDir, jobId);
    await store.reconcile();
    assert.equal(store.get(jobId)?.owner, '', 'a folder without a spec is listed as a placeholder');
    // Another process (stdio beside HTTP) finishes the job: only its spec.json says whose it is.
    fs.writeFileSync(jobPaths(jobsDir, jobId).spec, JSON.stringify(specFor(jobId)));
    const { entry } = await reader.inspect(store.get(jobId)!);
    assert.equal(entry.owner, 'token:alice');
    assert.equal(store.get(jobId)?.owner, 'token:alice');
    assert.equal((await reader.find(jobId))?.owner, 'token:alice');
  });

  it('a broken folder stays a placeholder, never anyone\'s job', async (t) => {
    const { jobsDir, store, reader } = await index(t);
    const jobId = newJobId();
    makeFolder(jobsDir, jobId);
    await store.reconcile();
    const { entry } = await reader.inspect(store.get(jobId)!);
    assert.equal(entry.owner, '');
    assert.equal(entry.status, 'unknown');
  });

  it('the reconcile does not put a placeholder over an entry put while it read the folder', async (t) => {
    const { jobsDir, store } = await index(t);
    const jobId = newJobId();
    makeFolder(jobsDir, jobId);
    const spec = jobPaths(jobsDir, jobId).spec;
    let creatorActed = false;
    await withWrapped('readFile', (readFile) => (async (file: fs.PathLike | fs.promises.FileHandle, ...rest: unknown[]) => {
      try {
        return await (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
      } finally {
        // The spec read just failed (not written yet); now the creator finishes.
        if (file === spec && !creatorActed) {
          creatorActed = true;
          finishCreating(jobsDir, store, jobId);
        }
      }
    }) as typeof fs.promises.readFile, () => store.reconcile());
    assert.ok(creatorActed, 'the reconcile read the half-made folder');
    assert.equal(store.get(jobId)?.owner, 'token:alice');
  });

  it('the reconcile does not drop a job made while it listed the folders', async (t) => {
    const { jobsDir, store } = await index(t);
    const jobId = newJobId();
    let made = false;
    await withWrapped('readdir', (readdir) => (async (...args: unknown[]) => {
      const names = await (readdir as (...a: unknown[]) => Promise<unknown>)(...args);
      // Listed already; the job is made before the list is used.
      if (!made) {
        made = true;
        makeFolder(jobsDir, jobId);
        finishCreating(jobsDir, store, jobId);
      }
      return names;
    }) as typeof fs.promises.readdir, () => store.reconcile());
    assert.ok(made);
    assert.equal(store.get(jobId)?.owner, 'token:alice', 'the new job is still indexed');
    await store.reconcile();
    assert.equal(store.get(jobId)?.owner, 'token:alice', 'and the next reconcile finds its folder');
  });
});

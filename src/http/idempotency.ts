// Idempotency-Key for POST /v1/jobs: a client that retries a start (after a timeout, or after the
// server crashed mid-request) must not get a second job. Keys live on disk for 24 h, one small file
// per (owner, key) under $CLAUDE_ASYNC_DATA_DIR/idempotency, so they survive a kill -9 and are shared
// by every server on the data dir. The job id is chosen and written down *before* the job is
// created: a retry after a crash at any point finds that id and either returns the job (it was
// created) or creates it under that same id (it was not), so there is never a second job.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../files/atomic.js';
import { StorageError } from '../jobs/errors.js';
import { newJobId } from '../jobs/ids.js';
import { HttpProblem } from './problem.js';

/** 1-200 printable ASCII characters (the IETF draft leaves the format to the server). */
const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;

const SWEEP_EVERY_MS = 3_600_000;

export interface IdempotencyOptions {
  /** Where keys are kept; without it they live in memory only (lost on restart). */
  dir?: string;
  ttlMs?: number;
  now?: () => number;
}

/** How a started job is found again when the first attempt may or may not have created it. */
export interface IdempotentStarts<T> {
  /** Creates the job under this id (chosen before, and written down). */
  create(jobId: string): Promise<T>;
  /** The answer for a job already created under this id, or null if it was never made. */
  existing(jobId: string): Promise<T | null>;
}

/**
 * Runs a start once per (owner, Idempotency-Key). Injected into the REST router (RestOptions.starts,
 * AppDeps.idempotency) so servers sharing work (issue #17) can keep keys in one shared store.
 */
export interface IdempotencyStore<T> {
  /** See IdempotencyCache.run: the same answer for a repeat, 422 for a reused key with another body. */
  run(owner: string, key: string, body: unknown, starts: IdempotentStarts<T>): { result: Promise<T>; replayed: Promise<boolean> };
}

interface KeyRecord<T> {
  bodyHash: string;
  jobId: string;
  createdAt: number;
  /** The first answer, once the job exists. */
  result?: T;
}

export class IdempotencyCache<T> implements IdempotencyStore<T> {
  /** Starts in flight in this process: concurrent requests with one key share a single start. */
  private readonly inFlight = new Map<string, { bodyHash: string; result: Promise<T> }>();
  private readonly memory = new Map<string, KeyRecord<T>>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(private readonly options: IdempotencyOptions = {}) {
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs a start once per (owner, key). A repeat with the same body gets the first job
   * (replayed: true); a repeat with another body is a client bug and gets 422. A failed start is
   * forgotten, so a retry after e.g. 429 can succeed.
   */
  run(owner: string, key: string, body: unknown, starts: IdempotentStarts<T>): { result: Promise<T>; replayed: Promise<boolean> } {
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new HttpProblem(400, 'invalid-input', 'Invalid input', 'Idempotency-Key: use 1-200 printable ASCII characters, e.g. a UUID', { field: 'Idempotency-Key', errors: [{ field: 'Idempotency-Key', message: '1-200 printable ASCII characters' }] });
    }
    const id = createHash('sha256').update(`${owner}\0${key}`).digest('hex');
    const bodyHash = createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex');
    const flying = this.inFlight.get(id);
    if (flying) {
      if (flying.bodyHash !== bodyHash) throw reused();
      return { result: flying.result, replayed: Promise.resolve(true) };
    }
    let replayed = false;
    const result = this.runOnce(id, bodyHash, starts, () => (replayed = true));
    this.inFlight.set(id, { bodyHash, result });
    const settled = result.finally(() => this.inFlight.delete(id));
    settled.catch(() => {});
    this.sweepSometimes();
    return { result, replayed: result.then(() => replayed, () => false) };
  }

  private async runOnce(id: string, bodyHash: string, starts: IdempotentStarts<T>, markReplayed: () => void): Promise<T> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await this.read(id);
      if (found && found.createdAt + this.ttlMs > this.now()) {
        if (found.bodyHash !== bodyHash) throw reused();
        markReplayed();
        if (found.result) return found.result;
        // Written down, then the server died (or another server is creating it right now).
        const existing = await starts.existing(found.jobId);
        if (existing) return existing;
        return this.createUnder(id, found, starts);
      }
      if (found) await this.remove(id);
      const record: KeyRecord<T> = { bodyHash, jobId: newJobId(), createdAt: this.now() };
      if (await this.createExclusive(id, record)) return this.createUnder(id, record, starts);
      // Another server wrote this key a moment ago: read it again.
    }
    throw new StorageError('Could not record the Idempotency-Key; try again.');
  }

  private async createUnder(id: string, record: KeyRecord<T>, starts: IdempotentStarts<T>): Promise<T> {
    let result: T;
    try {
      result = await starts.create(record.jobId);
    } catch (error) {
      // Maybe a concurrent attempt (another server) created it under this id first.
      const existing = await starts.existing(record.jobId).catch(() => null);
      if (existing) return existing;
      await this.remove(id);
      throw error;
    }
    await this.write(id, { ...record, result }).catch(() => {
      // The job exists under the recorded id; a retry finds it through `existing`.
    });
    return result;
  }

  private file(id: string): string | undefined {
    return this.options.dir ? path.join(this.options.dir, `${id}.json`) : undefined;
  }

  private async read(id: string): Promise<KeyRecord<T> | null> {
    const file = this.file(id);
    if (!file) return this.memory.get(id) ?? null;
    try {
      return JSON.parse(await fs.promises.readFile(file, 'utf8')) as KeyRecord<T>;
    } catch {
      return null; // absent, or cut short by a crash: the key is free
    }
  }

  private async createExclusive(id: string, record: KeyRecord<T>): Promise<boolean> {
    const file = this.file(id);
    if (!file) {
      if (this.memory.has(id)) return false;
      this.memory.set(id, record);
      return true;
    }
    try {
      await fs.promises.mkdir(this.options.dir!, { recursive: true, mode: 0o700 });
      await fs.promises.writeFile(file, JSON.stringify(record), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      await fs.promises.rm(file, { force: true }).catch(() => {});
      throw new StorageError(`Could not record the Idempotency-Key on disk (${code ?? 'error'}): check that the data folder is writable and has space.`);
    }
  }

  private async write(id: string, record: KeyRecord<T>): Promise<void> {
    const file = this.file(id);
    if (!file) {
      this.memory.set(id, record);
      return;
    }
    await writeFileAtomic(file, JSON.stringify(record));
  }

  private async remove(id: string): Promise<void> {
    const file = this.file(id);
    if (!file) this.memory.delete(id);
    else await fs.promises.rm(file, { force: true }).catch(() => {});
  }

  /** Forgets keys past their age, at most once an hour, off the request path. */
  private sweepSometimes(): void {
    const now = this.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    const cutoff = now - this.ttlMs;
    if (!this.options.dir) {
      for (const [id, record] of this.memory) if (record.createdAt < cutoff) this.memory.delete(id);
      return;
    }
    const dir = this.options.dir;
    void (async () => {
      for (const name of await fs.promises.readdir(dir).catch(() => [] as string[])) {
        if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
        const file = path.join(dir, name);
        const stat = await fs.promises.stat(file).catch(() => null);
        if (stat && stat.mtimeMs < cutoff) await fs.promises.rm(file, { force: true }).catch(() => {});
      }
    })();
  }
}

function reused(): HttpProblem {
  return new HttpProblem(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was already used with a different request body; use a new key for a new job.');
}

// Idempotency-Key for POST /v1/jobs: a client that retries a start (after a timeout, or after the
// server crashed mid-request) must not get a second job. Keys live on disk for 24 h, one small file
// per (owner, key) under $CLAUDE_ASYNC_DATA_DIR/idempotency, so they survive a kill -9 and are shared
// by every server on the data dir. The job id is chosen and written down *before* the job is
// created: a retry after a crash at any point finds that id and either returns the job (it was
// created) or creates it under that same id (it was not), so there is never a second job.
import { createHash } from 'node:crypto';
import { JobConflict, StorageError } from '../jobs/errors.js';
import { newJobId } from '../jobs/ids.js';
import { FileIdempotencyRecords, MemoryIdempotencyRecords, type IdempotencyRecord, type IdempotencyRecords } from './idempotency-records.js';
import { HttpProblem } from './problem.js';

/** 1-200 printable ASCII characters (the IETF draft leaves the format to the server). */
const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;

const SWEEP_EVERY_MS = 3_600_000;
/**
 * How long a start waits for another attempt under the same key to finish creating the job. The
 * wait ends as soon as the job is there; only an attempt that died half-way (a folder without its
 * spec) waits it out. Long on purpose: giving up early answers 409 for a job that is about to exist,
 * while waiting long costs time only on that rare crash path, and stays inside a client's minute.
 */
const CONCURRENT_CREATE_WAIT_MS = 30_000;

export interface IdempotencyOptions {
  /** Where keys are kept; without it they live in memory only (lost on restart). */
  dir?: string;
  /** Another store for the keys (Redis, shared by fronts); wins over dir. */
  records?: IdempotencyRecords;
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
 * Runs a start once per (owner, Idempotency-Key). One logic for every store: where the records are
 * kept (files, memory, Redis shared by fronts) is the one seam, IdempotencyOptions.records
 * (AppDeps.idempotencyRecords).
 */
export class IdempotencyCache<T> {
  /** Starts in flight in this process: concurrent requests with one key share a single start. */
  private readonly inFlight = new Map<string, { bodyHash: string; result: Promise<T> }>();
  private readonly records: IdempotencyRecords;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(options: IdempotencyOptions = {}) {
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.now = options.now ?? Date.now;
    this.records = options.records ?? (options.dir ? new FileIdempotencyRecords(options.dir) : new MemoryIdempotencyRecords());
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
      const found = await this.records.read(id);
      if (found && found.createdAt + this.ttlMs > this.now()) {
        if (found.bodyHash !== bodyHash) throw reused();
        markReplayed();
        if (found.result) return found.result as T;
        // Written down, then the server died (or another server is creating it right now).
        const existing = await starts.existing(found.jobId);
        if (existing) return existing;
        return this.createUnder(id, found, starts);
      }
      if (found) await this.records.remove(id);
      const record: IdempotencyRecord = { bodyHash, jobId: newJobId(), createdAt: this.now() };
      if (await this.records.createExclusive(id, record, this.ttlMs)) return this.createUnder(id, record, starts);
      // Another server wrote this key a moment ago: read it again.
    }
    throw new StorageError('Could not record the Idempotency-Key; try again.');
  }

  private async createUnder(id: string, record: IdempotencyRecord, starts: IdempotentStarts<T>): Promise<T> {
    let result: T;
    try {
      result = await starts.create(record.jobId);
    } catch (error) {
      // Maybe a concurrent attempt (another server) created it under this id first, or is creating
      // it right now (its folder exists, its spec not yet): give that attempt a moment to finish.
      const existing = error instanceof JobConflict ? await this.awaitExisting(record.jobId, starts) : await starts.existing(record.jobId).catch(() => null);
      if (existing) return existing;
      // If this fails too, a retry finds the record, no job under its id, and creates it.
      await this.records.remove(id).catch(() => {});
      throw error;
    }
    await this.records.write(id, { ...record, result }).catch(() => {
      // The job exists under the recorded id; a retry finds it through `existing`.
    });
    return result;
  }

  /** Asks for a job another attempt is creating until it exists (null if it never appears). */
  private async awaitExisting(jobId: string, starts: IdempotentStarts<T>): Promise<T | null> {
    const deadline = Date.now() + CONCURRENT_CREATE_WAIT_MS; // real time: tests may freeze this.now
    for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 250)) {
      const existing = await starts.existing(jobId).catch(() => null);
      if (existing || Date.now() >= deadline) return existing;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** Forgets keys past their age, at most once an hour, off the request path. */
  private sweepSometimes(): void {
    const now = this.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    void this.records.sweep(now - this.ttlMs).catch(() => {});
  }
}

function reused(): HttpProblem {
  return new HttpProblem(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was already used with a different request body; use a new key for a new job.');
}

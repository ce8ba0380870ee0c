// Idempotency-Key for POST /v1/jobs: a client that retries a start after a timeout must not get a
// second job. Kept in memory (lost on restart), bounded by count and age. The promise is stored,
// not the result, so two concurrent requests with one key share a single start.
import { createHash } from 'node:crypto';
import { HttpProblem } from './problem.js';

/** 1-200 printable ASCII characters (the IETF draft leaves the format to the server). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;

export interface IdempotencyOptions {
  maxEntries?: number;
  ttlMs?: number;
  now?: () => number;
}

interface Entry<T> {
  bodyHash: string;
  result: Promise<T>;
  expiresAt: number;
}

export class IdempotencyCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: IdempotencyOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Runs `create` once per (owner, key). A repeat with the same body gets the first answer
   * (replayed: true); a repeat with another body is a client bug and gets 422. A failed start is
   * forgotten, so a retry after e.g. 429 can succeed.
   */
  run(owner: string, key: string, body: unknown, create: () => Promise<T>): { result: Promise<T>; replayed: boolean } {
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new HttpProblem(400, 'invalid-input', 'Invalid input', 'Idempotency-Key: use 1-200 printable ASCII characters, e.g. a UUID', { field: 'Idempotency-Key', errors: [{ field: 'Idempotency-Key', message: '1-200 printable ASCII characters' }] });
    }
    const id = `${owner}\0${key}`;
    const bodyHash = createHash('sha256').update(JSON.stringify(body ?? null)).digest('hex');
    const found = this.entries.get(id);
    if (found && found.expiresAt > this.now()) {
      if (found.bodyHash !== bodyHash) {
        throw new HttpProblem(422, 'idempotency-key-reused', 'Idempotency key reused', 'This Idempotency-Key was already used with a different request body; use a new key for a new job.');
      }
      return { result: found.result, replayed: true };
    }
    this.entries.delete(id);
    this.evict();
    const entry: Entry<T> = { bodyHash, result: create(), expiresAt: this.now() + this.ttlMs };
    this.entries.set(id, entry);
    entry.result.catch(() => {
      if (this.entries.get(id) === entry) this.entries.delete(id);
    });
    return { result: entry.result, replayed: false };
  }

  get size(): number {
    return this.entries.size;
  }

  // Map order is insertion order and every entry lives equally long, so the oldest are first.
  private evict(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now && this.entries.size < this.maxEntries) break;
      this.entries.delete(id);
    }
  }
}

// Where Idempotency-Key records are written down. IdempotencyCache (idempotency.ts) decides what a
// key means; a store only keeps records: in a folder (one small file per key, survives kill -9, shared
// by every server on the data dir), in memory (tests, no data dir), or in Redis
// (src/scale/idempotency-records.ts, shared by fronts on several hosts).
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../jobs/atomic.js';
import { StorageError } from '../jobs/errors.js';

export interface IdempotencyRecord {
  bodyHash: string;
  jobId: string;
  createdAt: number;
  /** The first answer, once the job exists. */
  result?: unknown;
}

export interface IdempotencyRecords {
  /** The record for this key id, or null when there is none. Must throw when it cannot tell. */
  read(id: string): Promise<IdempotencyRecord | null>;
  /** Writes the record only if the id has none; false when one exists. ttlMs: how long to keep it. */
  createExclusive(id: string, record: IdempotencyRecord, ttlMs: number): Promise<boolean>;
  /** Replaces the record of an id this store holds (adds the first answer). */
  write(id: string, record: IdempotencyRecord): Promise<void>;
  remove(id: string): Promise<void>;
  /** Forgets records created before cutoff (ms); stores that expire records themselves do nothing. */
  sweep(cutoff: number): Promise<void>;
}

export class MemoryIdempotencyRecords implements IdempotencyRecords {
  private readonly records = new Map<string, IdempotencyRecord>();

  async read(id: string): Promise<IdempotencyRecord | null> {
    return this.records.get(id) ?? null;
  }

  async createExclusive(id: string, record: IdempotencyRecord): Promise<boolean> {
    if (this.records.has(id)) return false;
    this.records.set(id, record);
    return true;
  }

  async write(id: string, record: IdempotencyRecord): Promise<void> {
    this.records.set(id, record);
  }

  async remove(id: string): Promise<void> {
    this.records.delete(id);
  }

  async sweep(cutoff: number): Promise<void> {
    for (const [id, record] of this.records) if (record.createdAt < cutoff) this.records.delete(id);
  }
}

export class FileIdempotencyRecords implements IdempotencyRecords {
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  async read(id: string): Promise<IdempotencyRecord | null> {
    try {
      return JSON.parse(await fs.promises.readFile(this.file(id), 'utf8')) as IdempotencyRecord;
    } catch {
      return null; // absent, or cut short by a crash: the key is free
    }
  }

  async createExclusive(id: string, record: IdempotencyRecord): Promise<boolean> {
    const file = this.file(id);
    try {
      await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await fs.promises.writeFile(file, JSON.stringify(record), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      await fs.promises.rm(file, { force: true }).catch(() => {});
      throw new StorageError(`Could not record the Idempotency-Key on disk (${code ?? 'error'}): check that the data folder is writable and has space.`);
    }
  }

  async write(id: string, record: IdempotencyRecord): Promise<void> {
    await writeFileAtomic(this.file(id), JSON.stringify(record));
  }

  async remove(id: string): Promise<void> {
    await fs.promises.rm(this.file(id), { force: true }).catch(() => {});
  }

  async sweep(cutoff: number): Promise<void> {
    for (const name of await fs.promises.readdir(this.dir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      const file = path.join(this.dir, name);
      const stat = await fs.promises.stat(file).catch(() => null);
      if (stat && stat.mtimeMs < cutoff) await fs.promises.rm(file, { force: true }).catch(() => {});
    }
  }
}

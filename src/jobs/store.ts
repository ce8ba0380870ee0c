// The lowdb index of jobs (db.json): owner, title and last known status of every job, so listing
// 10,000 jobs reads memory, not 10,000 folders. The folders stay the truth: the index is rebuilt
// from them when db.json is missing, unreadable or stale, and writes are batched because losing
// the last second of index updates costs nothing but a rescan.
import fs from 'node:fs';
import path from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { isJobId } from './ids.js';
import { jobPaths } from './layout.js';
import type { ExitRecord, JobSpecRecord } from './records.js';
import { ENDED_STATUSES, jobSummarySchema, type JobStatus, type JobSummary } from './schemas.js';
import { statusFromExit } from './status.js';

export type IndexEntry = JobSummary;

interface IndexData {
  version: 1;
  jobs: Record<string, IndexEntry>;
}

export interface JobIndexStore {
  get(jobId: string): IndexEntry | undefined;
  put(entry: IndexEntry): void;
  delete(jobId: string): void;
  /** Newest first, starting after `cursor`, keeping entries that pass `keep`. */
  page(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): { entries: IndexEntry[]; nextCursor?: string };
  /** Jobs not known to have ended, oldest first. */
  unended(): IndexEntry[];
  size(): number;
  /** Picks up folders another process created or removed since we last looked. */
  refreshIfStale(): Promise<void>;
  flush(): Promise<void>;
}

export interface OpenIndexResult {
  store: LowdbJobIndex;
  warnings: string[];
}

// lowdb rewrites the whole file: with 10,000 jobs that is ~17 ms of JSON.stringify on the event
// loop. Batching for 2 s keeps that off most requests; a crash loses nothing the folders don't hold.
const WRITE_DELAY_MS = 2000;
const REBUILD_BATCH = 64;

export class LowdbJobIndex implements JobIndexStore {
  /** Job ids in ascending (creation) order: pages walk it backwards. */
  private ids: string[] = [];
  /** Ids of jobs not known to have ended: the dispatcher's working set, kept so it never scans all jobs. */
  private readonly unendedIds = new Set<string>();
  private writeTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private seenDirMtimeMs = -1;

  private constructor(private readonly db: Low<IndexData>, private readonly jobsDir: string) {}

  static async open(dataDir: string, jobsDir: string): Promise<OpenIndexResult> {
    const warnings: string[] = [];
    const file = path.join(dataDir, 'db.json');
    const db = new Low<IndexData>(new JSONFile<IndexData>(file), { version: 1, jobs: {} });
    try {
      await db.read();
      if (db.data?.version !== 1 || typeof db.data.jobs !== 'object' || db.data.jobs === null) throw new Error('unexpected shape');
    } catch (error) {
      warnings.push(`the job index ${file} was unreadable (${(error as Error).message}); rebuilding it from the job folders`);
      db.data = { version: 1, jobs: {} };
    }
    // A readable file can still hold entries that are not entries (a hand edit, another version):
    // drop them, so reconcile rebuilds those jobs from their folders instead of listing garbage.
    let dropped = 0;
    for (const [jobId, entry] of Object.entries(db.data.jobs)) {
      if (!isJobId(jobId) || !isIndexEntry(jobId, entry)) {
        delete db.data.jobs[jobId];
        dropped++;
      }
    }
    if (dropped) warnings.push(`${dropped} malformed entries of the job index ${file} were dropped; rebuilding them from the job folders`);
    const store = new LowdbJobIndex(db, jobsDir);
    store.ids = Object.keys(db.data.jobs).sort();
    for (const id of store.ids) if (!ENDED_STATUSES.has(db.data.jobs[id]!.status)) store.unendedIds.add(id);
    await store.reconcile();
    await store.flush();
    return { store, warnings };
  }

  get(jobId: string): IndexEntry | undefined {
    return this.db.data.jobs[jobId];
  }

  put(entry: IndexEntry): void {
    if (!this.db.data.jobs[entry.jobId]) insertSorted(this.ids, entry.jobId);
    this.db.data.jobs[entry.jobId] = entry;
    if (ENDED_STATUSES.has(entry.status)) this.unendedIds.delete(entry.jobId);
    else this.unendedIds.add(entry.jobId);
    this.scheduleWrite();
  }

  delete(jobId: string): void {
    if (!this.db.data.jobs[jobId]) return;
    delete this.db.data.jobs[jobId];
    this.unendedIds.delete(jobId);
    const at = binarySearch(this.ids, jobId);
    if (at >= 0) this.ids.splice(at, 1);
    this.scheduleWrite();
  }

  page(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean) {
    const entries: IndexEntry[] = [];
    let i = cursor === undefined ? this.ids.length - 1 : lowerBound(this.ids, cursor) - 1;
    for (; i >= 0 && entries.length < limit; i--) {
      const entry = this.db.data.jobs[this.ids[i]!];
      if (entry && keep(entry)) entries.push(entry);
    }
    // Only promise a next page when one exists, so clients need not fetch an empty one.
    let more = false;
    for (; i >= 0 && !more; i--) {
      const entry = this.db.data.jobs[this.ids[i]!];
      more = entry !== undefined && keep(entry);
    }
    return more ? { entries, nextCursor: entries[entries.length - 1]!.jobId } : { entries };
  }

  unended(): IndexEntry[] {
    return [...this.unendedIds].sort().map((id) => this.db.data.jobs[id]!);
  }

  size(): number {
    return this.ids.length;
  }

  async refreshIfStale(): Promise<void> {
    const mtimeMs = await dirMtime(this.jobsDir);
    if (mtimeMs !== this.seenDirMtimeMs) await this.reconcile();
  }

  /** Makes the index agree with the folders: adds jobs it lacks, drops jobs whose folder is gone. */
  async reconcile(): Promise<void> {
    const mtimeMs = await dirMtime(this.jobsDir);
    let names: string[];
    try {
      names = await fs.promises.readdir(this.jobsDir);
    } catch {
      names = [];
    }
    const onDisk = new Set(names.filter(isJobId));
    let changed = false;
    for (const jobId of [...this.ids]) {
      if (!onDisk.has(jobId)) {
        this.delete(jobId);
        changed = true;
      }
    }
    const missing = [...onDisk].filter((jobId) => !this.db.data.jobs[jobId]);
    // Read folders in parallel batches: a rebuild of 10,000 jobs should not be 10,000 round trips.
    for (let i = 0; i < missing.length; i += REBUILD_BATCH) {
      const entries = await Promise.all(missing.slice(i, i + REBUILD_BATCH).map((jobId) => entryFromFolder(this.jobsDir, jobId)));
      for (const entry of entries) {
        if (!entry) continue;
        this.put(entry);
        changed = true;
      }
    }
    this.seenDirMtimeMs = mtimeMs;
    if (changed) this.scheduleWrite();
  }

  async flush(): Promise<void> {
    if (this.writeTimer) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      this.writing = this.writing.then(() => this.db.write());
    }
    await this.writing;
  }

  private scheduleWrite(): void {
    if (this.writeTimer) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      this.writing = this.writing.then(() => this.db.write()).catch(() => {});
    }, WRITE_DELAY_MS);
    this.writeTimer.unref();
  }
}

function isIndexEntry(jobId: string, entry: unknown): entry is IndexEntry {
  const parsed = jobSummarySchema.safeParse(entry);
  return parsed.success && parsed.data.jobId === jobId;
}

async function dirMtime(dir: string): Promise<number> {
  try {
    return (await fs.promises.stat(dir)).mtimeMs;
  } catch {
    return -1;
  }
}

/** Rebuilds one index entry from a job folder (spec.json, and exit.json if it has ended). */
export async function entryFromFolder(jobsDir: string, jobId: string): Promise<IndexEntry | null> {
  const paths = jobPaths(jobsDir, jobId);
  let spec: JobSpecRecord;
  try {
    spec = JSON.parse(await fs.promises.readFile(paths.spec, 'utf8')) as JobSpecRecord;
  } catch {
    // A folder without a readable spec is still listed, so it can be seen and removed.
    return { jobId, status: 'unknown', statusReason: 'spec.json is missing or unreadable', owner: '', cwd: '', createdAt: 0 };
  }
  const entry: IndexEntry = summaryFromSpec(spec, 'queued');
  try {
    const exit = JSON.parse(await fs.promises.readFile(paths.exit, 'utf8')) as ExitRecord;
    const derived = statusFromExit(exit);
    Object.assign(entry, { status: derived.status, endedAt: exit.endedAt, startedAt: exit.startedAt });
    if (derived.reason) entry.statusReason = derived.reason;
  } catch {
    // not ended (or unreadable): the service derives its live status
  }
  return entry;
}

export function summaryFromSpec(spec: JobSpecRecord, status: JobStatus): IndexEntry {
  const entry: IndexEntry = { jobId: spec.jobId, status, owner: spec.owner, cwd: spec.cwd, createdAt: spec.createdAt };
  if (spec.title) entry.title = spec.title;
  if (spec.model) entry.model = spec.model;
  return entry;
}

function binarySearch(ids: string[], id: string): number {
  const at = lowerBound(ids, id);
  return ids[at] === id ? at : -1;
}

function lowerBound(ids: string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(ids: string[], id: string): void {
  // New ids are almost always the newest: append without a search.
  if (ids.length === 0 || ids[ids.length - 1]! < id) ids.push(id);
  else ids.splice(lowerBound(ids, id), 0, id);
}

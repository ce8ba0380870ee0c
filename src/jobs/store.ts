// The lowdb index of jobs (db.json): owner, title and last known status of every job, so listing
// 10,000 jobs reads memory, not 10,000 folders. The folders stay the truth: the index is rebuilt
// from them when db.json is missing, unreadable or stale, and writes are batched because losing
// the last second of index updates costs nothing but a rescan.
import fs from 'node:fs';
import path from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { writeFileAtomic } from '../files/atomic.js';
import { isJobId } from './ids.js';
import { jobPaths } from './layout.js';
import type { ExitRecord, JobSpecRecord } from './records.js';
import { isEnded, jobSummarySchema, type JobStatus, type JobSummary } from './schemas.js';
import { statusFromExit } from './status.js';

export type IndexEntry = JobSummary;

interface IndexData {
  version: 1;
  jobs: Record<string, IndexEntry>;
}

export interface JobIndexStore {
  get(jobId: string): IndexEntry | undefined;
  /**
   * Adds or replaces the job's entry; an owner-less placeholder (a folder read before its spec.json)
   * never replaces an entry whose owner is known.
   */
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
  /** The same page read from the folders, for the time before the index is complete. */
  pageFromFolders(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): Promise<{ entries: IndexEntry[]; nextCursor?: string }>;
  /** False while the boot rebuild is still reading folders: the index may lack jobs. */
  readonly complete: boolean;
  /** Why the index cannot be written now (a full disk, a read-only file), or undefined. */
  writeProblem(): string | undefined;
}

export interface OpenIndexResult {
  store: LowdbJobIndex;
  warnings: string[];
}

// lowdb rewrites the whole file: with 10,000 jobs that is ~17 ms of JSON.stringify on the event
// loop. Batching for 2 s keeps that off most requests; a crash loses nothing the folders don't hold.
const WRITE_DELAY_MS = 2000;
const REBUILD_BATCH = 64;
/** While the index cannot be written, try again this often: the server recovers by itself. */
const WRITE_RETRY_MS = 3000;

/** db.json written atomically with mode 0600 whatever the umask (lowdb's own adapter uses 0644). */
class PrivateIndexFile implements Adapter<IndexData> {
  constructor(private readonly file: string) {}

  async read(): Promise<IndexData | null> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return JSON.parse(text) as IndexData;
  }

  async write(data: IndexData): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(data));
  }
}

export class LowdbJobIndex implements JobIndexStore {
  /** Job ids in ascending (creation) order: pages walk it backwards. */
  private ids: string[] = [];
  /** Ids of jobs not known to have ended: the dispatcher's working set, kept so it never scans all jobs. */
  private readonly unendedIds = new Set<string>();
  private writeTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private seenDirMtimeMs = -1;
  private writeError: NodeJS.ErrnoException | undefined;
  private rebuilt = false;

  private constructor(private readonly db: Low<IndexData>, private readonly jobsDir: string, readonly file: string) {}

  /**
   * Reads db.json only: cheap, so the server can listen at once. The folders are read afterwards by
   * `reconcile()` (in the background); until it is done `complete` is false.
   */
  static async open(dataDir: string, jobsDir: string): Promise<OpenIndexResult> {
    const warnings: string[] = [];
    const file = path.join(dataDir, 'db.json');
    const db = new Low<IndexData>(new PrivateIndexFile(file), { version: 1, jobs: {} });
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
    const store = new LowdbJobIndex(db, jobsDir, file);
    store.ids = Object.keys(db.data.jobs).sort();
    for (const id of store.ids) if (!isEnded(db.data.jobs[id]!.status)) store.unendedIds.add(id);
    return { store, warnings };
  }

  get complete(): boolean {
    return this.rebuilt;
  }

  writeProblem(): string | undefined {
    const error = this.writeError;
    if (!error) return undefined;
    const code = error.code ?? error.message;
    const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : `${code}`;
    return `the job index ${this.file} cannot be written (${why})`;
  }

  /** Reads the folders the index lacks, in batches that let requests through; then the index is complete. */
  async rebuild(shouldStop: () => boolean = () => false): Promise<void> {
    await this.reconcile(shouldStop);
    if (shouldStop()) return;
    this.rebuilt = true;
    // Written once at boot whatever changed: it proves (or disproves) that the index is writable.
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.writing = this.writing.catch(() => {}).then(() => this.write());
    await this.writing.catch(() => {});
  }

  get(jobId: string): IndexEntry | undefined {
    return this.db.data.jobs[jobId];
  }

  put(entry: IndexEntry): void {
    const known = this.db.data.jobs[entry.jobId];
    // Whoever read the folder before spec.json landed (a refresh, a rescan, another front) may put
    // its placeholder after the creator put the real entry: the real one stays (a job was once
    // hidden from its owner for good that way).
    if (entry.owner === '' && known && known.owner !== '') return;
    if (!known) insertSorted(this.ids, entry.jobId);
    this.db.data.jobs[entry.jobId] = entry;
    if (isEnded(entry.status)) this.unendedIds.delete(entry.jobId);
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
    if (!this.rebuilt) return; // the boot rebuild is reading the folders already
    const mtimeMs = await dirMtime(this.jobsDir);
    if (mtimeMs !== this.seenDirMtimeMs) await this.reconcile();
  }

  /**
   * A page read straight from the folders, newest first: the answer while the boot rebuild has not
   * read them all yet. Costs one spec read per job looked at.
   */
  async pageFromFolders(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): Promise<{ entries: IndexEntry[]; nextCursor?: string }> {
    let names: string[];
    try {
      names = (await fs.promises.readdir(this.jobsDir)).filter(isJobId).sort();
    } catch {
      names = [];
    }
    const entries: IndexEntry[] = [];
    let i = cursor === undefined ? names.length - 1 : lowerBound(names, cursor) - 1;
    let more = false;
    for (; i >= 0 && !more; i -= REBUILD_BATCH) {
      const batch = names.slice(Math.max(0, i - REBUILD_BATCH + 1), i + 1).reverse();
      const read = await Promise.all(batch.map(async (jobId) => this.get(jobId) ?? (await entryFromFolder(this.jobsDir, jobId))));
      for (const entry of read) {
        if (!entry || !keep(entry)) continue;
        if (entries.length === limit) {
          more = true;
          break;
        }
        entries.push(entry);
      }
    }
    return more ? { entries, nextCursor: entries[entries.length - 1]!.jobId } : { entries };
  }

  /** Makes the index agree with the folders: adds jobs it lacks, drops jobs whose folder is gone. */
  async reconcile(shouldStop: () => boolean = () => false): Promise<void> {
    // Only jobs indexed before the folders are read may be dropped for a missing folder: one put
    // while readdir ran (a start that made its folder meanwhile) is not in its answer, yet exists.
    const indexedBefore = new Set(this.ids);
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
      if (indexedBefore.has(jobId) && !onDisk.has(jobId)) {
        this.delete(jobId);
        changed = true;
      }
    }
    const missing = [...onDisk].filter((jobId) => !this.db.data.jobs[jobId]);
    // Read folders in parallel batches: a rebuild of 10,000 jobs should not be 10,000 round trips.
    for (let i = 0; i < missing.length && !shouldStop(); i += REBUILD_BATCH) {
      // Let waiting requests run between batches: a boot rebuild must not stall the server.
      if (i > 0) await new Promise((r) => setImmediate(r));
      const entries = await Promise.all(missing.slice(i, i + REBUILD_BATCH).map((jobId) => entryFromFolder(this.jobsDir, jobId)));
      for (const entry of entries) {
        // Only what is still missing: a job put while its folder was read (by its creator) is newer.
        if (!entry || this.db.data.jobs[entry.jobId]) continue;
        this.put(entry);
        changed = true;
      }
    }
    this.seenDirMtimeMs = mtimeMs;
    if (changed) this.scheduleWrite();
  }

  /** Writes now what is pending (or retries a failed write); rejects if the disk refuses. */
  async flush(): Promise<void> {
    if (this.writeTimer || this.writeError) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      this.writing = this.writing.catch(() => {}).then(() => this.write());
    }
    await this.writing;
  }

  private async write(): Promise<void> {
    try {
      await this.db.write();
      this.writeError = undefined;
    } catch (error) {
      this.writeError = error as NodeJS.ErrnoException;
      // Nothing is lost (the folders hold it all); keep trying until the disk takes it again.
      this.scheduleWrite(WRITE_RETRY_MS);
      throw error;
    }
  }

  private scheduleWrite(delayMs = WRITE_DELAY_MS): void {
    if (this.writeTimer) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = undefined;
      this.writing = this.writing.catch(() => {}).then(() => this.write()).catch(() => {});
    }, delayMs);
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
  if (spec.labels?.length) entry.labels = spec.labels;
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

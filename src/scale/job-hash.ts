// A job's hash in Redis: what any front answers from. Written by the front that made the job (spec,
// prompt, the queued entry) and then by the worker that runs it (entry, exit, outputBytes, the open
// questions of a job with approvals), from the job's folder on the worker's disk, which stays the
// truth.
import type { Redis } from 'ioredis';
import type { PendingApproval } from '../approvals/schemas.js';
import type { ExitRecord, JobSpecRecord } from '../jobs/records.js';
import type { IndexEntry } from '../jobs/store.js';
import { keys } from './keys.js';

export interface JobHash {
  spec: JobSpecRecord | null;
  entry: IndexEntry | null;
  exit: ExitRecord | null;
  outputBytes: number;
  /** The worker the job was routed to. */
  worker: string | null;
  /** Who took the job: `worker:<id>` (it launched it) or `cancel` (cancelled before it ran). */
  claimedBy: string | null;
  /** The open questions its worker last saw in the job folder (approvals). */
  pendingApprovals: PendingApproval[];
}

const parse = <T>(text: string | undefined): T | null => {
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
};

export function decodeJobHash(fields: Record<string, string>): JobHash | null {
  if (!fields.entry) return null;
  return {
    spec: parse<JobSpecRecord>(fields.spec),
    entry: parse<IndexEntry>(fields.entry),
    exit: parse<ExitRecord>(fields.exit),
    outputBytes: Number(fields.outputBytes ?? 0) || 0,
    worker: fields.worker ?? null,
    claimedBy: fields.claimedBy ?? null,
    pendingApprovals: parse<PendingApproval[]>(fields.approvals) ?? [],
  };
}

/** The job's hash without its prompt (which can be large and is only for the worker). */
export async function readJobHash(redis: Redis, jobId: string): Promise<JobHash | null> {
  const [spec, entry, exit, outputBytes, worker, claimedBy, approvals] = await redis.hmget(keys.job(jobId), 'spec', 'entry', 'exit', 'outputBytes', 'worker', 'claimedBy', 'approvals');
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries({ spec, entry, exit, outputBytes, worker, claimedBy, approvals })) if (value !== null && value !== undefined) fields[name] = value;
  return decodeJobHash(fields);
}

/** The worker that took the job and runs (or ran) it, or null when none did (queued, cancelled before it ran). */
export function claimingWorker(hash: JobHash): string | null {
  return hash.claimedBy?.startsWith('worker:') ? hash.claimedBy.slice('worker:'.length) : null;
}

/** The entry of a job whose worker vanished while it had not ended. */
export function orphanedEntry(entry: IndexEntry, workerId: string): IndexEntry {
  return {
    ...entry, status: 'orphaned', endedAt: Date.now(),
    statusReason: `the worker ${workerId} that ran it is gone (its heartbeat expired: the host rebooted or it was killed) and no exit was recorded`,
  };
}

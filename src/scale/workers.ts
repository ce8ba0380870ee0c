// The workers' registry in Redis: each worker keeps a heartbeat key with a TTL; a worker whose key
// has expired is gone (its host rebooted, it was killed), and the jobs it held that had not ended
// are marked `orphaned` by whoever notices first (a front or another worker), exactly once, and the
// jobs that still waited in its queue go to another live worker (or fail when none can take them).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { keys } from './keys.js';
import { rerouteQueued } from './reroute.js';
import type { WorkerInfo } from './routing.js';
import { orphanedEntry, readJobHash } from './job-hash.js';

export async function writeHeartbeat(redis: Redis, info: WorkerInfo, ttlMs: number): Promise<void> {
  await redis.multi()
    .set(keys.heartbeat(info.workerId), JSON.stringify(info), 'PX', ttlMs)
    .sadd(keys.workers, info.workerId)
    .del(keys.deadSince(info.workerId))
    .exec();
}

export async function liveWorkers(redis: Redis): Promise<WorkerInfo[]> {
  const ids = await redis.smembers(keys.workers);
  if (ids.length === 0) return [];
  const values = await redis.mget(...ids.map((id) => keys.heartbeat(id)));
  const live: WorkerInfo[] = [];
  for (const value of values) {
    if (!value) continue;
    try {
      live.push(JSON.parse(value) as WorkerInfo);
    } catch {
      // a heartbeat we cannot read is no worker we can route to
    }
  }
  return live;
}

export async function isAlive(redis: Redis, workerId: string): Promise<boolean> {
  return (await redis.exists(keys.heartbeat(workerId))) === 1;
}

export interface Reaped {
  /** Jobs of vanished workers that had not ended, now `orphaned`. */
  orphaned: string[];
  /** Jobs that waited in a vanished worker's queue, now queued for a live worker. */
  moved: Array<{ jobId: string; to: string }>;
  /** Jobs that waited in a vanished worker's queue that no live worker can take, now `failed`. */
  failed: string[];
}

/**
 * For every worker whose heartbeat has expired: marks its unended jobs `orphaned` (in a WATCH/MULTI
 * on its heartbeat, so a worker that comes back meanwhile keeps its jobs), and sends the jobs that
 * still waited in its queue to live workers, or fails them when no live worker can take them
 * (reroute.ts). Fronts and workers all call this; each job is handled once.
 */
export async function reapDeadWorkers(redis: Redis): Promise<Reaped> {
  const reaped: Reaped = { orphaned: [], moved: [], failed: [] };
  const ids = await redis.smembers(keys.workers);
  if (ids.length === 0) return reaped;
  // One cheap round trip to find the dead workers that still hold or queue jobs; only those are looked at closely.
  const probe = redis.pipeline();
  for (const id of ids) {
    probe.exists(keys.heartbeat(id)).scard(keys.workerJobs(id))
      .llen(keys.queueKey(id, 'wait')).llen(keys.queueKey(id, 'active')).zcard(keys.queueKey(id, 'failed'));
  }
  const answers = ((await probe.exec()) ?? []).map(([, value]) => Number(value ?? 0));
  let live: WorkerInfo[] | null = null;
  for (const [i, workerId] of ids.entries()) {
    const [alive, holding, waiting, active, failed] = answers.slice(5 * i, 5 * i + 5);
    if (alive) continue;
    if (holding) reaped.orphaned.push(...await reapWorker(redis, workerId));
    if (waiting || active || failed) {
      live ??= await liveWorkers(redis);
      const { moved, failed: unroutable } = await rerouteQueued(redis, workerId, live);
      reaped.moved.push(...moved);
      reaped.failed.push(...unroutable);
    }
  }
  return reaped;
}

/** Says in the log what a reaper did, if anything. */
export function logReaped(log: Logger, reaped: Reaped): void {
  if (reaped.orphaned.length) log.warn({ jobIds: reaped.orphaned }, 'jobs of a vanished worker marked orphaned');
  if (reaped.moved.length) log.warn({ jobs: reaped.moved }, 'jobs queued for a vanished worker sent to a live one');
  if (reaped.failed.length) log.warn({ jobIds: reaped.failed }, 'jobs queued for a vanished worker failed: no live worker holds their cwd');
}

async function reapWorker(redis: Redis, workerId: string): Promise<string[]> {
  // A connection of its own: WATCH holds for the connection, and others share the main one.
  const conn = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: 1 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      await conn.watch(keys.heartbeat(workerId), keys.workerJobs(workerId));
      if (await conn.exists(keys.heartbeat(workerId))) {
        await conn.unwatch();
        return [];
      }
      const jobIds = await conn.smembers(keys.workerJobs(workerId));
      if (jobIds.length === 0) {
        await conn.unwatch();
        return [];
      }
      const tx = conn.multi();
      const marked: string[] = [];
      for (const jobId of jobIds) {
        const job = await readJobHash(conn, jobId);
        tx.srem(keys.workerJobs(workerId), jobId);
        if (!job?.entry || job.exit) continue;
        tx.sadd(keys.workerOrphans(workerId), jobId);
        tx.hset(keys.job(jobId), 'entry', JSON.stringify(orphanedEntry(job.entry, workerId)));
        marked.push(jobId);
      }
      if (await tx.exec()) return marked;
    }
    return [];
  } finally {
    conn.disconnect();
  }
}

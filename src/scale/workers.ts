// The workers' registry in Redis: each worker keeps a heartbeat key with a TTL; a worker whose key
// has expired is gone (its host rebooted, it was killed), and the jobs it held that had not ended
// are marked `orphaned` by whoever notices first (a front or another worker), exactly once.
import type { Redis } from 'ioredis';
import { keys } from './keys.js';
import type { WorkerInfo } from './routing.js';
import { orphanedEntry, readJobHash } from './job-hash.js';

export async function writeHeartbeat(redis: Redis, info: WorkerInfo, ttlMs: number): Promise<void> {
  await redis.multi()
    .set(keys.heartbeat(info.workerId), JSON.stringify(info), 'PX', ttlMs)
    .sadd(keys.workers, info.workerId)
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

/**
 * Marks the unended jobs of every worker whose heartbeat has expired `orphaned`. Each worker is
 * handled in a WATCH/MULTI on its heartbeat, so a worker that comes back meanwhile keeps its jobs.
 * Returns the ids marked.
 */
export async function reapDeadWorkers(redis: Redis): Promise<string[]> {
  const ids = await redis.smembers(keys.workers);
  if (ids.length === 0) return [];
  // One cheap round trip to find the dead workers that still hold jobs; only those are looked at closely.
  const probe = redis.pipeline();
  for (const id of ids) probe.exists(keys.heartbeat(id)).scard(keys.workerJobs(id));
  const answers = (await probe.exec()) ?? [];
  const marked: string[] = [];
  for (const [i, workerId] of ids.entries()) {
    const alive = answers[2 * i]?.[1] === 1;
    const holding = Number(answers[2 * i + 1]?.[1] ?? 0) > 0;
    if (!alive && holding) marked.push(...await reapWorker(redis, workerId));
  }
  return marked;
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

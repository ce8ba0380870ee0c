// The jobs that waited in a vanished worker's own BullMQ queue (routed to it, never taken): nobody
// would ever take them, so the reaper that finds the worker dead sends each, oldest first, to a live
// worker that can take it (the same rule as a start: roots hold the cwd, labels match), or fails it
// with a reason naming its cwd when none can. One reaper at a time per dead worker (a lock); a job
// still runs at most once whatever happens in between: only the worker whose HSETNX claim succeeds
// runs it, so a copy left in two queues (a reaper that died between add and remove) runs once.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Queue, type JobsOptions } from 'bullmq';
import { exitWithoutClaude } from '../jobs/claim.js';
import { isJobId } from '../jobs/ids.js';
import type { JobSpecRecord } from '../jobs/records.js';
import type { IndexEntry } from '../jobs/store.js';
import { keys } from './keys.js';
import { chooseWorker, type WorkerInfo } from './routing.js';

/** How every job is queued: BullMQ never retries it (at most once), finished entries do not pile up. */
export const QUEUED_JOB_OPTIONS: JobsOptions = { attempts: 1, removeOnComplete: true, removeOnFail: { age: 7 * 86_400 } };

/**
 * A job no live worker can take fails only once its worker has been seen dead this long: after Redis
 * itself was away past the TTL every heartbeat has expired, and the workers need a moment to write
 * theirs again; a queued job must not fail for that. Moving a job to a live worker needs no wait.
 */
export const FAIL_UNROUTABLE_AFTER_MS = 10_000;
/** Long enough for one reaper to move a queue; a reaper that died holding it stops nobody for longer. */
const LOCK_MS = 30_000;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Ends a job that never ran, unless someone (a worker, a cancel) claimed it first. */
const FAIL_UNCLAIMED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], 'claimedBy', 'unroutable') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'entry', ARGV[1], 'exit', ARGV[2])
redis.call('HDEL', KEYS[1], 'prompt')
redis.pcall('XADD', KEYS[2], '0-1', 'e', 'failed')
return 1
`;

export interface Rerouted {
  moved: Array<{ jobId: string; to: string }>;
  failed: string[];
}

/** Moves or fails the untaken jobs of `deadWorkerId`'s queue; a no-op when another reaper is at it. */
export async function rerouteQueued(redis: Redis, deadWorkerId: string, live: readonly WorkerInfo[]): Promise<Rerouted> {
  const done: Rerouted = { moved: [], failed: [] };
  const lock = keys.rerouteLock(deadWorkerId);
  const token = randomUUID();
  if ((await redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return done;
  // The worker's heartbeat removes this mark (writeHeartbeat): it counts from the first reaper that found it dead.
  await redis.set(keys.deadSince(deadWorkerId), String(Date.now()), 'NX');
  const deadForMs = Date.now() - Number(await redis.get(keys.deadSince(deadWorkerId)));
  const mayFail = deadForMs >= FAIL_UNROUTABLE_AFTER_MS;
  const { queue, close } = workerQueues(redis);
  try {
    const dead = queue(deadWorkerId);
    // Oldest first: taken or stalled ones were added before any that still wait.
    const bullJobs = [...await dead.getJobs(['active', 'failed'], 0, -1, true), ...await dead.getJobs(['wait'], 0, -1, true)];
    for (const bullJob of bullJobs) {
      if (!bullJob?.id) continue;
      const jobId = String((bullJob.data as { jobId?: unknown }).jobId ?? '');
      const outcome = isJobId(jobId) ? await rerouteOne(redis, jobId, deadWorkerId, live, mayFail ? goneReason(deadWorkerId) : null, queue) : 'nothing';
      if (outcome === 'later') continue;
      if (outcome === 'failed') done.failed.push(jobId);
      else if (outcome !== 'nothing') done.moved.push({ jobId, to: outcome.to });
      // Removed only once it is safe elsewhere (or needs nothing): a reaper dying before this line leaves a copy, never a loss.
      // An active entry stays locked until its dead worker's lock expires; a later pass removes it.
      await dead.remove(bullJob.id);
    }
  } finally {
    await close();
    await redis.eval(UNLOCK, 1, lock, token).catch(() => 0);
  }
  return done;
}

/**
 * A job its own worker took off its queue but may not run: it lacks one of the job's labels (it
 * was restarted with fewer). Moved to a live worker that carries them, or failed with a reason;
 * never run here. Same rules and same at-most-once as a dead worker's queue.
 */
export async function handOn(redis: Redis, jobId: string, fromWorkerId: string, live: readonly WorkerInfo[]): Promise<{ to: string } | 'failed' | 'nothing'> {
  const { queue, close } = workerQueues(redis);
  try {
    const outcome = await rerouteOne(redis, jobId, fromWorkerId, live.filter((w) => w.workerId !== fromWorkerId), (spec) =>
      `the worker ${fromWorkerId} this job was queued for no longer carries the labels ${spec.labels?.join(', ')} (restarted with fewer) and no other live worker holds '${spec.cwd}' with them; the job never ran: start it again when a worker with those labels is back`,
    queue);
    return outcome === 'later' ? 'nothing' : outcome;
  } finally {
    await close();
  }
}

/** BullMQ queues of workers, opened on first use and closed together. */
function workerQueues(redis: Redis): { queue: (workerId: string) => Queue; close: () => Promise<void> } {
  const queues = new Map<string, Queue>();
  return {
    queue(workerId) {
      let q = queues.get(workerId);
      if (!q) {
        q = new Queue(keys.queueName(workerId), { connection: redis, prefix: keys.bullPrefix });
        q.on('error', () => {}); // the caller sees the failed command itself
        queues.set(workerId, q);
      }
      return q;
    },
    close: async () => {
      await Promise.allSettled([...queues.values()].map((q) => q.close()));
    },
  };
}

const goneReason = (deadWorkerId: string) => (spec: JobSpecRecord) =>
  `the worker ${deadWorkerId} this job waited for is gone (its heartbeat expired) and no live worker holds '${spec.cwd}'${spec.labels?.length ? ` with the labels ${spec.labels.join(', ')}` : ''}; the job never ran: start it again when a worker for that folder is back`;

/**
 * Moved (to whom), failed (with `failReason`; null: not yet), nothing to do (its queue entry can
 * go), or later (no worker yet: the entry stays).
 */
async function rerouteOne(
  redis: Redis, jobId: string, fromWorkerId: string, live: readonly WorkerInfo[], failReason: ((spec: JobSpecRecord) => string) | null, queue: (workerId: string) => Queue,
): Promise<{ to: string } | 'failed' | 'nothing' | 'later'> {
  const [specText, entryText, claimedBy, worker] = await redis.hmget(keys.job(jobId), 'spec', 'entry', 'claimedBy', 'worker');
  // Taken (it runs or ran), cancelled, or removed: nothing to move.
  if (!specText || !entryText || claimedBy) return 'nothing';
  // Moved by a reaper that stopped before removing it here: it waits in its new queue already.
  if (worker && worker !== fromWorkerId && live.some((w) => w.workerId === worker)) return 'nothing';
  const spec = JSON.parse(specText) as JobSpecRecord;
  const target = chooseWorker(live, spec.cwd, spec.labels ?? []);
  if (target) {
    // Same BullMQ id from any reaper: a second add of the same move is ignored.
    await queue(target.workerId).add('job', { jobId }, { ...QUEUED_JOB_OPTIONS, jobId: `${jobId}-via-${fromWorkerId}` });
    await redis.hset(keys.job(jobId), 'worker', target.workerId);
    return { to: target.workerId };
  }
  if (!failReason) return 'later';
  const error = failReason(spec);
  const exit = exitWithoutClaude('exited', { error });
  const entry: IndexEntry = { ...(JSON.parse(entryText) as IndexEntry), status: 'failed', statusReason: error, endedAt: exit.endedAt };
  const failed = await redis.eval(FAIL_UNCLAIMED, 2, keys.job(jobId), keys.out(jobId), JSON.stringify(entry), JSON.stringify(exit));
  return failed === 1 ? 'failed' : 'nothing';
}

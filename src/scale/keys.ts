// Every Redis key and BullMQ queue name of the shared backend, in one place (see README "More than
// one machine" for what each holds). Job ids are validated before they reach a key (ids.ts).
import { assertJobId } from '../jobs/ids.js';

const PREFIX = 'claude-async';
const BULL_PREFIX = `${PREFIX}:bull`;
const queueName = (workerId: string) => `jobs-${workerId}`;

export const keys = {
  /** BullMQ's own prefix for its queues. */
  bullPrefix: BULL_PREFIX,
  /** Sorted set (all scores 0, ordered by id) of every job: lists page through it newest first. */
  jobs: `${PREFIX}:jobs`,
  /** Hash per job: spec, prompt (until a worker took it), entry, exit, outputBytes, worker, claimedBy (+ its claimToken), approvals (open questions). */
  job: (jobId: string) => `${PREFIX}:job:${assertJobId(jobId)}`,
  /** Stream per job: its log lines, entry id `<end offset>-0`; `<end>-1` marks the end of the log. */
  out: (jobId: string) => `${PREFIX}:out:${assertJobId(jobId)}`,
  /** Sorted set (score: when) of jobs recorded but not yet confirmed in their BullMQ queue. */
  unqueued: `${PREFIX}:unqueued`,
  /** Set of every worker id ever registered: reapers look for those whose heartbeat is gone. */
  workers: `${PREFIX}:workers`,
  /** String with a TTL per worker: its roots, labels and slots; gone = the worker (host) is gone. */
  heartbeat: (workerId: string) => `${PREFIX}:worker:${workerId}`,
  /** Set of the jobs a worker claimed that have not ended: what turns orphaned if it vanishes. */
  workerJobs: (workerId: string) => `${PREFIX}:worker:${workerId}:jobs`,
  /** Set of a vanished worker's jobs marked orphaned: the worker, back, checks whether each ever ran. */
  workerOrphans: (workerId: string) => `${PREFIX}:worker:${workerId}:orphans`,
  /** String held by the one reaper moving a vanished worker's queued jobs to live workers (reroute.ts). */
  rerouteLock: (workerId: string) => `${PREFIX}:worker:${workerId}:reroute-lock`,
  /** When a reaper first found this worker dead with jobs in its queue (ms); its heartbeat deletes it. */
  deadSince: (workerId: string) => `${PREFIX}:worker:${workerId}:dead-since`,
  /** A key of BullMQ's own for a worker's queue (`wait`, `active`, `failed`): reapers count them. */
  queueKey: (workerId: string, part: 'wait' | 'active' | 'failed') => `${BULL_PREFIX}:${queueName(workerId)}:${part}`,
  /** List of requests to a worker (cancel, remove, a page of a log); it pops them one by one. */
  control: (workerId: string) => `${PREFIX}:worker:${workerId}:control`,
  /** List a requester waits on for the one answer to its request. */
  reply: (requestId: string) => `${PREFIX}:reply:${requestId}`,
  /** The BullMQ queue of one worker: jobs routed to it wait here, in order. */
  queueName,
};

/** A worker id becomes part of keys and a queue name: letters, digits, dot, dash, underscore. */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

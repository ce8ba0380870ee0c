// The shared backend (issue #17): jobs run on `claude-async worker` hosts, and every front answers
// every job from Redis. A job's status is its hash (published by the worker from the job folder),
// its output the job's stream (the log's last CLAUDE_ASYNC_REDIS_MAX_LOG_BYTES); older pages and raw
// bytes come from the owning worker's disk on request. Starts are routed to a live worker whose
// roots hold the cwd (and that carries the job's labels) and queued in that worker's BullMQ queue.
// A job's open questions (approvals) are published into its hash by its worker; answers go to that
// worker, which holds the question and answer files.
import path from 'node:path';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ApproveInput, ApproveOutput } from '../approvals/schemas.js';
import type { BackendStats, FollowWatch, JobBackend, JobPlacement, JobState, ListPage } from '../jobs/backend.js';
import { exitWithoutClaude } from '../jobs/claim.js';
import { ApprovalNotFound, InvalidInput, JobConflict, JobNotFound, Unavailable } from '../jobs/errors.js';
import { showLabels } from '../jobs/labels.js';
import type { Subscription } from '../jobs/follower.js';
import type { TailRequest, TailResult } from '../jobs/output.js';
import type { JobSpecRecord } from '../jobs/records.js';
import { isEnded, type CancelOutput, type JobStatus } from '../jobs/schemas.js';
import { summaryFromSpec, type IndexEntry } from '../jobs/store.js';
import { ControlTimeout, sendControl, type ControlReply, type ControlRequest } from './control.js';
import { onRedis } from './front-redis.js';
import { claimingWorker, readJobHash, type JobHash } from './job-hash.js';
import { keys } from './keys.js';
import { QUEUED_JOB_OPTIONS } from './reroute.js';
import { chooseWorker, rootsHold, type WorkerInfo } from './routing.js';
import { StreamFollowers } from './stream-follow.js';
import { tailFromLines, type StreamLine } from './stream-tail.js';
import { isAlive, liveWorkers, reapDeadWorkers } from './workers.js';

const LIST_BATCH = 200;
const STATS_EVERY_MS = 5000;
const REAP_EVERY_MS = 1000;
/** A worker must answer a page read within this. */
const READ_TIMEOUT_MS = 10_000;
const TAIL_SCAN_LIMIT = 5000;
const RECORD_JOB = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'entry', ARGV[2], 'spec', ARGV[3], 'prompt', ARGV[4], 'outputBytes', '0', 'worker', ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[1])
return 1
`;
/** A start takes milliseconds from its record to its queue; one unqueued for longer lost its front. */
const UNQUEUED_GRACE_MS = 5000;

export class RedisBackend implements JobBackend {
  readonly ready: Promise<void> = Promise.resolve();
  private readonly queues = new Map<string, Queue>();
  private readonly followers: StreamFollowers;
  private counts = { jobs: 0, unended: 0 };
  private readonly statsTimer: NodeJS.Timeout;
  private lastReapAt = 0;

  constructor(private readonly redis: Redis, private readonly config: Config, private readonly log: Logger) {
    this.followers = new StreamFollowers(redis, log);
    this.statsTimer = setInterval(() => {
      void this.refreshCounts().catch(() => {});
      void this.enqueueStragglers().catch((err: unknown) => log.debug({ err }, 'checking unqueued jobs failed'));
    }, STATS_EVERY_MS);
    this.statsTimer.unref();
    void this.refreshCounts().catch(() => {});
  }

  async resolveCwd(requested: string, labels: readonly string[] = []): Promise<string> {
    if (!path.isAbsolute(requested)) throw new InvalidInput(`cwd: '${requested}' must be an absolute path`, 'cwd');
    const cwd = path.resolve(requested);
    await this.routeTo(cwd, labels, requested);
    return cwd;
  }

  /** The live worker a job of this cwd and labels goes to; InvalidInput naming both when there is none. */
  private async routeTo(cwd: string, labels: readonly string[], shownCwd = cwd): Promise<WorkerInfo> {
    const live = await onRedis('the start', () => liveWorkers(this.redis));
    const worker = chooseWorker(live, cwd, labels);
    if (worker) return worker;
    const held = live.some((w) => rootsHold(w.roots, cwd));
    if (!held || labels.length === 0) {
      const also = labels.length ? ` (the job also needs the labels ${showLabels(labels)})` : '';
      throw new InvalidInput(`cwd: no live worker holds '${shownCwd}'${also} (no running \`claude-async worker\` has it inside its CLAUDE_ASYNC_ALLOWED_ROOTS), so the job could not run anywhere; use a folder a worker holds, or ask the operator to start one for it`, 'cwd');
    }
    throw new InvalidInput(`labels: no live worker that holds '${shownCwd}' carries the labels ${showLabels(labels)} (CLAUDE_ASYNC_WORKER_LABELS), so the job could not run anywhere; start it without the labels a worker lacks, or ask the operator to start a worker with them`, 'labels');
  }

  placement(jobId: string): JobPlacement {
    // The folder is made on whichever worker takes the job, under its own jobs dir, and the runner
    // checks the cwd against that worker's roots (the worker writes both into the spec it keeps).
    return { jobDir: path.join(this.config.jobsDir, jobId), allowedRoots: [] };
  }

  async create(spec: JobSpecRecord, prompt: string): Promise<void> {
    const worker = await this.routeTo(spec.cwd, spec.labels ?? []);
    const entry = summaryFromSpec(spec, 'queued');
    // One step: the job with its spec and prompt, in the list, and marked "not yet queued" (a front
    // that dies before queueing it leaves that trace, and another front queues it).
    const made = await onRedis('the start', () => this.redis.eval(RECORD_JOB, 3, keys.job(spec.jobId), keys.jobs, keys.unqueued,
      spec.jobId, JSON.stringify(entry), JSON.stringify(spec), prompt, worker.workerId, String(Date.now())));
    if (!made) throw new JobConflict(`a job with id ${spec.jobId} exists already`);
    try {
      await this.enqueue(worker.workerId, spec.jobId);
    } catch (cause) {
      // Not queued: leave nothing behind that reads like an acknowledged job.
      await this.redis.multi().del(keys.job(spec.jobId)).zrem(keys.jobs, spec.jobId).zrem(keys.unqueued, spec.jobId).exec().catch(() => {});
      return onRedis('the start', () => Promise.reject(cause));
    }
  }

  /** Adds the job to its worker's queue (BullMQ ignores a second add under the same id) and says so. */
  private async enqueue(workerId: string, jobId: string): Promise<void> {
    await this.queue(workerId).add('job', { jobId }, { ...QUEUED_JOB_OPTIONS, jobId });
    await this.redis.zrem(keys.unqueued, jobId);
  }

  /**
   * Jobs recorded by a front that died before it queued them (a retry with the same Idempotency-Key
   * may already have acknowledged them): queued now. Never one that was claimed: it ran or runs.
   */
  private async enqueueStragglers(): Promise<void> {
    const stale = await this.redis.zrangebyscore(keys.unqueued, 0, Date.now() - UNQUEUED_GRACE_MS, 'LIMIT', 0, 100);
    for (const jobId of stale) {
      const [worker, claimedBy, entry] = await this.redis.hmget(keys.job(jobId), 'worker', 'claimedBy', 'entry');
      if (!entry || claimedBy || !worker) {
        await this.redis.zrem(keys.unqueued, jobId);
        continue;
      }
      await this.enqueue(worker, jobId);
      this.log.warn({ jobId, workerId: worker }, 'queued a job its front recorded but did not queue');
    }
  }

  async read(jobId: string): Promise<JobState | null> {
    let hash = await onRedis('reading the job', () => readJobHash(this.redis, jobId));
    if (!hash?.entry) return null;
    if ((hash.entry.status === 'running' && hash.claimedBy?.startsWith('worker:') && hash.worker) || (hash.entry.status === 'queued' && !hash.claimedBy && hash.worker)) {
      // Its worker may have vanished: a running job reads orphaned as soon as its heartbeat has
      // expired, and a queued one goes to another worker (or fails when none holds its cwd).
      if (!(await onRedis('reading the job', () => isAlive(this.redis, hash!.worker!)))) {
        await reapDeadWorkers(this.redis).catch(() => []);
        hash = (await onRedis('reading the job', () => readJobHash(this.redis, jobId))) ?? hash;
      }
    }
    return this.state(hash);
  }

  async list(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): Promise<ListPage> {
    await this.reapNowAndThen();
    const entries: IndexEntry[] = [];
    let from = cursor ? `(${cursor}` : '+';
    for (;;) {
      const ids = await onRedis('listing jobs', () => this.redis.zrevrangebylex(keys.jobs, from, '-', 'LIMIT', 0, LIST_BATCH));
      if (ids.length === 0) return { entries };
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hget(keys.job(id), 'entry');
      const values = (await onRedis('listing jobs', () => pipe.exec())) ?? [];
      for (const [i, id] of ids.entries()) {
        const text = values[i]?.[1];
        if (typeof text !== 'string') continue;
        const entry = JSON.parse(text) as IndexEntry;
        if (!keep(entry)) continue;
        entries.push(entry);
        if (entries.length === limit) {
          const more = i < ids.length - 1 || ids.length === LIST_BATCH;
          return more ? { entries, nextCursor: id } : { entries };
        }
      }
      if (ids.length < LIST_BATCH) return { entries };
      from = `(${ids[ids.length - 1]!}`;
    }
  }

  async tail(jobId: string, request: TailRequest): Promise<TailResult> {
    const hash = await this.mustRead(jobId);
    const first = await onRedis('reading the output', () => this.redis.xrange(keys.out(jobId), '-', '+', 'COUNT', 1));
    const windowStart = first[0] ? lineOf(first[0]).start : hash.outputBytes;
    if (request.offset !== undefined && request.offset < windowStart) {
      // Older than what Redis keeps: the worker reads it from the log on its disk.
      const page = await this.askWorker<TailResult>(hash, { op: 'tail', jobId, tailBytes: request.tailBytes, offset: request.offset });
      if (page) return page;
    }
    if (request.offset === undefined) {
      const lines: StreamLine[] = [];
      let to = '+';
      for (;;) {
        const batch = await onRedis('reading the output', () => this.redis.xrevrange(keys.out(jobId), to, '-', 'COUNT', 200));
        let used = 0;
        for (const item of batch) {
          if (item[0].endsWith('-1')) continue;
          lines.push(lineOf(item));
        }
        for (const line of lines) used += line.text.length;
        if (batch.length < 200 || lines.length >= TAIL_SCAN_LIMIT || used > request.tailBytes * 16) break;
        to = `(${batch[batch.length - 1]![0]}`;
      }
      return tailFromLines(lines, request, hash.outputBytes, 'newestFirst');
    }
    const from = Math.max(request.offset, windowStart);
    const batch = await onRedis('reading the output', () => this.redis.xrange(keys.out(jobId), `${from + 1}-0`, '+', 'COUNT', 2000));
    const lines = batch.filter((item) => !item[0].endsWith('-1')).map(lineOf);
    return tailFromLines(lines, { ...request, offset: request.offset < windowStart ? windowStart : request.offset }, hash.outputBytes, 'oldestFirst');
  }

  async readOutput(jobId: string, start: number, length: number): Promise<Buffer> {
    const hash = await this.mustRead(jobId);
    const fromWorker = await this.askWorker<string>(hash, { op: 'read', jobId, start, length });
    if (fromWorker !== null) return Buffer.from(fromWorker, 'base64');
    // The worker is gone: the bytes Redis still holds, rebuilt from its lines.
    const batch = await onRedis('reading the output', () => this.redis.xrange(keys.out(jobId), `${start + 1}-0`, '+', 'COUNT', 10_000));
    const parts: Buffer[] = [];
    let at = start;
    for (const item of batch) {
      if (item[0].endsWith('-1')) break;
      const line = lineOf(item);
      if (line.start < start) continue;
      if (line.start !== at) break; // a gap (trimmed, skipped): stop at the last contiguous byte
      parts.push(Buffer.from(`${line.text}\n`));
      at = line.end;
      if (at - start >= length) break;
    }
    return Buffer.concat(parts).subarray(0, length);
  }

  async outputSize(jobId: string): Promise<number> {
    return (await this.mustRead(jobId)).outputBytes;
  }

  follow<S extends { status: JobStatus }>(jobId: string, from: number, watch: FollowWatch<S>): Subscription {
    return this.followers.follow(jobId, from, watch);
  }

  async cancel(jobId: string): Promise<CancelOutput> {
    const hash = await this.mustRead(jobId);
    if (hash.exit || (hash.entry && isEnded(hash.entry.status))) return { jobId, status: hash.entry!.status, cancelled: false };
    if (!hash.claimedBy) {
      // Queued: claim it for the cancel, as a worker would, so no worker can start it afterwards.
      if (await onRedis('the cancel', () => this.redis.hsetnx(keys.job(jobId), 'claimedBy', 'cancel'))) {
        const exit = exitWithoutClaude('cancelled');
        const entry: IndexEntry = { ...hash.entry!, status: 'cancelled', endedAt: exit.endedAt };
        delete entry.statusReason;
        await onRedis('the cancel', () => this.redis.multi()
          .hset(keys.job(jobId), { entry: JSON.stringify(entry), exit: JSON.stringify(exit) }).hdel(keys.job(jobId), 'prompt')
          .xadd(keys.out(jobId), '0-1', 'e', 'cancelled').exec());
        if (hash.worker) await this.queue(hash.worker).remove(jobId).catch(() => 0);
        return { jobId, status: 'cancelled', cancelled: true };
      }
      return this.cancel(jobId); // a worker took it just now: cancel it there
    }
    if (hash.claimedBy === 'cancel') return { jobId, status: 'cancelled', cancelled: false };
    const workerId = hash.claimedBy.slice('worker:'.length);
    const settleMs = Math.max(3000, Math.min(this.config.killGraceMs + 2000, 15_000));
    const reply = await this.control(workerId, { op: 'cancel', jobId }, settleMs + 5000).catch((error: unknown) => {
      if (error instanceof ControlTimeout) return null;
      throw error;
    });
    if (reply === null) {
      const now = await this.read(jobId);
      return {
        jobId, status: now?.entry.status ?? 'unknown', cancelled: false,
        detail: now?.entry.status === 'orphaned'
          ? `the worker ${workerId} that ran the job is gone; the job reads orphaned and nothing is left to cancel`
          : `asked the worker ${workerId} to cancel the job, but it did not answer in time; check again`,
      };
    }
    if (!reply.ok) throw new JobConflict(reply.error.message);
    return reply.value as CancelOutput;
  }

  /**
   * The question and its answer file live in the job folder on the worker that runs the job: the
   * answer goes there through the control channel, and the worker answers as the local engine does
   * (once; a second answer, or one after the job ended, is a conflict).
   */
  async answerApproval(jobId: string, answer: ApproveInput, answeredBy: string): Promise<ApproveOutput> {
    const hash = await this.mustRead(jobId);
    const workerId = claimingWorker(hash);
    // Queued, or cancelled before it ran: it never asked anything.
    if (!workerId) throw new ApprovalNotFound(jobId, answer.approvalId);
    if (!(await onRedis('the answer', () => isAlive(this.redis, workerId)))) {
      if (!hash.pendingApprovals.some((q) => q.approvalId === answer.approvalId)) throw new ApprovalNotFound(jobId, answer.approvalId);
      throw new JobConflict(`job ${jobId} can no longer be answered: the worker ${workerId} that ran it is gone (the job reads orphaned)`);
    }
    const reply = await onRedis('the answer', () => this.control(workerId, { op: 'approve', jobId, answer, answeredBy }, READ_TIMEOUT_MS)
      .catch((error: unknown) => (error instanceof ControlTimeout ? null : Promise.reject(error))));
    if (reply === null) throw new Unavailable(`The worker ${workerId} that runs job ${jobId} did not take the answer in time`);
    if (reply.ok) return reply.value as ApproveOutput;
    // The worker's refusal, as the engine error it was there (the faces map those to 404 / 409).
    if (reply.error.name === 'ApprovalNotFound') throw new ApprovalNotFound(jobId, answer.approvalId);
    throw new JobConflict(reply.error.message);
  }

  async remove(jobId: string): Promise<void> {
    const hash = await this.mustRead(jobId);
    const workerId = claimingWorker(hash);
    if (workerId && (await onRedis('the removal', () => isAlive(this.redis, workerId)))) {
      const reply = await this.control(workerId, { op: 'remove', jobId }, READ_TIMEOUT_MS);
      if (!reply.ok) throw new JobConflict(reply.error.message);
    }
    await onRedis('the removal', () => this.redis.multi()
      .del(keys.job(jobId), keys.out(jobId)).zrem(keys.jobs, jobId)
      .srem(keys.workerJobs(workerId ?? hash.worker ?? '-'), jobId).exec());
    if (hash.worker) await this.queue(hash.worker).remove(jobId).catch(() => 0);
  }

  async sweep(cutoff: number): Promise<number> {
    let removed = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await this.list(LIST_BATCH, cursor, (e) => isEnded(e.status) && (e.endedAt ?? e.createdAt) < cutoff);
      for (const entry of page.entries) {
        await this.remove(entry.jobId).then(() => removed++, (error: unknown) => this.log.warn({ jobId: entry.jobId, err: error }, 'retention could not remove a job; trying again next sweep'));
      }
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return removed;
  }

  async writeProblem(): Promise<string | null> {
    try {
      await this.redis.ping();
      return null;
    } catch {
      return 'the shared store (Redis) does not answer';
    }
  }

  stats(): BackendStats {
    return { ...this.counts, followedJobs: this.followers.stats().jobs };
  }

  async close(): Promise<void> {
    clearInterval(this.statsTimer);
    await this.followers.close();
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
  }

  private state(hash: JobHash): JobState {
    const entry = hash.entry!;
    // An ended job asks nothing (a job orphaned by a vanished worker keeps its last published list).
    const pendingApprovals = isEnded(entry.status) ? [] : hash.pendingApprovals;
    return { entry, exit: hash.exit, outputBytes: hash.outputBytes, pendingApprovals };
  }

  private async mustRead(jobId: string): Promise<JobHash> {
    const hash = await onRedis('reading the job', () => readJobHash(this.redis, jobId));
    if (!hash?.entry) throw new JobNotFound(jobId);
    return hash;
  }

  private queue(workerId: string): Queue {
    let queue = this.queues.get(workerId);
    if (!queue) {
      queue = new Queue(keys.queueName(workerId), { connection: this.redis, prefix: keys.bullPrefix });
      queue.on('error', (err) => this.log.debug({ err }, 'bullmq queue error'));
      this.queues.set(workerId, queue);
    }
    return queue;
  }

  private control(workerId: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply> {
    return sendControl(this.redis, workerId, request, timeoutMs);
  }

  /** The owning worker's answer, or null when it is gone or silent (the caller answers from Redis). */
  private async askWorker<T>(hash: JobHash, request: ControlRequest): Promise<T | null> {
    const workerId = claimingWorker(hash);
    if (!workerId || !(await isAlive(this.redis, workerId).catch(() => false))) return null;
    try {
      const reply = await this.control(workerId, request, READ_TIMEOUT_MS);
      return reply.ok ? (reply.value as T) : null;
    } catch {
      return null;
    }
  }

  private async reapNowAndThen(): Promise<void> {
    if (Date.now() - this.lastReapAt < REAP_EVERY_MS) return;
    this.lastReapAt = Date.now();
    await reapDeadWorkers(this.redis).catch(() => []);
  }

  private async refreshCounts(): Promise<void> {
    const jobs = await this.redis.zcard(keys.jobs);
    const workers = await this.redis.smembers(keys.workers);
    let unended = 0;
    for (const id of workers) unended += await this.redis.scard(keys.workerJobs(id));
    this.counts = { jobs, unended };
  }
}

function lineOf(item: [string, string[]]): StreamLine {
  const [id, fields] = item;
  const get = (name: string) => fields[fields.indexOf(name) + 1] ?? '';
  return { start: Number(get('s')), end: Number(id.split('-')[0]), text: get('l') };
}

// `claude-async worker`: runs the jobs routed to this host. It registers the roots it holds, its
// labels and slots under a heartbeat with a TTL; takes the next job of its BullMQ queue only when a
// slot is free; runs it with the local engine's detached runner in a job folder on this disk; and
// publishes status and output from that folder into Redis (publisher.ts). A restarted worker finds
// its folders again, adopts the jobs still running (their runners never stopped) and publishes on.
//
// At most once: a job is launched only after `HSETNX claimedBy` on its hash succeeds, and BullMQ is
// told never to retry (attempts 1, maxStalledCount 0); the BullMQ job itself lives only for the
// milliseconds between taking it and launching the runner, so no lock has to outlast a long job.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { EventEmitter, once } from 'node:events';
import { Redis } from 'ioredis';
import { Queue, Worker as BullWorker } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { answerApproval } from '../approvals/answer.js';
import { approvalArgsAt } from '../approvals/mcp-config.js';
import { writeFileAtomic } from '../files/atomic.js';
import { cancelJob } from '../jobs/canceller.js';
import { claimForServer, exitWithoutClaude } from '../jobs/claim.js';
import { jobEnvironment } from '../jobs/environment.js';
import { LogFollowers, type Subscription } from '../jobs/follower.js';
import { isJobId } from '../jobs/ids.js';
import { ProcessLauncher, type Launcher } from '../jobs/launcher.js';
import { jobPaths } from '../jobs/layout.js';
import { readRange, readTail } from '../jobs/output.js';
import type { JobSpecRecord } from '../jobs/records.js';
import { summaryFromSpec } from '../jobs/store.js';
import { isEnded } from '../jobs/schemas.js';
import { nextControl, replyControl, type ControlEnvelope, type ControlReply } from './control.js';
import { readFolderState } from './folder-state.js';
import { keys } from './keys.js';
import { JobPublisher } from './publisher.js';
import { QUEUED_JOB_OPTIONS, handOn } from './reroute.js';
import type { WorkerInfo } from './routing.js';
import { liveWorkers, logReaped, reapDeadWorkers, writeHeartbeat } from './workers.js';

/** A runner that has not claimed its job by then failed to start (as in the local dispatcher). */
const LAUNCH_TIMEOUT_MS = 30_000;
/** How often jobs whose publishing failed (Redis was away) are picked up again. */
const RESYNC_MS = 2000;
const CONTROL_BLOCK_SECONDS = 2;
/**
 * The claim: the job is this worker's only if nobody (another worker, a cancel) claimed it first,
 * and it joins the worker's unended jobs in the same step, so a worker that dies right after
 * claiming leaves a trace its next start (or a reaper) acts on. Each take claims with a token of
 * its own: when the connection drops after Redis ran the claim but before its answer arrived, the
 * client sends the same call again on reconnecting, and that is still this take's claim (without
 * the token it would read "claimed before", and the job would never run); a second queue entry of
 * the same job is another take, with another token, and is refused.
 */
export const CLAIM = `
if redis.call('HSETNX', KEYS[1], 'claimedBy', ARGV[1]) == 0 then
  if redis.call('HGET', KEYS[1], 'claimToken') == ARGV[3] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'claimToken', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
`;

export interface WorkerOptions {
  log: Logger;
  launcher?: Launcher;
  serverEnv?: Record<string, string | undefined>;
}

export class JobWorker {
  private readonly redis: Redis;
  private readonly blocking: Redis;
  private readonly bull: BullWorker;
  /** This worker's own queue, to put back jobs it took but never started. */
  private readonly queue: Queue;
  private readonly launcher: Launcher;
  private readonly followers = new LogFollowers({ pollMs: 200 });
  private readonly publisher: JobPublisher;
  /** Jobs of this worker that have not ended, each with its publishing (null while it must be resumed). */
  private readonly running = new Map<string, Subscription | null>();
  private readonly events = new EventEmitter();
  private roots: string[] = [];
  private timers: NodeJS.Timeout[] = [];
  private loops: Promise<void>[] = [];
  private closed = false;
  private readonly startedAt = Date.now();
  readonly workerId: string;

  constructor(private readonly config: Config, private readonly options: WorkerOptions) {
    if (!config.redisUrl) throw new Error('CLAUDE_ASYNC_REDIS_URL is not set: a worker takes its jobs from Redis');
    this.workerId = config.workerId;
    this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    this.blocking = this.redis.duplicate();
    for (const conn of [this.redis, this.blocking]) conn.on('error', (err) => this.options.log.debug({ err }, 'redis connection error'));
    this.bull = new BullWorker(keys.queueName(this.workerId), null, {
      connection: this.redis.duplicate(), prefix: keys.bullPrefix, autorun: false,
      // Never run a job twice: a job whose lock was lost is failed, not re-queued (see take()).
      maxStalledCount: 0,
      // The lock is held only between taking a job and launching it (milliseconds): a short one lets
      // a job taken by a worker killed in that gap be found (failed as stalled, then put back) soon.
      lockDuration: 10_000,
      stalledInterval: 5_000,
    });
    this.bull.on('error', (err) => this.options.log.warn({ err }, 'bullmq worker error'));
    this.queue = new Queue(keys.queueName(this.workerId), { connection: this.redis, prefix: keys.bullPrefix });
    this.queue.on('error', (err) => this.options.log.debug({ err }, 'bullmq queue error'));
    this.launcher = options.launcher ?? new ProcessLauncher(jobEnvironment(options.serverEnv ?? process.env, config.jobEnvNames));
    this.publisher = new JobPublisher(this.redis, this.followers, this.workerId, config.redisMaxLogBytes, options.log);
    this.events.setMaxListeners(0);
  }

  async start(): Promise<void> {
    const { config, options: { log } } = this;
    await fs.promises.mkdir(config.jobsDir, { recursive: true, mode: 0o700 });
    for (const root of config.allowedRoots) {
      try {
        this.roots.push(await fs.promises.realpath(root));
      } catch {
        log.warn({ root }, 'an allowed root does not exist; this worker does not offer it');
      }
    }
    if (this.roots.length === 0) throw new Error('none of CLAUDE_ASYNC_ALLOWED_ROOTS exists on this host: the worker could run no job');
    await this.adopt();
    await this.heartbeat();
    const every = Math.max(300, Math.floor(config.workerTtlMs / 3));
    this.timers.push(setInterval(() => void this.heartbeat().catch((err: unknown) => log.warn({ err }, 'heartbeat failed; retrying')), every));
    this.timers.push(setInterval(() => void reapDeadWorkers(this.redis).then(
      (reaped) => logReaped(log, reaped),
      (err: unknown) => log.debug({ err }, 'reaping failed'),
    ), every));
    this.timers.push(setInterval(() => void this.resync(), RESYNC_MS));
    this.timers.push(setInterval(() => void this.retryUntaken().catch((err: unknown) => log.debug({ err }, 'checking untaken jobs failed')), 5_000));
    await this.retryUntaken();
    await this.bull.startStalledCheckTimer();
    this.loops.push(this.dispatchLoop(), this.controlLoop());
    log.info({ workerId: this.workerId, roots: this.roots, labels: config.workerLabels, slots: config.maxConcurrent, adopted: this.running.size }, 'worker ready');
  }

  /** Stops taking jobs and answering; running jobs keep running (a restarted worker adopts them). */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.events.emit('slot');
    for (const sub of this.running.values()) sub?.close();
    await this.bull.close(true).catch(() => {});
    await this.queue.close().catch(() => {});
    this.blocking.disconnect();
    await Promise.allSettled(this.loops);
    // The heartbeat is left to expire: a restart within the TTL is not a vanished host.
    this.redis.disconnect();
    this.launcher.close();
  }

  private info(): WorkerInfo {
    return {
      workerId: this.workerId, roots: this.roots, labels: this.config.workerLabels, slots: this.config.maxConcurrent,
      running: this.running.size, host: os.hostname(), pid: process.pid, startedAt: this.startedAt,
    };
  }

  private async heartbeat(): Promise<void> {
    await writeHeartbeat(this.redis, this.info(), this.config.workerTtlMs);
    await this.reclaimOrphans();
  }

  /**
   * While this worker could not reach Redis past its TTL (Redis down or frozen, the network cut),
   * a reaper saw no heartbeat and marked its unended jobs `orphaned`; the runners never stopped.
   * With the heartbeat back, each such job this worker still has on disk gets its true state
   * again (running, or its end). A job claimed but not yet written to disk is left to take() (it
   * publishes the job as it launches it) or to adopt() at the next start.
   */
  private async reclaimOrphans(): Promise<void> {
    const orphans = await this.redis.smembers(keys.workerOrphans(this.workerId));
    for (const jobId of orphans) {
      if (!isJobId(jobId)) continue;
      const paths = jobPaths(this.config.jobsDir, jobId);
      const specText = await fs.promises.readFile(paths.spec, 'utf8').catch(() => null);
      if (specText === null) continue;
      const state = await readFolderState(paths, JSON.parse(specText) as JobSpecRecord);
      if (await this.publisher.reclaim(jobId, state)) this.options.log.warn({ jobId, status: state.status }, 'a job marked orphaned while this worker was cut off from Redis is this worker\'s again');
    }
  }

  /**
   * Finds this worker's jobs again after a restart and publishes each: folders whose runner still
   * runs (or has ended since), a folder made but never launched (launched now: its runner's claim
   * in the folder still makes it run at most once), and a job claimed in Redis whose folder was
   * never written (it never ran, so it is queued again, even if it was marked orphaned meanwhile).
   */
  private async adopt(): Promise<void> {
    const names = new Set((await fs.promises.readdir(this.config.jobsDir).catch(() => [] as string[])).filter(isJobId));
    for (const jobId of names) {
      // A folder without spec.json is no job (docs/design.md, "A job on disk"): this worker died while
      // writing it, before any runner could start. It goes, and the job is queued again below.
      const paths = jobPaths(this.config.jobsDir, jobId);
      if (fs.existsSync(paths.spec)) continue;
      await fs.promises.rm(paths.dir, { recursive: true, force: true });
      names.delete(jobId);
      this.options.log.warn({ jobId }, 'a job folder this worker was writing when it stopped is removed; the job is queued again');
    }
    const claimed = [...await this.redis.smembers(keys.workerJobs(this.workerId)), ...await this.redis.smembers(keys.workerOrphans(this.workerId))];
    for (const jobId of claimed) {
      if (names.has(jobId)) continue;
      const [specText, claimedBy] = await this.redis.hmget(keys.job(jobId), 'spec', 'claimedBy');
      if (specText && claimedBy === `worker:${this.workerId}`) await this.requeue(jobId, JSON.parse(specText) as JobSpecRecord);
      await this.redis.multi().srem(keys.workerJobs(this.workerId), jobId).srem(keys.workerOrphans(this.workerId), jobId).exec();
    }
    await this.redis.del(keys.workerOrphans(this.workerId));
    for (const jobId of names) {
      const hash = await this.redis.hmget(keys.job(jobId), 'claimedBy', 'exit');
      if (hash[0] !== `worker:${this.workerId}`) continue; // removed from Redis, or never ours
      if (hash[1]) {
        // Ended and published; make sure the end of its log made it too.
        await this.publish(jobId).catch((err: unknown) => this.options.log.warn({ jobId, err }, 'could not republish an ended job'));
        continue;
      }
      this.running.set(jobId, null);
      const paths = jobPaths(this.config.jobsDir, jobId);
      if (!fs.existsSync(paths.runner) && !fs.existsSync(paths.exit)) this.launch(jobId);
      await this.publish(jobId).catch((err: unknown) => this.options.log.warn({ jobId, err }, 'could not adopt a job yet; trying again'));
    }
  }

  private async publish(jobId: string): Promise<void> {
    const paths = jobPaths(this.config.jobsDir, jobId);
    const spec = JSON.parse(await fs.promises.readFile(paths.spec, 'utf8')) as JobSpecRecord;
    const subscription = await this.publisher.follow({ jobId, paths, spec }, {
      ended: (state) => {
        if (!this.running.has(jobId)) return;
        this.running.delete(jobId);
        this.options.log.info({ jobId, status: state.status }, 'job ended');
        this.events.emit('slot');
        void this.heartbeat().catch(() => {});
      },
      failed: (error) => {
        if (this.running.has(jobId)) this.running.set(jobId, null);
        this.options.log.warn({ jobId, err: error }, 'publishing a job failed; resuming it shortly');
      },
    });
    if (this.running.has(jobId)) this.running.set(jobId, subscription);
  }

  /** Resumes publishing of jobs whose publishing failed (Redis was down). */
  private async resync(): Promise<void> {
    for (const [jobId, sub] of this.running) {
      if (sub || this.closed) continue;
      await this.publish(jobId).catch(() => {});
    }
  }

  /**
   * A job taken off the queue whose worker died before it claimed it was failed by BullMQ's stall
   * check (never retried behind our back); no runner ever saw it, so it is put back in the queue.
   */
  private async retryUntaken(): Promise<void> {
    for (const job of await this.queue.getFailed(0, 999)) {
      const claimed = await this.redis.hget(keys.job(String(job.data.jobId)), 'claimedBy');
      if (claimed === null && (await this.redis.exists(keys.job(String(job.data.jobId))))) await job.retry('failed');
    }
  }

  private async freeSlot(): Promise<void> {
    while (!this.closed && this.running.size >= this.config.maxConcurrent) await once(this.events, 'slot');
  }

  private async dispatchLoop(): Promise<void> {
    const token = `${this.workerId}:${process.pid}`;
    while (!this.closed) {
      try {
        await this.freeSlot();
        if (this.closed) return;
        const job = await this.bull.getNextJob(token, { block: true });
        if (!job) continue;
        await this.take(String(job.data.jobId));
        await job.moveToCompleted('taken', token, false);
      } catch (err) {
        if (this.closed) return;
        this.options.log.warn({ err }, 'taking a job failed; trying again');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Claims the job in Redis (at most once, whoever asks), writes its folder and starts its runner. */
  private async take(jobId: string): Promise<void> {
    const { log } = this.options;
    // Routed here for labels this worker carried then: restarted with fewer, it hands the job on
    // (to a worker carrying them, or fails it with the reason) rather than run it where it may not.
    const lacking = await this.labelsLacking(jobId);
    if (lacking.length) {
      const outcome = await handOn(this.redis, jobId, this.workerId, await liveWorkers(this.redis));
      log.warn({ jobId, lacking, outcome }, 'a job queued here asks for labels this worker no longer carries; handed on');
      return;
    }
    if (!(await this.redis.eval(CLAIM, 2, keys.job(jobId), keys.workerJobs(this.workerId), `worker:${this.workerId}`, jobId, randomUUID()))) {
      log.info({ jobId }, 'job already claimed (cancelled, or taken before); not run again');
      return;
    }
    const [specText, prompt] = await this.redis.hmget(keys.job(jobId), 'spec', 'prompt');
    if (!specText || prompt == null) {
      // Removed while queued: only our claim was left.
      await this.redis.multi().del(keys.job(jobId)).srem(keys.workerJobs(this.workerId), jobId).exec();
      return;
    }
    // The runner runs this host's claude and checks the cwd against this host's roots; a job with
    // approvals asks through an approval server on this host, writing into the folder made here.
    const paths = jobPaths(this.config.jobsDir, jobId);
    const sent = JSON.parse(specText) as JobSpecRecord;
    const spec: JobSpecRecord = { ...sent, claudeBin: this.config.claudeBin, allowedRoots: this.roots, args: approvalArgsAt(sent.args, paths.dir) };
    this.running.set(jobId, null);
    await this.redis.hset(keys.job(jobId), 'worker', this.workerId);
    try {
      await this.launcher.create(paths, spec, prompt);
    } catch (error) {
      this.running.delete(jobId);
      await this.failUnstarted(jobId, spec, `the worker ${this.workerId} could not write the job's folder: ${(error as Error).message}`);
      return;
    }
    await this.publish(jobId).catch((err: unknown) => log.warn({ jobId, err }, 'could not publish a new job yet'));
    this.launch(jobId);
  }

  /** The job's labels this worker does not carry (none for an unlabelled job, or one gone meanwhile). */
  private async labelsLacking(jobId: string): Promise<string[]> {
    const specText = await this.redis.hget(keys.job(jobId), 'spec');
    const labels = specText ? (JSON.parse(specText) as JobSpecRecord).labels ?? [] : [];
    return labels.filter((label) => !this.config.workerLabels.includes(label));
  }

  private launch(jobId: string): void {
    const paths = jobPaths(this.config.jobsDir, jobId);
    this.launcher.launch(jobId, paths).then(
      (pid) => this.options.log.info({ jobId, runnerPid: pid }, 'job launched'),
      (err: unknown) => void this.failLaunch(jobId, `the worker ${this.workerId} could not start the job runner: ${(err as Error).message}`),
    );
    const timer = setTimeout(() => {
      if (!fs.existsSync(paths.runner)) void this.failLaunch(jobId, `the job runner did not start within ${LAUNCH_TIMEOUT_MS / 1000} s on ${this.workerId}`);
    }, LAUNCH_TIMEOUT_MS);
    timer.unref();
  }

  /** The runner never claimed the job: claim it as the local dispatcher does, so no late runner starts. */
  private async failLaunch(jobId: string, error: string): Promise<void> {
    const paths = jobPaths(this.config.jobsDir, jobId);
    if (!claimForServer(paths, 'launch-timeout')) return;
    await writeFileAtomic(paths.exit, JSON.stringify(exitWithoutClaude('exited', { error })));
    this.options.log.error({ jobId }, error);
  }

  /** A job that has no folder here: its end is published straight into Redis. */
  private async failUnstarted(jobId: string, spec: JobSpecRecord, error: string): Promise<void> {
    const exit = exitWithoutClaude('exited', { error });
    const entry = { ...summaryFromSpec(spec, 'failed'), statusReason: error, endedAt: exit.endedAt };
    await this.publisher.publishState(jobId, { status: 'failed', entry, exit, outputBytes: 0, pendingApprovals: [] });
    await this.redis.xadd(keys.out(jobId), '0-1', 'e', 'failed').catch(() => {});
  }

  /** A job this worker claimed but never wrote to disk (it died in between) never ran: it waits in the queue again. */
  private async requeue(jobId: string, spec: JobSpecRecord): Promise<void> {
    await this.redis.multi()
      .hdel(keys.job(jobId), 'claimedBy', 'claimToken', 'exit')
      .hset(keys.job(jobId), 'entry', JSON.stringify(summaryFromSpec(spec, 'queued')))
      .exec();
    await this.queue.add('job', { jobId }, { ...QUEUED_JOB_OPTIONS, jobId: `${jobId}-again-${Date.now()}` });
    this.options.log.warn({ jobId }, 'a job this worker claimed but never started is queued again');
  }

  private async controlLoop(): Promise<void> {
    while (!this.closed) {
      let envelope: ControlEnvelope | null;
      try {
        envelope = await nextControl(this.blocking, this.workerId, CONTROL_BLOCK_SECONDS);
      } catch (err) {
        if (this.closed) return;
        this.options.log.debug({ err }, 'control read failed');
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      if (!envelope) continue;
      // One at a time would let a slow cancel hold up a page read: each request runs on its own.
      const current = envelope;
      void this.answer(current).then((reply) => replyControl(this.redis, current, reply)).catch((err: unknown) => this.options.log.warn({ err }, 'could not answer a control request'));
    }
  }

  private async answer(envelope: ControlEnvelope): Promise<ControlReply> {
    const { request } = envelope;
    try {
      const paths = jobPaths(this.config.jobsDir, request.jobId);
      switch (request.op) {
        case 'cancel': {
          const spec = JSON.parse(await fs.promises.readFile(paths.spec, 'utf8')) as JobSpecRecord;
          const status = async () => {
            const state = await readFolderState(paths, spec);
            await this.publisher.publishState(request.jobId, state).catch(() => {});
            return state.status;
          };
          const answer = await cancelJob(paths, { settleMs: Math.max(3000, Math.min(this.config.killGraceMs + 2000, 15_000)), status });
          return { ok: true, value: answer };
        }
        case 'remove': {
          const state = await readFolderState(paths, JSON.parse(await fs.promises.readFile(paths.spec, 'utf8')) as JobSpecRecord).catch(() => null);
          if (state && !isEnded(state.status) && state.status !== 'unknown') {
            return { ok: false, error: { name: 'JobConflict', message: `job ${request.jobId} is ${state.status} on its worker; cancel it first, then remove it` } };
          }
          this.running.get(request.jobId)?.close();
          this.running.delete(request.jobId);
          await fs.promises.rm(paths.dir, { recursive: true, force: true });
          return { ok: true, value: null };
        }
        case 'tail':
          return { ok: true, value: await readTail(paths.out, { tailBytes: request.tailBytes, ...(request.offset !== undefined ? { offset: request.offset } : {}) }) };
        case 'read':
          return { ok: true, value: (await readRange(paths.out, request.start, request.length).catch(() => Buffer.alloc(0))).toString('base64') };
        case 'approve': {
          // The local engine's own answer: once, into the folder the approval server waits on.
          const spec = await fs.promises.readFile(paths.spec, 'utf8').then((text) => JSON.parse(text) as JobSpecRecord, () => null);
          const ended = !spec || isEnded((await readFolderState(paths, spec)).status);
          return { ok: true, value: await answerApproval(paths.dir, request.answer, request.answeredBy, ended) };
        }
      }
    } catch (error) {
      return { ok: false, error: { name: (error as Error).name, message: (error as Error).message } };
    }
  }
}

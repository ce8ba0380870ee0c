// The job engine's face to the world: start / check / list / cancel / wait / remove. It holds the
// policy (limits, permission caps, grantable tools, the approvals switch, ownership, building the
// spec) and leaves where jobs live and run to a JobBackend (backend.ts). It knows nothing of HTTP or
// MCP; every face parses its input with the shared schemas (schemas.ts parseInput) and calls this.
import pino, { type Logger } from 'pino';
import type { Config } from '../config.js';
import type { ApproveInput, ApproveOutput } from '../approvals/schemas.js';
import type { FollowWatch, JobBackend, JobState } from './backend.js';
import { claudeArgs } from './claude-args.js';
import { InvalidInput, JobConflict, JobNotFound, LimitExceeded, StorageError } from './errors.js';
import type { Subscription } from './follower.js';
import { assertJobId, newJobId } from './ids.js';
import type { Launcher } from './launcher.js';
import { LocalBackend } from './local-backend.js';
import { isGrantable, isWithinCap } from './permission.js';
import { mayAccess, type JobSpecRecord, type Viewer } from './records.js';
import {
  isEnded,
  type CancelOutput, type CheckOutput, type JobStatus, type JobView, type ListInput, type ListOutput, type StartInput, type StartOutput,
} from './schemas.js';
import { StartLimiter, type StartLimit } from './start-limiter.js';
import type { IndexEntry } from './store.js';

const SWEEP_EVERY_MS = 10 * 60_000;
const WAIT_POLL_MS = 250;

export interface ServiceOptions {
  log?: Logger;
  /** Where jobs live and run; defaults to a LocalBackend opened with the options below. */
  backend?: JobBackend;
  /** Job starts per principal; defaults to an in-process limiter of config.maxStartsPerMinute. */
  limiter?: StartLimit;
  /** LocalBackend: starts runners (tests give a fake). */
  launcher?: Launcher;
  /** LocalBackend: the environment jobs inherit from (filtered by the allowlist); defaults to this process's. */
  serverEnv?: Record<string, string | undefined>;
  /** LocalBackend: how often a followed log is checked for growth. */
  followPollMs?: number;
}

export interface CheckOptions {
  /** How much readable output to return (default config.defaultTailBytes, at most config.maxTailBytes). */
  tailBytes?: number;
  /** Read the log from this byte offset instead of its end. */
  offset?: number;
}

export interface WaitOptions {
  /** Give up waiting after this long and answer with the job as it is. */
  timeoutMs: number;
  tailBytes?: number;
  signal?: AbortSignal;
  /** Called about once a second while waiting. */
  onProgress?: (elapsedMs: number, status: JobStatus) => void;
}

/** A job's raw log, for faces that page or stream it byte by byte; made once the viewer may see the job. */
export interface JobOutput {
  /** The log's size now. */
  size(): Promise<number>;
  /** At most `length` bytes from `start` (fewer at the end of the log). */
  read(start: number, length: number): Promise<Buffer>;
  /** Whole lines from `from` as they are written, until the job ends or the subscription is closed. */
  follow<S extends { status: JobStatus }>(from: number, watch: FollowWatch<S>): Subscription;
}

export class JobService {
  private sweepTimer: NodeJS.Timeout | undefined;
  private booting: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    readonly config: Config,
    private readonly backend: JobBackend,
    private readonly limiter: StartLimit,
    readonly log: Logger,
  ) {}

  /**
   * Opens the engine without waiting on its backend's start-up work (see LocalBackend.open); the
   * first retention sweep runs once that is done, then every ten minutes.
   */
  static async open(config: Config, options: ServiceOptions = {}): Promise<JobService> {
    const log = options.log ?? pino({ level: 'silent' });
    const backend = options.backend ?? await LocalBackend.open(config, {
      log,
      ...(options.launcher ? { launcher: options.launcher } : {}),
      ...(options.serverEnv ? { serverEnv: options.serverEnv } : {}),
      ...(options.followPollMs !== undefined ? { followPollMs: options.followPollMs } : {}),
    });
    const service = new JobService(config, backend, options.limiter ?? new StartLimiter(config.maxStartsPerMinute), log);
    const sweep = () => service.sweep().catch((err: unknown) => log.error({ err }, 'sweep failed'));
    service.booting = backend.ready.then(() => (service.closed ? 0 : sweep()));
    service.sweepTimer = setInterval(() => void sweep(), SWEEP_EVERY_MS);
    service.sweepTimer.unref();
    return service;
  }

  /**
   * @param options.jobId the id to create the job under, chosen beforehand (an Idempotency-Key
   *   written down before the start, so a retry after a crash finds the same job)
   */
  async start(request: StartInput, viewer: Viewer, options: { jobId?: string } = {}): Promise<StartOutput> {
    const promptBytes = Buffer.byteLength(request.prompt);
    if (promptBytes > this.config.maxPromptBytes) {
      throw new LimitExceeded(`prompt is ${promptBytes} bytes; the limit is ${this.config.maxPromptBytes}. Put long material in a file under the job's cwd and refer to it.`, undefined, 'size');
    }
    if (request.prompt.trim() === '') throw new InvalidInput('prompt: must not be blank', 'prompt');
    // Before anything touches the disk: a refused start counts too, so probing which paths exist
    // (cwd) costs the same as starting jobs.
    const retryAfter = await this.limiter.take(viewer.id);
    if (retryAfter !== null) {
      throw new LimitExceeded(`too many job starts: at most ${this.config.maxStartsPerMinute} a minute; try again in ${retryAfter} s`, retryAfter);
    }
    const permissionMode = request.permissionMode ?? this.config.defaultPermissionMode;
    if (request.permissionMode && !isWithinCap(permissionMode, this.config.maxPermissionMode)) {
      throw new InvalidInput(`permissionMode: '${permissionMode}' is above this server's maximum '${this.config.maxPermissionMode}'`, 'permissionMode');
    }
    if (request.approvals && !this.config.approvals) {
      throw new InvalidInput('approvals: this server does not take approvals (its operator turns them on with CLAUDE_ASYNC_APPROVALS=on); start without approvals', 'approvals');
    }
    // A default above the cap is capped; only a mode the client asked for is refused.
    const effectiveMode = isWithinCap(permissionMode, this.config.maxPermissionMode) ? permissionMode : this.config.maxPermissionMode;
    const ungrantable = request.allowedTools?.find((rule) => !isGrantable(rule, this.config.grantableTools));
    if (ungrantable !== undefined) {
      throw new InvalidInput(`allowedTools: '${ungrantable}' is not a tool rule this server lets clients pre-approve (allowed: ${this.config.grantableTools.join(', ') || 'none'}; the operator sets CLAUDE_ASYNC_GRANTABLE_TOOLS)`, 'allowedTools');
    }
    // A label named twice asks for nothing more; none at all is no constraint.
    const labels = [...new Set(request.labels ?? [])];
    const cwd = await this.backend.resolveCwd(request.cwd ?? this.config.defaultCwd, labels);

    const problem = await this.backend.writeProblem();
    if (problem) throw new StorageError(`Could not start the job: ${problem}. Reads still work; starts resume by themselves once it can be written.`);
    const jobId = options.jobId === undefined ? newJobId() : assertJobId(options.jobId);
    const createdAt = Date.now();
    const place = this.backend.placement(jobId);
    const { approvals, labels: _labels, ...claudeOptions } = request;
    const spec: JobSpecRecord = {
      version: 1, jobId, owner: viewer.id, createdAt, cwd, permissionMode: effectiveMode, promptBytes,
      claudeBin: this.config.claudeBin,
      args: claudeArgs({
        ...claudeOptions, permissionMode: effectiveMode,
        ...(approvals ? { approvals: { jobDir: place.jobDir, timeoutMs: this.config.approvalTimeoutMs } } : {}),
      }),
      timeoutMs: Math.min(this.config.jobTimeoutMs, (request.timeoutSeconds ?? Infinity) * 1000),
      killGraceMs: this.config.killGraceMs,
      resultWatchdogMs: this.config.resultWatchdogMs,
      maxLogBytes: this.config.maxLogBytes,
      maxLineBytes: this.config.maxLineBytes,
      allowedRoots: place.allowedRoots,
      ...(request.title ? { title: request.title } : {}),
      ...(request.model ? { model: request.model } : {}),
      ...(labels.length ? { labels } : {}),
      ...(request.resumeSessionId ? { resumeSessionId: request.resumeSessionId } : {}),
    };
    await this.backend.create(spec, request.prompt);
    this.log.info({ jobId, owner: viewer.id }, 'job created');
    return { jobId, status: 'queued', createdAt };
  }

  /** The start answer of a job created under this id for this viewer, or null if there is none. */
  async startedJob(jobId: string, viewer: Viewer): Promise<StartOutput | null> {
    const state = await this.backend.read(assertJobId(jobId)).catch(() => null);
    if (!state || !mayAccess(viewer, state.entry.owner)) return null;
    return { jobId: state.entry.jobId, status: 'queued', createdAt: state.entry.createdAt };
  }

  /** The job, its readable tail (or a page of it from `offset`) and, once ended, its result. */
  async check(jobId: string, viewer: Viewer, options: CheckOptions = {}): Promise<CheckOutput> {
    const tailBytes = this.tailBytes(options.tailBytes);
    const state = await this.state(jobId, viewer);
    const tail = await this.backend.tail(state.entry.jobId, { tailBytes, ...(options.offset !== undefined ? { offset: options.offset } : {}) });
    const { outputBytes: _stale, ...view } = jobView(state);
    return { ...view, ...tail };
  }

  /** The job without its output: status, times, exit, result, open questions. Cheap enough to poll. */
  async job(jobId: string, viewer: Viewer): Promise<JobView> {
    return jobView(await this.state(jobId, viewer));
  }

  /** Answers a job's approval question, once; only someone who may see the job may answer it. */
  async approve(answer: ApproveInput, viewer: Viewer): Promise<ApproveOutput> {
    const { entry } = await this.state(answer.jobId, viewer);
    const answered = await this.backend.answerApproval(entry.jobId, answer, viewer.id);
    this.log.info({ jobId: entry.jobId, approvalId: answer.approvalId, decision: answer.decision, by: viewer.id }, 'approval answered');
    return answered;
  }

  /** The raw log of a job the viewer may see. */
  async output(jobId: string, viewer: Viewer): Promise<JobOutput> {
    const id = (await this.state(jobId, viewer)).entry.jobId;
    return {
      size: () => this.backend.outputSize(id),
      read: (start, length) => this.backend.readOutput(id, start, length),
      follow: (from, watch) => this.backend.follow(id, from, watch),
    };
  }

  async list(viewer: Viewer, options: ListInput = {}): Promise<ListOutput> {
    const mine = (e: IndexEntry) => mayAccess(viewer, e.owner);
    const keep = options.status ? (e: IndexEntry) => mine(e) && e.status === options.status : mine;
    const page = await this.backend.list(options.limit ?? 20, options.cursor, keep);
    return page.nextCursor ? { jobs: page.entries, nextCursor: page.nextCursor } : { jobs: page.entries };
  }

  async cancel(jobId: string, viewer: Viewer): Promise<CancelOutput> {
    const { entry } = await this.state(jobId, viewer);
    return this.backend.cancel(entry.jobId);
  }

  /** Waits until the job ends (or the timeout / the signal), then answers as check does. */
  async wait(jobId: string, viewer: Viewer, options: WaitOptions): Promise<CheckOutput> {
    const { timeoutMs, signal, onProgress } = options;
    this.tailBytes(options.tailBytes); // refused before the wait, not after it
    const started = Date.now();
    let lastProgress = started;
    for (;;) {
      const { entry } = await this.state(jobId, viewer);
      const elapsed = Date.now() - started;
      if (isEnded(entry.status) || elapsed >= timeoutMs || signal?.aborted) break;
      if (Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        onProgress?.(elapsed, entry.status);
      }
      await sleep(Math.min(WAIT_POLL_MS, timeoutMs - elapsed), signal);
    }
    return this.check(jobId, viewer, options.tailBytes !== undefined ? { tailBytes: options.tailBytes } : {});
  }

  async remove(jobId: string, viewer: Viewer): Promise<{ jobId: string; removed: true }> {
    const { entry } = await this.state(jobId, viewer);
    if (!isEnded(entry.status) && entry.status !== 'unknown') {
      throw new JobConflict(`job ${entry.jobId} is ${entry.status}; cancel it first, then remove it`);
    }
    await this.backend.remove(entry.jobId);
    return { jobId: entry.jobId, removed: true };
  }

  /** Removes ended jobs older than the retention period. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.config.retentionMs <= 0) return 0;
    return this.backend.sweep(now - this.config.retentionMs);
  }

  stats(): { jobs: number; unended: number; followedJobs: number } {
    return this.backend.stats();
  }

  /** Lets pending dispatches and index writes finish; running jobs keep running. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.backend.close();
    await this.booting;
  }

  private tailBytes(requested: number | undefined): number {
    const tailBytes = requested ?? this.config.defaultTailBytes;
    if (tailBytes > this.config.maxTailBytes) {
      throw new InvalidInput(`tailBytes: at most ${this.config.maxTailBytes}; page through longer output with offset/nextOffset`, 'tailBytes');
    }
    return tailBytes;
  }

  /** The job as it is now, if the viewer may see it; someone else's job reads exactly like a missing one. */
  private async state(rawId: string, viewer: Viewer): Promise<JobState> {
    const jobId = assertJobId(rawId);
    const state = await this.backend.read(jobId);
    if (!state || !mayAccess(viewer, state.entry.owner)) throw new JobNotFound(jobId);
    return state;
  }
}

function jobView({ entry, exit, outputBytes, pendingApprovals }: JobState): JobView {
  const view: JobView = {
    ...entry, outputBytes,
    exitCode: exit?.exitCode ?? null,
    signal: exit?.signal ?? null,
    logCapped: exit?.logCapped ?? false,
  };
  if (exit?.result) view.result = exit.result;
  if (pendingApprovals.length) view.pendingApprovals = pendingApprovals;
  return view;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

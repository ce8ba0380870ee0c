// The job engine's face to the world: start / check / list / cancel / wait / remove, with limits,
// ownership, the queue and retention. It knows nothing of HTTP or MCP; every face calls this.
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { z } from 'zod';
import type { Config } from '../config.js';
import { readJsonIfExists } from '../files/atomic.js';
import { exitWithoutClaude } from './claim.js';
import { answerApproval, pendingApprovals } from '../approvals/answer.js';
import { approveInputSchema, type ApproveOutput } from '../approvals/schemas.js';
import { claudeArgs } from './claude-args.js';
import { Dispatcher } from './dispatcher.js';
import { jobEnvironment } from './environment.js';
import { InvalidInput, JobConflict, JobNotFound, LimitExceeded, StorageError } from './errors.js';
import { assertJobId, newJobId } from './ids.js';
import { ProcessLauncher, type Launcher } from './launcher.js';
import { jobPaths } from './layout.js';
import { cancelJob } from './canceller.js';
import { readTail } from './output.js';
import { isGrantable, isWithinCap } from './permission.js';
import { processHost } from './process/index.js';
import { mayAccess, type ExitRecord, type JobSpecRecord, type RunnerRecord, type Viewer } from './records.js';
import {
  ENDED_STATUSES, checkInputSchema, listInputSchema, startInputSchema,
  type CancelOutput, type CheckOutput, type ListOutput, type StartOutput,
} from './schemas.js';
import { StartLimiter } from './start-limiter.js';
import { releaseSlot } from './slots.js';
import { deriveStatus, readJobFacts, type JobFacts } from './status.js';
import { LowdbJobIndex, entryFromFolder, summaryFromSpec, type IndexEntry, type JobIndexStore } from './store.js';

const SWEEP_EVERY_MS = 10 * 60_000;
const WAIT_POLL_MS = 250;
const CANCEL_SETTLE_MS = 3000;
const SWEEP_BATCH = 64;

export interface ServiceOptions {
  log?: Logger;
  launcher?: Launcher;
  /** The environment jobs inherit from (filtered by the allowlist); defaults to this process's. */
  serverEnv?: Record<string, string | undefined>;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called about once a second while waiting. */
  onProgress?: (elapsedMs: number, status: string) => void;
}

/** Parses with a zod schema; the first problem becomes an InvalidInput naming its field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.') || undefined;
  throw new InvalidInput(field ? `${field}: ${issue.message}` : issue.message, field);
}

export class JobService {
  private readonly dispatcher: Dispatcher;
  private readonly limiter: StartLimiter;
  private sweepTimer: NodeJS.Timeout | undefined;
  private booting: Promise<void> = Promise.resolve();
  private closed = false;
  /** Jobs whose runner died while claude lives on, being ended now. */
  private readonly endingClaude = new Set<string>();

  private constructor(
    readonly config: Config,
    private readonly store: JobIndexStore,
    private readonly launcher: Launcher,
    private readonly roots: string[],
    readonly log: Logger,
  ) {
    this.limiter = new StartLimiter(config.maxStartsPerMinute);
    this.dispatcher = new Dispatcher({
      jobsDir: config.jobsDir, maxConcurrent: config.maxConcurrent, store, launcher, log,
      refresh: (entry) => this.refresh(entry),
    });
  }

  /**
   * Opens the engine without waiting on the folders: db.json is read, and the rebuild from the job
   * folders and the retention sweep run in the background, in batches, so a server listens at once
   * (even over 10,000 folders or with thousands of expired jobs). Until the rebuild is done, lists
   * are answered from the folders. A disk that refuses writes (full, read-only) does not stop it:
   * it answers reads, refuses starts with the reason, and recovers when writes work again.
   */
  static async open(config: Config, options: ServiceOptions = {}): Promise<JobService> {
    const log = options.log ?? pino({ level: 'silent' });
    await ensurePrivateDir(config.dataDir, log);
    if (config.jobsDir !== config.dataDir) await ensurePrivateDir(config.jobsDir, log);
    const roots: string[] = [];
    for (const root of config.allowedRoots) {
      try {
        roots.push(await fs.promises.realpath(root));
      } catch {
        log.warn({ root }, 'an allowed root does not exist; ignoring it');
      }
    }
    const { store, warnings } = await LowdbJobIndex.open(config.dataDir, config.jobsDir);
    for (const warning of warnings) log.warn(warning);
    const launcher = options.launcher ?? new ProcessLauncher(jobEnvironment(options.serverEnv ?? process.env, config.jobEnvNames));
    const service = new JobService(config, store, launcher, roots, log);
    service.dispatcher.kick();
    service.booting = service.bootInBackground(store);
    service.sweepTimer = setInterval(() => void service.sweep().catch((err: unknown) => log.error({ err }, 'sweep failed')), SWEEP_EVERY_MS);
    service.sweepTimer.unref();
    return service;
  }

  private async bootInBackground(store: LowdbJobIndex): Promise<void> {
    const started = Date.now();
    try {
      await store.rebuild(() => this.closed);
      if (this.closed) return;
      const problem = store.writeProblem();
      if (problem) this.log.warn(`${problem}: serving read-only (starts are refused) until it can be written; retrying`);
      this.log.info({ jobs: store.size(), ms: Date.now() - started }, 'job index rebuilt from the folders');
      this.dispatcher.kick();
      await this.sweep();
    } catch (error) {
      this.log.error({ err: error }, 'boot rebuild or sweep failed; the index is rebuilt on the next start');
    }
  }

  /**
   * @param options.jobId the id to create the job under, chosen beforehand (an Idempotency-Key
   *   written down before the start, so a retry after a crash finds the same job)
   */
  async start(input: unknown, viewer: Viewer, options: { jobId?: string } = {}): Promise<StartOutput> {
    const request = parseInput(startInputSchema, input);
    const promptBytes = Buffer.byteLength(request.prompt);
    if (promptBytes > this.config.maxPromptBytes) {
      throw new LimitExceeded(`prompt is ${promptBytes} bytes; the limit is ${this.config.maxPromptBytes}. Put long material in a file under the job's cwd and refer to it.`, undefined, 'size');
    }
    if (request.prompt.trim() === '') throw new InvalidInput('prompt: must not be blank', 'prompt');
    // Before anything touches the disk: a refused start counts too, so probing which paths exist
    // (cwd) costs the same as starting jobs.
    const retryAfter = this.limiter.take(viewer.id);
    if (retryAfter !== null) {
      throw new LimitExceeded(`too many job starts: at most ${this.config.maxStartsPerMinute} a minute; try again in ${retryAfter} s`, retryAfter);
    }
    const permissionMode = request.permissionMode ?? this.config.defaultPermissionMode;
    if (!isWithinCap(permissionMode, this.config.maxPermissionMode)) {
      if (request.permissionMode) {
        throw new InvalidInput(`permissionMode: '${permissionMode}' is above this server's maximum '${this.config.maxPermissionMode}'`, 'permissionMode');
      }
    }
    if (request.approvals && !this.config.approvals) {
      throw new InvalidInput('approvals: this server does not take approvals (its operator turns them on with CLAUDE_ASYNC_APPROVALS=on); start without approvals', 'approvals');
    }
    const effectiveMode = isWithinCap(permissionMode, this.config.maxPermissionMode) ? permissionMode : this.config.maxPermissionMode;
    const ungrantable = request.allowedTools?.find((rule) => !isGrantable(rule, this.config.grantableTools));
    if (ungrantable !== undefined) {
      throw new InvalidInput(`allowedTools: '${ungrantable}' is not a tool rule this server lets clients pre-approve (allowed: ${this.config.grantableTools.join(', ') || 'none'}; the operator sets CLAUDE_ASYNC_GRANTABLE_TOOLS)`, 'allowedTools');
    }
    const cwd = await this.resolveCwd(request.cwd ?? this.config.defaultCwd);

    await this.assertWritable();
    const jobId = options.jobId === undefined ? newJobId() : assertJobId(options.jobId);
    const createdAt = Date.now();
    const { approvals, ...claudeOptions } = request;
    const spec: JobSpecRecord = {
      version: 1, jobId, owner: viewer.id, createdAt, cwd, permissionMode: effectiveMode, promptBytes,
      claudeBin: this.config.claudeBin,
      args: claudeArgs({
        ...claudeOptions, permissionMode: effectiveMode,
        ...(approvals ? { approvals: { jobDir: jobPaths(this.config.jobsDir, jobId).dir, timeoutMs: this.config.approvalTimeoutMs } } : {}),
      }),
      timeoutMs: Math.min(this.config.jobTimeoutMs, (request.timeoutSeconds ?? Infinity) * 1000),
      killGraceMs: this.config.killGraceMs,
      resultWatchdogMs: this.config.resultWatchdogMs,
      maxLogBytes: this.config.maxLogBytes,
      maxLineBytes: this.config.maxLineBytes,
      allowedRoots: this.roots,
      ...(request.title ? { title: request.title } : {}),
      ...(request.model ? { model: request.model } : {}),
      ...(request.resumeSessionId ? { resumeSessionId: request.resumeSessionId } : {}),
    };
    await this.launcher.create(jobPaths(this.config.jobsDir, jobId), spec, request.prompt);
    this.store.put(summaryFromSpec(spec, 'queued'));
    this.dispatcher.kick();
    this.log.info({ jobId, owner: viewer.id }, 'job created');
    return { jobId, status: 'queued', createdAt };
  }

  /** The start answer of a job created under this id for this viewer, or null if there is none. */
  async startedJob(jobId: string, viewer: Viewer): Promise<StartOutput | null> {
    const spec = await readJsonIfExists<JobSpecRecord>(jobPaths(this.config.jobsDir, assertJobId(jobId)).spec).catch(() => null);
    if (!spec || !mayAccess(viewer, spec.owner)) return null;
    return { jobId: spec.jobId, status: 'queued', createdAt: spec.createdAt };
  }

  async check(input: unknown, viewer: Viewer): Promise<CheckOutput> {
    const request = parseInput(checkInputSchema, input);
    const tailBytes = request.tailBytes ?? this.config.defaultTailBytes;
    if (tailBytes > this.config.maxTailBytes) {
      throw new InvalidInput(`tailBytes: at most ${this.config.maxTailBytes}; page through longer output with offset/nextOffset`, 'tailBytes');
    }
    const entry = await this.find(request.jobId, viewer);
    const { entry: live, exit } = await this.inspect(entry);
    const tail = await readTail(jobPaths(this.config.jobsDir, live.jobId).out, {
      tailBytes,
      ...(request.offset !== undefined ? { offset: request.offset } : {}),
    });
    const answer: CheckOutput = {
      ...live, ...tail,
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      logCapped: exit?.logCapped ?? false,
    };
    if (exit?.result) answer.result = exit.result;
    if (!ENDED_STATUSES.has(live.status)) {
      const pending = await pendingApprovals(jobPaths(this.config.jobsDir, live.jobId).dir);
      if (pending.length) answer.pendingApprovals = pending;
    }
    return answer;
  }

  /** Answers a job's approval question, once; only someone who may see the job may answer it. */
  async approve(input: unknown, viewer: Viewer): Promise<ApproveOutput> {
    const request = parseInput(approveInputSchema, input);
    const live = await this.refresh(await this.find(request.jobId, viewer));
    const answered = await answerApproval(jobPaths(this.config.jobsDir, live.jobId).dir, request, viewer.id, ENDED_STATUSES.has(live.status));
    this.log.info({ jobId: live.jobId, approvalId: request.approvalId, decision: request.decision, by: viewer.id }, 'approval answered');
    return answered;
  }

  /** The raw log of a job the viewer may see, for faces that page or stream it byte by byte. */
  async outputFile(input: unknown, viewer: Viewer): Promise<string> {
    const { jobId } = parseInput(z.object({ jobId: z.string() }), input);
    return jobPaths(this.config.jobsDir, (await this.find(jobId, viewer)).jobId).out;
  }

  /**
   * A job's status, log size and how many questions it waits on, without reading any output: cheap
   * enough for watchers to poll.
   */
  async peek(input: unknown, viewer: Viewer): Promise<IndexEntry & { outputBytes: number; pendingApprovals?: number }> {
    const { jobId } = parseInput(z.object({ jobId: z.string() }), input);
    const live = await this.refresh(await this.find(jobId, viewer));
    const paths = jobPaths(this.config.jobsDir, live.jobId);
    const outputBytes = await fs.promises.stat(paths.out).then((s) => s.size, () => 0);
    const waiting = ENDED_STATUSES.has(live.status) ? 0 : (await pendingApprovals(paths.dir).catch(() => [])).length;
    return { ...live, outputBytes, ...(waiting ? { pendingApprovals: waiting } : {}) };
  }

  async list(input: unknown, viewer: Viewer): Promise<ListOutput> {
    const request = parseInput(listInputSchema, input);
    await this.store.refreshIfStale();
    const mine = (e: IndexEntry) => mayAccess(viewer, e.owner);
    const keep = request.status ? (e: IndexEntry) => mine(e) && e.status === request.status : mine;
    const fromIndex = this.store.complete;
    const page = fromIndex
      ? this.store.page(request.limit ?? 20, request.cursor, keep)
      : await this.store.pageFromFolders(request.limit ?? 20, request.cursor, keep);
    // Running jobs are looked at again (one may have just ended); queued ones only change when the
    // dispatcher acts on them, and it keeps the index in step itself. Jobs read from their folders
    // during the boot rebuild are looked at whatever they say.
    const look = (e: IndexEntry) => this.refresh(e).catch((error: unknown) => (error instanceof JobNotFound ? null : Promise.reject(error)));
    const looked = await Promise.all(page.entries.map((e) => (e.status === 'running' || (!fromIndex && !ENDED_STATUSES.has(e.status)) ? look(e) : e)));
    const jobs = looked.filter((e): e is IndexEntry => e !== null);
    return page.nextCursor ? { jobs, nextCursor: page.nextCursor } : { jobs };
  }

  async cancel(input: unknown, viewer: Viewer): Promise<CancelOutput> {
    const { jobId } = parseInput(z.object({ jobId: z.string() }), input);
    const entry = await this.find(jobId, viewer);
    const answer = await cancelJob(jobPaths(this.config.jobsDir, entry.jobId), {
      settleMs: Math.max(CANCEL_SETTLE_MS, Math.min(this.config.killGraceMs + 2000, 15_000)),
      status: async () => (await this.refresh(entry)).status,
    });
    if (answer.cancelled) this.dispatcher.kick();
    return answer;
  }

  async wait(input: unknown, timeoutMs: number, viewer: Viewer, options: WaitOptions = {}): Promise<CheckOutput> {
    const request = parseInput(checkInputSchema, input);
    const entry = await this.find(request.jobId, viewer);
    const started = Date.now();
    let lastProgress = started;
    for (;;) {
      const live = await this.refresh(entry);
      const elapsed = Date.now() - started;
      if (ENDED_STATUSES.has(live.status) || elapsed >= timeoutMs || options.signal?.aborted) break;
      if (Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        options.onProgress?.(elapsed, live.status);
      }
      await sleep(Math.min(WAIT_POLL_MS, timeoutMs - elapsed), options.signal);
    }
    return this.check(request, viewer);
  }

  async remove(input: unknown, viewer: Viewer): Promise<{ jobId: string; removed: true }> {
    const { jobId } = parseInput(z.object({ jobId: z.string() }), input);
    const entry = await this.refresh(await this.find(jobId, viewer));
    if (!ENDED_STATUSES.has(entry.status) && entry.status !== 'unknown') {
      throw new JobConflict(`job ${jobId} is ${entry.status}; cancel it first, then remove it`);
    }
    await this.removeFolder(jobId);
    return { jobId, removed: true };
  }

  /** Removes ended jobs older than the retention period. */
  async sweep(now = Date.now()): Promise<number> {
    if (this.config.retentionMs <= 0) return 0;
    let removed = 0;
    const cutoff = now - this.config.retentionMs;
    const old = this.store.page(Number.MAX_SAFE_INTEGER, undefined, (e) => ENDED_STATUSES.has(e.status) && (e.endedAt ?? e.createdAt) < cutoff);
    for (const entry of old.entries) {
      if (this.closed) break;
      // A few at a time, letting requests through: thousands of expired jobs must not stall the server.
      if (removed > 0 && removed % SWEEP_BATCH === 0) await new Promise((r) => setImmediate(r));
      await this.removeFolder(entry.jobId);
      removed++;
    }
    if (removed) this.log.info({ removed }, 'retention sweep removed old jobs');
    return removed;
  }

  stats(): { jobs: number; unended: number } {
    return { jobs: this.store.size(), unended: this.store.unended().length };
  }

  /** Lets pending dispatches and index writes finish; running jobs keep running. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.dispatcher.close();
    await this.booting;
    await this.dispatcher.idle();
    await this.store.flush().catch((error: unknown) => this.log.warn({ err: error }, 'the job index could not be written at shutdown; it is rebuilt from the folders on the next start'));
    this.launcher.close();
  }

  /** Starts are refused while the index cannot be written; one fresh try first, so recovery is immediate. */
  private async assertWritable(): Promise<void> {
    if (!this.store.writeProblem()) return;
    await this.store.flush().catch(() => {});
    const problem = this.store.writeProblem();
    if (problem) throw new StorageError(`Could not start the job: ${problem}. Reads still work; starts resume by themselves once it can be written.`);
  }

  private async removeFolder(jobId: string): Promise<void> {
    await fs.promises.rm(jobPaths(this.config.jobsDir, jobId).dir, { recursive: true, force: true });
    releaseSlot(this.config.jobsDir, jobId);
    this.store.delete(jobId);
  }

  /** The index entry for an id the viewer may see; someone else's job reads exactly like a missing one. */
  private async find(rawId: string, viewer: Viewer): Promise<IndexEntry> {
    const jobId = assertJobId(rawId);
    let entry = this.store.get(jobId);
    if (!entry) {
      // Made by another process on the same data dir (stdio + HTTP)?
      entry = (await entryFromFolder(this.config.jobsDir, jobId).catch(() => null)) ?? undefined;
      if (entry && fs.existsSync(jobPaths(this.config.jobsDir, jobId).dir)) this.store.put(entry);
      else entry = undefined;
    }
    if (!entry || !mayAccess(viewer, entry.owner)) throw new JobNotFound(jobId);
    return entry;
  }

  /** Re-derives a job's status from disk and keeps the index in step. */
  private async refresh(entry: IndexEntry): Promise<IndexEntry> {
    return (await this.inspect(entry)).entry;
  }

  private async inspect(entry: IndexEntry): Promise<{ entry: IndexEntry; exit: ExitRecord | null }> {
    const paths = jobPaths(this.config.jobsDir, entry.jobId);
    let facts: JobFacts;
    try {
      facts = await readJobFacts(paths, entry.status !== 'unknown');
    } catch {
      facts = { spec: 'unreadable', runner: null, exit: null, runnerAlive: false };
    }
    if (facts.spec === 'missing' && !(await exists(paths.dir))) {
      // Removed by another process sharing the data dir: gone everywhere at once.
      this.store.delete(entry.jobId);
      throw new JobNotFound(entry.jobId);
    }
    if (!facts.runnerAlive && facts.claudeAlive && facts.runner && facts.runner !== 'unreadable') this.endUnrecordedClaude(entry.jobId, facts.runner);
    const launching = this.dispatcher.isLaunching(entry.jobId) && !facts.runner && !facts.exit;
    const derived = launching ? { status: 'running' as const, reason: 'starting' } : deriveStatus(facts);
    const runner = facts.runner && facts.runner !== 'unreadable' ? facts.runner : null;
    // A runner killed after claude's result: the result in the log stands in for the exit record.
    // It ended when its log was last written.
    const logEndedAt = async () => (await fs.promises.stat(paths.out).catch(() => null))?.mtimeMs ?? Date.now();
    const exit = facts.exit && facts.exit !== 'unreadable' ? facts.exit
      : facts.logResult ? { ...exitWithoutClaude('exited'), result: facts.logResult, endedAt: Math.round(await logEndedAt()), ...(runner?.startedAt ? { startedAt: runner.startedAt } : {}) } : null;
    const next: IndexEntry = { ...entry, status: derived.status };
    delete next.statusReason;
    if (derived.reason) next.statusReason = derived.reason;
    const startedAt = exit?.startedAt ?? (runner?.claimedBy ? undefined : runner?.startedAt);
    if (startedAt) next.startedAt = startedAt;
    if (exit) next.endedAt = exit.endedAt;
    if (next.status !== entry.status || next.statusReason !== entry.statusReason || next.endedAt !== entry.endedAt || next.startedAt !== entry.startedAt) {
      if (this.store.get(entry.jobId)) this.store.put(next);
      if (ENDED_STATUSES.has(next.status) && !ENDED_STATUSES.has(entry.status)) this.dispatcher.kick();
    }
    return { entry: next, exit };
  }

  /**
   * Claude outlived its runner: nothing records its output or its exit, and it still holds a slot.
   * End its group (SIGTERM, then SIGKILL after the grace period); the job then reads `orphaned`.
   */
  private endUnrecordedClaude(jobId: string, runner: RunnerRecord): void {
    const pid = runner.claudePid;
    if (!pid || this.endingClaude.has(jobId)) return;
    this.endingClaude.add(jobId);
    this.log.warn({ jobId, claudePid: pid }, 'the runner is gone but claude still runs; ending claude');
    processHost.stopTree(pid, 'graceful');
    const timer = setTimeout(() => {
      if (processHost.isSameProcessAlive(pid, runner.claudeStartTime)) processHost.stopTree(pid, 'force');
      this.endingClaude.delete(jobId);
    }, this.config.killGraceMs);
    timer.unref();
  }

  private async resolveCwd(requested: string): Promise<string> {
    if (!path.isAbsolute(requested)) throw new InvalidInput(`cwd: '${requested}' must be an absolute path`, 'cwd');
    // One answer for missing, outside the roots and not a directory: a caller must not learn which
    // paths exist on the host, nor where the roots are.
    const refused = new InvalidInput(`cwd: '${requested}' does not exist, is not a directory or is outside the allowed roots; ask the operator which folders jobs may use`, 'cwd');
    const real = await fs.promises.realpath(requested).catch(() => null);
    // realpath first: a symlink inside a root that points outside it must not pass.
    if (real === null || !this.roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) throw refused;
    if (!(await fs.promises.stat(real).then((s) => s.isDirectory(), () => false))) throw refused;
    return real;
  }
}

/**
 * The data and jobs folders hold prompts, output and tokens: 0700 whatever the umask or however
 * they were made. A folder we cannot fix is reported, not fatal. A folder we cannot create (a
 * full or read-only disk) is left for the first write to report.
 */
async function ensurePrivateDir(dir: string, log: Logger): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    log.warn({ dir, err: error }, 'could not create a data folder; starts are refused until it can be');
    return;
  }
  if (process.platform === 'win32') return;
  try {
    const mode = (await fs.promises.stat(dir)).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    await fs.promises.chmod(dir, 0o700);
    log.info({ dir, was: mode.toString(8) }, 'made a data folder private (0700)');
  } catch (error) {
    log.warn({ dir, err: error }, `${dir} is readable by other users and could not be made 0700: other users may read job prompts and output; chmod 700 it`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.promises.stat(file);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
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

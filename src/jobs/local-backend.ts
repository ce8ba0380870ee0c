// Jobs on this host: one folder per job under the jobs folder (the truth), a lowdb index of them
// for fast lists, a dispatcher that keeps at most maxConcurrent detached runners going, and log
// followers shared by every watcher of a job. Several servers (stdio + HTTP) may share one data dir.
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import type { Config } from '../config.js';
import { answerApproval, pendingApprovals } from '../approvals/answer.js';
import type { ApproveInput, ApproveOutput } from '../approvals/schemas.js';
import type { BackendStats, FollowWatch, JobBackend, JobPlacement, JobState, ListPage } from './backend.js';
import { cancelJob } from './canceller.js';
import { Dispatcher } from './dispatcher.js';
import { jobEnvironment } from './environment.js';
import { InvalidInput, JobNotFound } from './errors.js';
import { LogFollowers, type Subscription } from './follower.js';
import { ProcessLauncher, type Launcher } from './launcher.js';
import { missingLabels, showLabels } from './labels.js';
import { jobPaths } from './layout.js';
import { fileSize, readRange, readTail, type TailRequest, type TailResult } from './output.js';
import { ensurePrivateDir } from './private-dir.js';
import type { JobSpecRecord } from './records.js';
import { realRoots, resolveWithinRoots } from './roots.js';
import { isEnded, type CancelOutput, type JobStatus } from './schemas.js';
import { releaseSlot } from './slots.js';
import { StatusReader } from './status-reader.js';
import { LowdbJobIndex, summaryFromSpec, type IndexEntry } from './store.js';

const CANCEL_SETTLE_MS = 3000;
const SWEEP_BATCH = 64;

export interface LocalBackendOptions {
  log?: Logger;
  /** Starts runners; defaults to detached processes with the allowlisted environment. */
  launcher?: Launcher;
  /** The environment jobs inherit from (filtered by the allowlist); defaults to this process's. */
  serverEnv?: Record<string, string | undefined>;
  /** How often a followed log is checked for growth. */
  followPollMs?: number;
}

export class LocalBackend implements JobBackend {
  ready: Promise<void> = Promise.resolve();
  private readonly dispatcher: Dispatcher;
  private readonly reader: StatusReader;
  private readonly followers: LogFollowers;
  private sweeping: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly config: Config,
    private readonly store: LowdbJobIndex,
    private readonly launcher: Launcher,
    private readonly roots: string[],
    private readonly log: Logger,
    followPollMs: number,
  ) {
    this.followers = new LogFollowers({ pollMs: followPollMs });
    this.reader = new StatusReader({
      jobsDir: config.jobsDir, store, killGraceMs: config.killGraceMs, log,
      isLaunching: (jobId) => this.dispatcher.isLaunching(jobId),
      onEnded: () => this.dispatcher.kick(),
    });
    this.dispatcher = new Dispatcher({
      jobsDir: config.jobsDir, maxConcurrent: config.maxConcurrent, store, launcher, log,
      refresh: (entry) => this.reader.refresh(entry),
    });
  }

  /**
   * Opens without waiting on the folders: db.json is read, and the rebuild from the job folders runs
   * in the background, in batches, so a server listens at once (even over 10,000 folders). Until
   * the rebuild is done, lists are answered from the folders. A disk that refuses writes (full,
   * read-only) does not stop it: it answers reads, refuses starts with the reason, and recovers
   * when writes work again.
   */
  static async open(config: Config, options: LocalBackendOptions = {}): Promise<LocalBackend> {
    const log = options.log ?? pino({ level: 'silent' });
    await ensurePrivateDir(config.dataDir, log);
    if (config.jobsDir !== config.dataDir) await ensurePrivateDir(config.jobsDir, log);
    const roots = await realRoots(config.allowedRoots, log);
    const { store, warnings } = await LowdbJobIndex.open(config.dataDir, config.jobsDir);
    for (const warning of warnings) log.warn(warning);
    const launcher = options.launcher ?? new ProcessLauncher(jobEnvironment(options.serverEnv ?? process.env, config.jobEnvNames));
    const backend = new LocalBackend(config, store, launcher, roots, log, options.followPollMs ?? 250);
    backend.dispatcher.kick();
    backend.ready = backend.rebuildInBackground();
    return backend;
  }

  private async rebuildInBackground(): Promise<void> {
    const started = Date.now();
    try {
      await this.store.rebuild(() => this.closed);
      if (this.closed) return;
      const problem = this.store.writeProblem();
      if (problem) this.log.warn(`${problem}: serving read-only (starts are refused) until it can be written; retrying`);
      this.log.info({ jobs: this.store.size(), ms: Date.now() - started }, 'job index rebuilt from the folders');
      this.dispatcher.kick();
    } catch (error) {
      this.log.error({ err: error }, 'boot rebuild failed; the index is rebuilt on the next start');
    }
  }

  /**
   * This host is the only place a job can run, so it runs a labelled job only when it carries every
   * label itself (CLAUDE_ASYNC_WORKER_LABELS, the same rule a worker is chosen by): a client that
   * names labels works unchanged against one box whose operator declared them, and is refused, not
   * silently run on the wrong kind of host, everywhere else.
   */
  async resolveCwd(requested: string, labels: readonly string[] = []): Promise<string> {
    const missing = missingLabels(this.config.workerLabels, labels);
    if (missing.length) {
      const carried = this.config.workerLabels.length ? `carries only ${showLabels(this.config.workerLabels)}` : 'carries no labels';
      throw new InvalidInput(`labels: this server runs every job on its own host, which ${carried} (CLAUDE_ASYNC_WORKER_LABELS), so a job that needs ${showLabels(missing)} cannot run here; start it without those labels, or on a server whose hosts carry them`, 'labels');
    }
    return resolveWithinRoots(requested, this.roots);
  }

  placement(jobId: string): JobPlacement {
    return { jobDir: jobPaths(this.config.jobsDir, jobId).dir, allowedRoots: this.roots };
  }

  async create(spec: JobSpecRecord, prompt: string): Promise<void> {
    await this.launcher.create(jobPaths(this.config.jobsDir, spec.jobId), spec, prompt);
    this.store.put(summaryFromSpec(spec, 'queued'));
    this.dispatcher.kick();
  }

  async read(jobId: string): Promise<JobState | null> {
    const found = await this.reader.find(jobId);
    if (!found) return null;
    const { entry, exit } = await this.reader.inspect(found);
    const paths = jobPaths(this.config.jobsDir, jobId);
    const outputBytes = await fs.promises.stat(paths.out).then((s) => s.size, () => 0);
    const pending = isEnded(entry.status) ? [] : await pendingApprovals(paths.dir).catch(() => []);
    return { entry, exit, outputBytes, pendingApprovals: pending };
  }

  async list(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): Promise<ListPage> {
    await this.store.refreshIfStale();
    const fromIndex = this.store.complete;
    const page = fromIndex ? this.store.page(limit, cursor, keep) : await this.store.pageFromFolders(limit, cursor, keep);
    // Running jobs are looked at again (one may have just ended); queued ones only change when the
    // dispatcher acts on them, and it keeps the index in step itself. Jobs read from their folders
    // during the boot rebuild are looked at whatever they say.
    const look = (e: IndexEntry) => this.reader.refresh(e).catch((error: unknown) => (error instanceof JobNotFound ? null : Promise.reject(error)));
    const looked = await Promise.all(page.entries.map((e) => (e.status === 'running' || (!fromIndex && !isEnded(e.status)) ? look(e) : e)));
    const entries = looked.filter((e): e is IndexEntry => e !== null);
    return page.nextCursor ? { entries, nextCursor: page.nextCursor } : { entries };
  }

  tail(jobId: string, request: TailRequest): Promise<TailResult> {
    return readTail(this.outFile(jobId), request);
  }

  readOutput(jobId: string, start: number, length: number): Promise<Buffer> {
    return readRange(this.outFile(jobId), start, length).catch((error: unknown) => {
      // A log not written yet reads as an empty one.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw error;
    });
  }

  outputSize(jobId: string): Promise<number> {
    return fileSize(this.outFile(jobId));
  }

  follow<S extends { status: JobStatus }>(jobId: string, from: number, watch: FollowWatch<S>): Subscription {
    return this.followers.follow({ file: this.outFile(jobId), status: watch.status }, from, watch);
  }

  async cancel(jobId: string): Promise<CancelOutput> {
    const entry = await this.found(jobId);
    const answer = await cancelJob(jobPaths(this.config.jobsDir, jobId), {
      settleMs: Math.max(CANCEL_SETTLE_MS, Math.min(this.config.killGraceMs + 2000, 15_000)),
      status: async () => (await this.reader.refresh(entry)).status,
    });
    if (answer.cancelled) this.dispatcher.kick();
    return answer;
  }

  async answerApproval(jobId: string, answer: ApproveInput, answeredBy: string): Promise<ApproveOutput> {
    const live = await this.reader.refresh(await this.found(jobId));
    return answerApproval(jobPaths(this.config.jobsDir, jobId).dir, answer, answeredBy, isEnded(live.status));
  }

  async remove(jobId: string): Promise<void> {
    await fs.promises.rm(jobPaths(this.config.jobsDir, jobId).dir, { recursive: true, force: true });
    releaseSlot(this.config.jobsDir, jobId);
    this.store.delete(jobId);
  }

  sweep(cutoff: number): Promise<number> {
    const run = this.sweeping.then(() => this.sweepOnce(cutoff));
    this.sweeping = run.catch(() => {});
    return run;
  }

  private async sweepOnce(cutoff: number): Promise<number> {
    let removed = 0;
    const old = this.store.page(Number.MAX_SAFE_INTEGER, undefined, (e) => isEnded(e.status) && (e.endedAt ?? e.createdAt) < cutoff);
    for (const entry of old.entries) {
      if (this.closed) break;
      // A few at a time, letting requests through: thousands of expired jobs must not stall the server.
      if (removed > 0 && removed % SWEEP_BATCH === 0) await new Promise((r) => setImmediate(r));
      await this.remove(entry.jobId);
      removed++;
    }
    if (removed) this.log.info({ removed }, 'retention sweep removed old jobs');
    return removed;
  }

  /** One fresh try first when the index could not be written, so recovery is immediate. */
  async writeProblem(): Promise<string | null> {
    if (!this.store.writeProblem()) return null;
    await this.store.flush().catch(() => {});
    return this.store.writeProblem() ?? null;
  }

  stats(): BackendStats {
    return { jobs: this.store.size(), unended: this.store.unended().length, followedJobs: this.followers.stats().jobs };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.dispatcher.close();
    await this.ready;
    await this.sweeping;
    await this.dispatcher.idle();
    await this.store.flush().catch((error: unknown) => this.log.warn({ err: error }, 'the job index could not be written at shutdown; it is rebuilt from the folders on the next start'));
    this.launcher.close();
  }

  private outFile(jobId: string): string {
    return jobPaths(this.config.jobsDir, jobId).out;
  }

  private async found(jobId: string): Promise<IndexEntry> {
    const entry = await this.reader.find(jobId);
    if (!entry) throw new JobNotFound(jobId);
    return entry;
  }
}

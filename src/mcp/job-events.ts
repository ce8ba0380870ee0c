// Tells a session's client how the jobs it started are doing, as the capabilities it was promised
// say: `notifications/message` (logging) when a job is created, starts and ends — info, or warning
// when it did not complete, with the reason — and `notifications/tasks/status` for jobs started as
// tasks, also when a question of the job (approvals) opens or is answered: the task goes to
// input_required and back to working while the job's own status stays `running`. It polls the disk like the resource watcher (other processes run the jobs), only while it
// follows something, and stops following a job once it has ended.
import { JobNotFound } from '../jobs/errors.js';
import type { Viewer } from '../jobs/records.js';
import { isEnded, type JobStatus, type JobSummary } from '../jobs/schemas.js';
import type { JobService } from '../jobs/service.js';
import { PollChain } from './poll-chain.js';

export type LogLevel = 'info' | 'warning';

/** A job as the watcher sees it: its summary and how many questions it has open (JobService.job). */
export type WatchedJob = JobSummary & { pendingApprovals?: readonly unknown[] };

/** What was last seen of a followed job. */
export interface SeenState {
  status: JobStatus;
  pendingApprovals: number;
}

export interface LifecycleNotifier {
  /** A log line for the client; the SDK drops it below the session's logging/setLevel. */
  log(level: LogLevel, data: Record<string, unknown>): Promise<void>;
  /** The job (a task) moved on from `previous`: send notifications/tasks/status if its task status changed. */
  taskStatus(job: WatchedJob, previous: SeenState): Promise<void>;
}

export interface LifecycleOptions {
  pollMs?: number;
  /** Most jobs followed at once per session; the oldest is dropped past it. */
  maxFollowed?: number;
  log?: (error: unknown) => void;
}

interface Followed extends SeenState {
  asTask: boolean;
}

const seenOf = (job: WatchedJob): SeenState => ({ status: job.status, pendingApprovals: job.pendingApprovals?.length ?? 0 });

/** The log line for a job that reached `status`. */
function lifecycleEntry(job: Pick<JobSummary, 'jobId' | 'status' | 'statusReason'>, previous: JobStatus | undefined): { level: LogLevel; data: Record<string, unknown> } {
  const event = previous === undefined ? 'created' : job.status === 'running' ? 'started' : isEnded(job.status) ? 'ended' : 'changed';
  const level: LogLevel = isEnded(job.status) && job.status !== 'completed' ? 'warning' : 'info';
  const reason = job.statusReason ? `: ${job.statusReason}` : '';
  return {
    level,
    data: { event, jobId: job.jobId, status: job.status, ...(job.statusReason ? { reason: job.statusReason } : {}), message: `job ${job.jobId} ${event} (${job.status}${reason})` },
  };
}

export class JobLifecycle {
  private readonly followed = new Map<string, Followed>();
  private readonly maxFollowed: number;
  private readonly poller: PollChain;
  private closed = false;

  constructor(private readonly service: Pick<JobService, 'job'>, private readonly viewer: () => Viewer, private readonly notify: LifecycleNotifier, private readonly options: LifecycleOptions = {}) {
    this.poller = new PollChain(options.pollMs ?? 1000, () => this.poll(), () => !this.closed && this.followed.size > 0, (error) => this.options.log?.(error));
    this.maxFollowed = options.maxFollowed ?? 100;
  }

  get followedCount(): number {
    return this.followed.size;
  }

  /** Start following a job this session just created; says "created" at once. */
  follow(jobId: string, asTask: boolean): void {
    if (this.closed) return;
    void this.service.job(jobId, this.viewer()).then(async (job) => {
      if (this.closed) return;
      if (this.followed.size >= this.maxFollowed) {
        const oldest = this.followed.keys().next().value;
        if (oldest !== undefined) this.followed.delete(oldest);
      }
      this.followed.set(jobId, { asTask, ...seenOf(job) });
      await this.tell(job, undefined, asTask);
      if (isEnded(job.status)) this.followed.delete(jobId);
      this.poller.start();
    }).catch((error: unknown) => this.options.log?.(error));
  }

  close(): void {
    this.closed = true;
    this.poller.stop();
    this.followed.clear();
  }

  /** One look at every followed job; exposed for tests. */
  async poll(): Promise<void> {
    for (const [jobId, entry] of [...this.followed]) {
      let job: WatchedJob;
      try {
        job = await this.service.job(jobId, this.viewer());
      } catch (error) {
        if (!(error instanceof JobNotFound)) this.options.log?.(error);
        else this.followed.delete(jobId); // removed meanwhile: nothing more to say
        continue;
      }
      if (this.closed) return;
      const seen = seenOf(job);
      if (seen.status === entry.status && seen.pendingApprovals === entry.pendingApprovals) continue;
      const previous: SeenState = { status: entry.status, pendingApprovals: entry.pendingApprovals };
      Object.assign(entry, seen);
      if (isEnded(job.status)) this.followed.delete(jobId);
      await this.tell(job, previous, entry.asTask);
    }
  }

  private async tell(job: WatchedJob, previous: SeenState | undefined, asTask: boolean): Promise<void> {
    // The log tells job status changes; a question opening or closing is for the task status alone.
    if (previous === undefined || previous.status !== job.status) {
      const { level, data } = lifecycleEntry(job, previous?.status);
      await this.notify.log(level, data).catch((error: unknown) => this.options.log?.(error));
    }
    if (asTask && previous !== undefined) await this.notify.taskStatus(job, previous).catch((error: unknown) => this.options.log?.(error));
  }
}

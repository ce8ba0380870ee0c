// Tells a session's client how the jobs it started are doing, as the capabilities it was promised
// say: `notifications/message` (logging) when a job is created, starts and ends — info, or warning
// when it did not complete, with the reason — and `notifications/tasks/status` for jobs started as
// tasks. It polls the disk like the resource watcher (other processes run the jobs), only while it
// follows something, and stops following a job once it has ended.
import { JobNotFound } from '../jobs/errors.js';
import type { Viewer } from '../jobs/records.js';
import { isEnded, type JobStatus, type JobSummary } from '../jobs/schemas.js';
import type { JobService } from '../jobs/service.js';

export type LogLevel = 'info' | 'warning';

export interface LifecycleNotifier {
  /** A log line for the client; the SDK drops it below the session's logging/setLevel. */
  log(level: LogLevel, data: Record<string, unknown>): Promise<void>;
  /** The job (a task) moved on from `previous`: send notifications/tasks/status if its task status changed. */
  taskStatus(job: JobSummary, previous: JobStatus): Promise<void>;
}

export interface LifecycleOptions {
  pollMs?: number;
  /** Most jobs followed at once per session; the oldest is dropped past it. */
  maxFollowed?: number;
  log?: (error: unknown) => void;
}

interface Followed {
  asTask: boolean;
  status: JobStatus;
}

/** The log line for a job that reached `status`; pure, so tests read it without a server. */
export function lifecycleEntry(job: Pick<JobSummary, 'jobId' | 'status' | 'statusReason'>, previous: JobStatus | undefined): { level: LogLevel; data: Record<string, unknown> } {
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
  private readonly pollMs: number;
  private readonly maxFollowed: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly service: Pick<JobService, 'job'>, private readonly viewer: () => Viewer, private readonly notify: LifecycleNotifier, private readonly options: LifecycleOptions = {}) {
    this.pollMs = options.pollMs ?? 1000;
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
      this.followed.set(jobId, { asTask, status: job.status });
      await this.tell(job, undefined, asTask);
      if (isEnded(job.status)) this.followed.delete(jobId);
      this.schedule();
    }).catch((error: unknown) => this.options.log?.(error));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.followed.clear();
  }

  /** One look at every followed job; exposed for tests. */
  async poll(): Promise<void> {
    for (const [jobId, entry] of [...this.followed]) {
      let job: JobSummary;
      try {
        job = await this.service.job(jobId, this.viewer());
      } catch (error) {
        if (!(error instanceof JobNotFound)) this.options.log?.(error);
        else this.followed.delete(jobId); // removed meanwhile: nothing more to say
        continue;
      }
      if (this.closed) return;
      if (job.status === entry.status) continue;
      const previous = entry.status;
      entry.status = job.status;
      if (isEnded(job.status)) this.followed.delete(jobId);
      await this.tell(job, previous, entry.asTask);
    }
  }

  private async tell(job: JobSummary, previous: JobStatus | undefined, asTask: boolean): Promise<void> {
    const { level, data } = lifecycleEntry(job, previous);
    await this.notify.log(level, data).catch((error: unknown) => this.options.log?.(error));
    if (asTask && previous !== undefined) await this.notify.taskStatus(job, previous).catch((error: unknown) => this.options.log?.(error));
  }

  private schedule(): void {
    if (this.timer || this.closed || this.followed.size === 0) return;
    // A chain of timeouts: a slow disk never stacks polls.
    const timer = setTimeout(() => {
      void this.poll()
        .catch((error: unknown) => this.options.log?.(error))
        .finally(() => {
          if (this.timer !== timer) return;
          this.timer = undefined;
          this.schedule();
        });
    }, this.pollMs);
    timer.unref();
    this.timer = timer;
  }
}

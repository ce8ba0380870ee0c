// Watches what a session's client asked to hear about: the jobs behind its resource subscriptions
// (notifications/resources/updated, at most one a second per resource) and its list of jobs
// (notifications/resources/list_changed). It polls the disk, because the disk is the truth and other
// processes write it (the runners, the stdio face, a second server); nothing runs while nothing is
// watched, and close() stops every timer.
import { JobNotFound, LimitExceeded } from '../jobs/errors.js';
import type { Viewer } from '../jobs/records.js';
import type { JobService } from '../jobs/service.js';
import { PollChain } from './poll-chain.js';

export interface Notifier {
  updated(uri: string): Promise<void>;
  listChanged(): Promise<void>;
}

export interface WatcherOptions {
  /** How often subscribed jobs are looked at while any subscription exists. */
  pollMs?: number;
  /** The least time between two `updated` notifications for one resource. */
  minGapMs?: number;
  /** How often the principal's recent jobs are compared for list_changed. */
  listCheckMs?: number;
  /** Most resources one session may subscribe to; past it subscribe is refused. */
  maxSubscriptions?: number;
  log?: (error: unknown) => void;
  /** The clock the notification gap is measured with (tests inject one). */
  now?: () => number;
}

const DEFAULT_MAX_SUBSCRIPTIONS = 100;

interface Subscription {
  uri: string;
  jobId: string;
  /** The job's fingerprint the client last heard of (at subscribe time, or in the last notification). */
  told: string;
  toldAt: number;
}

type WatchedService = Pick<JobService, 'job' | 'list'>;

const GONE = 'gone';
const LIST_SIZE = 50;

/** What makes a job resource different for a client: a new status or more output. */
export function jobFingerprint(job: { status: string; statusReason?: string | undefined; outputBytes: number; pendingApprovals?: readonly { approvalId: string }[] | undefined }): string {
  // A question opening (approvals) is news to a subscriber even when the log did not move.
  return `${job.status}|${job.statusReason ?? ''}|${job.outputBytes}|${(job.pendingApprovals ?? []).map((a) => a.approvalId).join(',')}`;
}

export class JobWatcher {
  private readonly subs = new Map<string, Subscription>();
  private readonly poller: PollChain;
  private readonly minGapMs: number;
  private readonly listCheckMs: number;
  private listTimer: NodeJS.Timeout | undefined;
  private listSeen: string | undefined;
  private closed = false;
  private readonly viewer: () => Viewer;
  private readonly maxSubscriptions: number;

  /**
   * `viewer` is read at each look: over HTTP it is the rights of the session's latest request, so a
   * token that lost admin stops hearing about other owners' jobs.
   */
  constructor(private readonly service: WatchedService, viewer: Viewer | (() => Viewer), private readonly notify: Notifier, private readonly options: WatcherOptions = {}) {
    this.viewer = typeof viewer === 'function' ? viewer : () => viewer;
    this.maxSubscriptions = options.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS;
    this.poller = new PollChain(options.pollMs ?? 500, () => this.poll(), () => !this.closed && this.subs.size > 0, (error) => this.options.log?.(error));
    this.minGapMs = options.minGapMs ?? 1000;
    this.listCheckMs = options.listCheckMs ?? 5000;
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  get polling(): boolean {
    return this.poller.running;
  }

  /** Throws JobNotFound for a job this viewer may not see, exactly like the tools. */
  async subscribe(uri: string, jobId: string): Promise<void> {
    if (!this.subs.has(uri) && this.subs.size >= this.maxSubscriptions) {
      throw new LimitExceeded(`This session already has ${this.maxSubscriptions} resource subscriptions; unsubscribe from jobs that ended first.`);
    }
    const job = await this.service.job(jobId, this.viewer());
    if (this.closed) return;
    const existing = this.subs.get(uri);
    if (!existing && this.subs.size >= this.maxSubscriptions) {
      throw new LimitExceeded(`This session already has ${this.maxSubscriptions} resource subscriptions; unsubscribe from jobs that ended first.`);
    }
    this.subs.set(uri, existing ?? { uri, jobId: job.jobId, told: jobFingerprint(job), toldAt: 0 });
    this.poller.start();
  }

  unsubscribe(uri: string): void {
    this.subs.delete(uri);
    if (this.subs.size === 0) this.poller.stop();
  }

  /** Starts the periodic list check; the first look only sets the baseline. */
  watchList(): void {
    if (this.closed || this.listTimer) return;
    void this.checkList();
    this.listTimer = setInterval(() => void this.checkList(), this.listCheckMs);
    this.listTimer.unref();
  }

  /** This session made or removed a job: tell the client now rather than at the next check. */
  jobsChanged(): void {
    // No listing here: it would put a disk read of 50 jobs on every claude_start. The next periodic
    // check takes a fresh baseline instead.
    this.listSeen = undefined;
    void this.notify.listChanged().catch((error: unknown) => this.options.log?.(error));
  }

  close(): void {
    this.closed = true;
    this.poller.stop();
    clearInterval(this.listTimer);
    this.listTimer = undefined;
    this.subs.clear();
  }

  /** One look at every subscribed job; exposed for tests. */
  async poll(): Promise<void> {
    // One disk look per job, however many of its resources are subscribed (grouping is linear).
    const byJob = new Map<string, Subscription[]>();
    for (const sub of this.subs.values()) {
      const group = byJob.get(sub.jobId);
      if (group) group.push(sub);
      else byJob.set(sub.jobId, [sub]);
    }
    let anyGone = false;
    for (const [jobId, subs] of byJob) {
      let now: string;
      try {
        now = jobFingerprint(await this.service.job(jobId, this.viewer()));
      } catch (error) {
        if (!(error instanceof JobNotFound)) {
          this.options.log?.(error);
          continue;
        }
        now = GONE; // removed (retention, DELETE): one last `updated`, then the subscription ends
      }
      for (const sub of subs) {
        if (this.closed || this.subs.get(sub.uri) !== sub) continue;
        // Not yet told and not too soon: tell now. Too soon: the next poll sees the difference again.
        const at = this.options.now?.() ?? Date.now();
        if (now === sub.told || at - sub.toldAt < this.minGapMs) continue;
        sub.told = now;
        sub.toldAt = at;
        await this.notify.updated(sub.uri).catch((error: unknown) => this.options.log?.(error));
        if (now === GONE) {
          this.subs.delete(sub.uri);
          anyGone = true;
        }
      }
    }
    if (anyGone) await this.checkList();
  }

  private async checkList(): Promise<void> {
    try {
      const page = await this.service.list(this.viewer(), { limit: LIST_SIZE });
      if (this.closed) return;
      const seen = page.jobs.map((job) => job.jobId).join(',');
      const changed = this.listSeen !== undefined && this.listSeen !== seen;
      this.listSeen = seen;
      if (changed) await this.notify.listChanged();
    } catch (error) {
      this.options.log?.(error);
    }
  }
}

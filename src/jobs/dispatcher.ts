// The queue: keeps at most `maxConcurrent` jobs running and starts queued ones, oldest first, as
// slots free. Queued jobs are just folders without runner.json, so the queue survives restarts:
// on boot every unended job is looked at again and the queued ones are dispatched.
import type { Logger } from 'pino';
import { createFileExclusiveSync, writeFileAtomic } from './atomic.js';
import type { Launcher } from './launcher.js';
import { jobPaths } from './layout.js';
import type { ExitRecord, RunnerRecord } from './records.js';
import type { IndexEntry, JobIndexStore } from './store.js';
import { processStartTime } from './process-info.js';

/** A runner that has not claimed its job by then is taken as failed to start. */
const LAUNCH_TIMEOUT_MS = 30_000;
const TICK_MS = 500;

export interface DispatcherDeps {
  jobsDir: string;
  maxConcurrent: number;
  store: JobIndexStore;
  launcher: Launcher;
  /** Re-reads a job's status from disk and updates the index. */
  refresh: (entry: IndexEntry) => Promise<IndexEntry>;
  log: Logger;
}

export class Dispatcher {
  /** Jobs we asked to launch whose runner has not claimed them yet: they hold a slot. */
  private readonly launching = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly deps: DispatcherDeps) {}

  isLaunching(jobId: string): boolean {
    return this.launching.has(jobId);
  }

  /** Asks for a tick soon; many kicks in a burst make one tick. */
  kick(): void {
    if (this.closed) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.tick())
      .catch((error: unknown) => this.deps.log.error({ err: error }, 'dispatcher tick failed'))
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async idle(): Promise<void> {
    while (this.ticking) await this.ticking;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    clearTimeout(this.timer);
    const { store, maxConcurrent } = this.deps;
    let busy = 0;
    const queued: IndexEntry[] = [];
    for (const stale of store.unended()) {
      const entry = await this.deps.refresh(stale);
      if (entry.status === 'queued' && !this.launching.has(entry.jobId)) queued.push(entry);
      else if (entry.status === 'queued' || entry.status === 'running') {
        if (entry.status === 'running' && entry.statusReason !== 'starting') this.launching.delete(entry.jobId);
        else if (Date.now() - (this.launching.get(entry.jobId) ?? Date.now()) > LAUNCH_TIMEOUT_MS) {
          await this.failLaunch(entry.jobId);
          continue;
        }
        busy++;
      } else {
        this.launching.delete(entry.jobId);
      }
    }
    for (const entry of queued.slice(0, Math.max(0, maxConcurrent - busy))) this.launch(entry.jobId);
    if (store.unended().length > 0 && !this.closed) {
      this.timer = setTimeout(() => this.kick(), TICK_MS);
      this.timer.unref();
    }
  }

  private launch(jobId: string): void {
    this.launching.set(jobId, Date.now());
    this.deps.launcher.launch(jobId, jobPaths(this.deps.jobsDir, jobId)).then(
      (pid) => this.deps.log.info({ jobId, runnerPid: pid }, 'job launched'),
      (error: unknown) => {
        // Leave it queued; the next tick tries again.
        this.launching.delete(jobId);
        this.deps.log.warn({ jobId, err: error }, 'could not launch runner; will retry');
      },
    );
  }

  /** The runner never claimed the job: claim it ourselves so no late runner starts, and say why. */
  private async failLaunch(jobId: string): Promise<void> {
    this.launching.delete(jobId);
    const paths = jobPaths(this.deps.jobsDir, jobId);
    const claim: RunnerRecord = { runnerPid: process.pid, runnerStartTime: processStartTime(process.pid), startedAt: Date.now(), claimedBy: 'launch-timeout' };
    if (!createFileExclusiveSync(paths.runner, JSON.stringify(claim))) return; // it did start after all
    const exit: ExitRecord = {
      reason: 'exited', exitCode: null, signal: null, endedAt: Date.now(), logCapped: false, watchdog: false, result: null,
      error: `the job runner did not start within ${LAUNCH_TIMEOUT_MS / 1000} s (check that node can run ${paths.dir})`,
    };
    await writeFileAtomic(paths.exit, JSON.stringify(exit));
    this.deps.log.error({ jobId }, 'runner did not claim its job in time');
  }
}

// The queue: keeps at most `maxConcurrent` jobs running and starts queued ones, oldest first, as
// slots free. Queued jobs are just folders without runner.json, so the queue survives restarts:
// on boot every unended job is looked at again and the queued ones are dispatched.
import type { Logger } from 'pino';
import { writeFileAtomic } from './atomic.js';
import { claimForServer, exitWithoutClaude } from './claim.js';
import type { Launcher } from './launcher.js';
import { jobPaths } from './layout.js';
import type { IndexEntry, JobIndexStore } from './store.js';

/** A runner that has not claimed its job by then is taken as failed to start. */
const LAUNCH_TIMEOUT_MS = 30_000;
const TICK_MS = 500;
/** How often a tick re-reads every unended job, queued ones included. */
const FULL_PASS_MS = 5000;

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
  private lastFullPassAt = 0;

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
    const unended = store.unended();
    // Queued jobs only change when someone acts on them, and the runner's claim makes a stale
    // view harmless; so a tick re-reads the running ones plus just enough queued ones to fill the
    // free slots, not the whole queue. A full pass now and then catches changes made by others.
    const fullPass = Date.now() - this.lastFullPassAt >= FULL_PASS_MS;
    if (fullPass) this.lastFullPassAt = Date.now();
    let busy = 0;
    const queued: IndexEntry[] = [];
    for (const stale of unended) {
      if (stale.status === 'queued' && !fullPass && !this.launching.has(stale.jobId)) {
        queued.push(stale);
        continue;
      }
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
    let free = Math.max(0, maxConcurrent - busy);
    for (const candidate of queued) {
      if (free === 0) break;
      // Look once more before launching: it may have been cancelled or started elsewhere.
      const entry = fullPass ? candidate : await this.deps.refresh(candidate);
      if (entry.status !== 'queued' || this.launching.has(entry.jobId)) continue;
      this.launch(entry.jobId);
      free--;
    }
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
    if (!claimForServer(paths, 'launch-timeout')) return; // it did start after all
    const exit = exitWithoutClaude('exited', { error: `the job runner did not start within ${LAUNCH_TIMEOUT_MS / 1000} s (check that node can run ${paths.dir})` });
    await writeFileAtomic(paths.exit, JSON.stringify(exit));
    this.deps.log.error({ jobId }, 'runner did not claim its job in time');
  }
}

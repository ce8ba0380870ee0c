// The queue: keeps at most `maxConcurrent` jobs running and starts queued ones, oldest first, as
// slots free. Slots are claimed on disk (slots.ts), so the limit holds across processes. Queued jobs are just folders without runner.json, so the queue survives restarts:
// on boot every unended job is looked at again and the queued ones are dispatched.
import type { Logger } from 'pino';
import { writeFileAtomic } from '../files/atomic.js';
import { claimForServer, exitWithoutClaude } from './claim.js';
import type { Launcher } from './launcher.js';
import { jobPaths } from './layout.js';
import type { IndexEntry, JobIndexStore } from './store.js';
import { JobNotFound } from './errors.js';
import { SlotClaims, type SlotHolder } from './slots.js';
import { readJobFacts, type JobFacts } from './status.js';
import { processHost } from './process/index.js';

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
  private readonly slots: SlotClaims;
  private slotError: string | undefined;

  constructor(private readonly deps: DispatcherDeps) {
    this.slots = new SlotClaims(deps.jobsDir);
  }

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
    const { store } = this.deps;
    const unended = store.unended();
    // Queued jobs only change when someone acts on them, and the runner's claim makes a stale
    // view harmless; so a tick re-reads the running ones plus just enough queued ones to fill the
    // free slots, not the whole queue. A full pass now and then catches changes made by others.
    const fullPass = Date.now() - this.lastFullPassAt >= FULL_PASS_MS;
    if (fullPass) this.lastFullPassAt = Date.now();
    const queued: IndexEntry[] = [];
    for (const stale of unended) {
      if (stale.status === 'queued' && !fullPass && !this.launching.has(stale.jobId)) {
        queued.push(stale);
        continue;
      }
      const entry = await this.look(stale);
      if (!entry) continue;
      if (entry.status === 'queued' && !this.launching.has(entry.jobId)) queued.push(entry);
      else if (entry.status === 'queued' || entry.status === 'running') {
        if (entry.status === 'running' && entry.statusReason !== 'starting') this.launching.delete(entry.jobId);
        else if (Date.now() - (this.launching.get(entry.jobId) ?? Date.now()) > LAUNCH_TIMEOUT_MS) {
          await this.failLaunch(entry.jobId).catch((error: unknown) => {
            // The disk refuses even the claim (full): leave the job queued and look again later.
            this.launching.delete(entry.jobId);
            this.slots.release(entry.jobId);
            this.deps.log.warn({ jobId: entry.jobId, err: error }, 'a runner did not start and the job could not be marked failed; it stays queued');
          });
        }
      } else {
        this.launching.delete(entry.jobId);
        this.slots.release(entry.jobId); // ended: its slot is free (the runner gives it back too)
      }
    }
    if (queued.length) await this.fillSlots(queued, fullPass);
    if (store.unended().length > 0 && !this.closed) {
      this.timer = setTimeout(() => this.kick(), TICK_MS);
      this.timer.unref();
    }
  }

  /** A job's fresh status; null once its folder is gone (removed by another process): it is dropped. */
  private async look(entry: IndexEntry): Promise<IndexEntry | null> {
    try {
      return await this.deps.refresh(entry);
    } catch (error) {
      if (!(error instanceof JobNotFound)) throw error;
      this.launching.delete(entry.jobId);
      this.slots.release(entry.jobId);
      return null;
    }
  }

  /** Launches queued jobs, oldest first, into the slots free across every process on this jobs folder. */
  private async fillSlots(queued: IndexEntry[], fresh: boolean): Promise<void> {
    try {
      await this.slots.withLock(async () => {
        let busy = 0;
        for (const holder of this.slots.holders()) {
          if (await this.holdsSlot(holder)) busy++;
          else this.slots.release(holder.jobId);
        }
        let free = Math.max(0, this.deps.maxConcurrent - busy);
        for (const candidate of queued) {
          if (free === 0) break;
          // Look once more before launching: it may have been cancelled or started elsewhere.
          const entry = fresh ? candidate : await this.look(candidate);
          if (!entry || entry.status !== 'queued' || this.launching.has(entry.jobId)) continue;
          if (!this.slots.take(entry.jobId)) continue; // another process launched it
          this.launch(entry.jobId);
          free--;
        }
      });
      this.slotError = undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (this.slotError !== code) this.deps.log.warn({ err: error }, 'cannot take a running slot in the jobs folder; queued jobs wait');
      this.slotError = code;
    }
  }

  /** Does this slot's job still run (or is it being launched)? Read from disk: another process may own it. */
  private async holdsSlot(holder: SlotHolder): Promise<boolean> {
    if (this.launching.has(holder.jobId)) return true;
    let facts: JobFacts;
    try {
      facts = await readJobFacts(jobPaths(this.deps.jobsDir, holder.jobId));
    } catch {
      return false;
    }
    if (facts.exit || facts.spec === 'missing') return false;
    if (facts.runner === null) {
      // A launch under way, unless the process launching it is gone (or is us, and forgot it).
      const by = holder.takenBy;
      const launcherAlive = by ? by.pid !== process.pid && processHost.isSameProcessAlive(by.pid, by.startTime) : true;
      return launcherAlive && Date.now() - holder.claimedAt < LAUNCH_TIMEOUT_MS;
    }
    if (facts.runner === 'unreadable') return true; // cannot tell: keep the limit safe
    if (facts.runner.claimedBy) return false;
    return facts.runnerAlive || facts.claudeAlive === true;
  }

  private launch(jobId: string): void {
    this.launching.set(jobId, Date.now());
    this.deps.launcher.launch(jobId, jobPaths(this.deps.jobsDir, jobId)).then(
      (pid) => this.deps.log.info({ jobId, runnerPid: pid }, 'job launched'),
      (error: unknown) => {
        // Leave it queued; the next tick tries again.
        this.launching.delete(jobId);
        this.slots.release(jobId);
        this.deps.log.warn({ jobId, err: error }, 'could not launch runner; will retry');
      },
    );
  }

  /** The runner never claimed the job: claim it ourselves so no late runner starts, and say why. */
  private async failLaunch(jobId: string): Promise<void> {
    this.launching.delete(jobId);
    const paths = jobPaths(this.deps.jobsDir, jobId);
    if (!claimForServer(paths, 'launch-timeout')) return; // it did start after all
    this.slots.release(jobId);
    const exit = exitWithoutClaude('exited', { error: `the job runner did not start within ${LAUNCH_TIMEOUT_MS / 1000} s (check that node can run ${paths.dir})` });
    await writeFileAtomic(paths.exit, JSON.stringify(exit));
    this.deps.log.error({ jobId }, 'runner did not claim its job in time');
  }
}

// Reads a job's status from its folder and keeps the index in step: the I/O half beside status.ts's
// pure deriveStatus. It also finds jobs another process made on the same data dir (stdio + HTTP),
// and ends a claude whose runner died under it (nothing would record its output or exit).
import fs from 'node:fs';
import type { Logger } from 'pino';
import { exitWithoutClaude } from './claim.js';
import { JobNotFound } from './errors.js';
import { jobPaths } from './layout.js';
import { processHost } from './process/index.js';
import type { ExitRecord, RunnerRecord } from './records.js';
import { isEnded } from './schemas.js';
import { deriveStatus, readJobFacts, type JobFacts } from './status.js';
import { entryFromFolder, type IndexEntry, type JobIndexStore } from './store.js';

export interface StatusReaderDeps {
  jobsDir: string;
  store: JobIndexStore;
  /** Grace between SIGTERM and SIGKILL when ending a claude that outlived its runner. */
  killGraceMs: number;
  log: Logger;
  /** True while the dispatcher has launched the job's runner and it has not yet claimed it. */
  isLaunching(jobId: string): boolean;
  /** A job was just seen to end: its slot is free for a queued one. */
  onEnded(): void;
}

export interface InspectedJob {
  entry: IndexEntry;
  exit: ExitRecord | null;
}

export class StatusReader {
  /** Jobs whose runner died while claude lives on, being ended now. */
  private readonly endingClaude = new Set<string>();

  constructor(private readonly deps: StatusReaderDeps) {}

  /** The index entry of a job, found in its folder when another process made it; null if there is none. */
  async find(jobId: string): Promise<IndexEntry | null> {
    const known = this.deps.store.get(jobId);
    if (known) return known;
    const entry = await entryFromFolder(this.deps.jobsDir, jobId).catch(() => null);
    if (!entry || !fs.existsSync(jobPaths(this.deps.jobsDir, jobId).dir)) return null;
    // The job's creator may have put its entry while the folder was read: its entry wins. A
    // placeholder cached here never hides a job: put() keeps a known owner's entry over it, and
    // inspect() turns it into the job's entry once spec.json is there.
    const meanwhile = this.deps.store.get(jobId);
    if (meanwhile) return meanwhile;
    this.deps.store.put(entry);
    return entry;
  }

  /** Re-derives a job's status from disk and keeps the index in step. */
  async refresh(entry: IndexEntry): Promise<IndexEntry> {
    return (await this.inspect(entry)).entry;
  }

  /** The job's status and exit record read fresh; JobNotFound when its folder has gone. */
  async inspect(entry: IndexEntry): Promise<InspectedJob> {
    const { store } = this.deps;
    const paths = jobPaths(this.deps.jobsDir, entry.jobId);
    let facts: JobFacts;
    try {
      facts = await readJobFacts(paths, entry.status !== 'unknown');
    } catch {
      facts = { spec: 'unreadable', runner: null, exit: null, runnerAlive: false };
    }
    if (facts.spec === 'missing' && !(await exists(paths.dir))) {
      // Removed by another process sharing the data dir: gone everywhere at once.
      store.delete(entry.jobId);
      throw new JobNotFound(entry.jobId);
    }
    // An owner-less placeholder (its folder was read before spec.json landed) becomes the job's real
    // entry once the spec is there: the creator's, if it put one meanwhile, else one read from the folder.
    const placeholder = entry.owner === '';
    if (placeholder && facts.spec === 'ok') {
      const landed = store.get(entry.jobId);
      entry = landed && landed.owner !== '' ? landed : (await entryFromFolder(this.deps.jobsDir, entry.jobId).catch(() => null)) ?? entry;
    }
    if (!facts.runnerAlive && facts.claudeAlive && facts.runner && facts.runner !== 'unreadable') this.endUnrecordedClaude(entry.jobId, facts.runner);
    const launching = this.deps.isLaunching(entry.jobId) && !facts.runner && !facts.exit;
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
    if ((placeholder && next.owner !== '') || next.status !== entry.status || next.statusReason !== entry.statusReason || next.endedAt !== entry.endedAt || next.startedAt !== entry.startedAt) {
      if (store.get(entry.jobId)) store.put(next);
      if (isEnded(next.status) && !isEnded(entry.status)) this.deps.onEnded();
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
    this.deps.log.warn({ jobId, claudePid: pid }, 'the runner is gone but claude still runs; ending claude');
    processHost.stopTree(pid, 'graceful');
    const timer = setTimeout(() => {
      if (processHost.isSameProcessAlive(pid, runner.claudeStartTime)) processHost.stopTree(pid, 'force');
      this.endingClaude.delete(jobId);
    }, this.deps.killGraceMs);
    timer.unref();
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

// Cancelling a job, and saying exactly what was done. `cancelled: true` only once the job reads
// `cancelled`; otherwise `detail` says what happened (already ended, the runner is stopped and will
// act when it resumes, …). The processes are found from runner.json, or by their job folder when it
// is unreadable; when they cannot be found at all, nothing is claimed.
import fs from 'node:fs';
import path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../files/atomic.js';
import { claimForServer, exitWithoutClaude } from './claim.js';
import { JobConflict } from './errors.js';
import type { JobPaths } from './layout.js';
import { processHost } from './process/index.js';
import type { RunnerRecord } from './records.js';
import type { CancelOutput, JobStatus } from './schemas.js';
import { deriveStatus, readJobFacts } from './status.js';

export interface CancelDeps {
  /** How long to wait for the runner to record the cancel. */
  settleMs: number;
  /** The job's status now (re-read from disk, keeping the index in step). */
  status(): Promise<JobStatus>;
}

export async function cancelJob(paths: JobPaths, deps: CancelDeps): Promise<CancelOutput> {
  const jobId = path.basename(paths.dir);
  const facts = await readJobFacts(paths);
  if (facts.exit) return { jobId, status: deriveStatus(facts).status, cancelled: false };

  if (!facts.runner) {
    // Queued: claim the job the way a runner would, so none can start it after us.
    if (claimForServer(paths, 'cancel')) {
      await writeFileAtomic(paths.exit, JSON.stringify(exitWithoutClaude('cancelled')));
      return { jobId, status: await deps.status(), cancelled: true };
    }
  }
  const recorded = facts.runner === 'unreadable' ? 'unreadable' : facts.runner ?? (await readJsonIfExists<RunnerRecord>(paths.runner).catch(() => 'unreadable' as const));
  const targets = cancelTargets(paths, recorded);
  if (!targets) {
    throw new JobConflict(`job ${jobId}: runner.json is unreadable and this host cannot list processes, so its runner and claude cannot be found; nothing was cancelled. End them by hand, then remove the job.`);
  }
  if (targets.runnerPid && !processHost.canAskToStop) {
    // Windows: a runner cannot be asked to stop, only ended with everything it started; then we record the cancel.
    await endTree(targets.runnerPid, deps.settleMs);
    if (!fs.existsSync(paths.exit)) {
      const startedAt = recorded !== 'unreadable' ? recorded?.startedAt ?? null : null;
      await writeFileAtomic(paths.exit, JSON.stringify(exitWithoutClaude('cancelled', { startedAt })));
    }
  } else if (targets.runnerPid) {
    processHost.stopProcess(targets.runnerPid, 'graceful'); // the runner stops claude's group and records `cancelled`
    const deadline = Date.now() + deps.settleMs;
    while (Date.now() < deadline && !fs.existsSync(paths.exit)) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(paths.exit)) {
      const stopped = processHost.isStopped(targets.runnerPid);
      return {
        jobId, status: await deps.status(), cancelled: false,
        detail: stopped
          ? 'asked the job\'s runner to stop (SIGTERM), but the runner is itself stopped (SIGSTOP): it will end claude and record the cancel when it is continued (SIGCONT); the job still runs'
          : 'asked the job\'s runner to stop (SIGTERM); it has not finished ending claude yet; check again',
      };
    }
  } else {
    // No runner will record anything. End claude if it outlived its runner, then record the cancel.
    for (const pid of targets.claudePids) processHost.stopTree(pid, 'force');
    for (const pid of targets.claudePids) processHost.stopProcess(pid, 'force');
    const startedAt = recorded !== 'unreadable' ? recorded?.startedAt ?? null : null;
    await writeFileAtomic(paths.exit, JSON.stringify(exitWithoutClaude('cancelled', { startedAt })));
  }
  const status = await deps.status();
  return status === 'cancelled' ? { jobId, status, cancelled: true } : { jobId, status, cancelled: false, detail: `the job ended as ${status} before the cancel took effect` };
}

/** Which processes a cancel must reach: from runner.json, or found by their job folder when it is unreadable. */
function cancelTargets(paths: JobPaths, recorded: RunnerRecord | null | 'unreadable'): { runnerPid?: number; claudePids: number[] } | null {
  if (recorded && recorded !== 'unreadable') {
    if (processHost.isSameProcessAlive(recorded.runnerPid, recorded.runnerStartTime) && !recorded.claimedBy) return { runnerPid: recorded.runnerPid, claudePids: [] };
    return { claudePids: recorded.claudePid && processHost.isSameProcessAlive(recorded.claudePid, recorded.claudeStartTime) ? [recorded.claudePid] : [] };
  }
  const found = processHost.findJobProcesses(paths);
  if (!found) return null;
  const runner = found.runners[0];
  return runner ? { runnerPid: runner.pid, claudePids: [] } : { claudePids: found.claude.map((p) => p.pid) };
}

/** Stops a process tree: asked first, forced once `graceMs` is over and it still runs. */
async function endTree(pid: number, graceMs: number): Promise<void> {
  if (!processHost.stopTree(pid, 'graceful')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processHost.treeAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (processHost.treeAlive(pid)) processHost.stopTree(pid, 'force');
}

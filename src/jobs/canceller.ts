// Cancelling a job, and saying exactly what was done. `cancelled: true` only once the job reads
// `cancelled`; otherwise `detail` says what happened (already ended, the runner is stopped and will
// act when it resumes, …). The processes are found from runner.json, or by their job folder when it
// is unreadable; when they cannot be found at all, nothing is claimed.
import fs from 'node:fs';
import path from 'node:path';
import { readJsonIfExists, writeFileAtomic } from './atomic.js';
import { claimForServer, exitWithoutClaude } from './claim.js';
import { JobConflict } from './errors.js';
import { canFindJobProcesses, findJobProcesses, processState } from './job-processes.js';
import type { JobPaths } from './layout.js';
import { isSameProcessAlive, signalGroup, signalProcess } from './process-info.js';
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
  if (targets.runnerPid) {
    signalProcess(targets.runnerPid, 'SIGTERM'); // the runner stops claude's group and records `cancelled`
    const deadline = Date.now() + deps.settleMs;
    while (Date.now() < deadline && !fs.existsSync(paths.exit)) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(paths.exit)) {
      const stopped = processState(targets.runnerPid) === 'T';
      return {
        jobId, status: await deps.status(), cancelled: false,
        detail: stopped
          ? 'asked the job\'s runner to stop (SIGTERM), but the runner is itself stopped (SIGSTOP): it will end claude and record the cancel when it is continued (SIGCONT); the job still runs'
          : 'asked the job\'s runner to stop (SIGTERM); it has not finished ending claude yet; check again',
      };
    }
  } else {
    // No runner will record anything. End claude if it outlived its runner, then record the cancel.
    for (const pid of targets.claudePids) signalGroup(pid, 'SIGKILL');
    for (const pid of targets.claudePids) signalProcess(pid, 'SIGKILL');
    const startedAt = recorded !== 'unreadable' ? recorded?.startedAt ?? null : null;
    await writeFileAtomic(paths.exit, JSON.stringify(exitWithoutClaude('cancelled', { startedAt })));
  }
  const status = await deps.status();
  return status === 'cancelled' ? { jobId, status, cancelled: true } : { jobId, status, cancelled: false, detail: `the job ended as ${status} before the cancel took effect` };
}

/** Which processes a cancel must reach: from runner.json, or found by their job folder when it is unreadable. */
function cancelTargets(paths: JobPaths, recorded: RunnerRecord | null | 'unreadable'): { runnerPid?: number; claudePids: number[] } | null {
  if (recorded && recorded !== 'unreadable') {
    if (isSameProcessAlive(recorded.runnerPid, recorded.runnerStartTime) && !recorded.claimedBy) return { runnerPid: recorded.runnerPid, claudePids: [] };
    return { claudePids: recorded.claudePid && isSameProcessAlive(recorded.claudePid, recorded.claudeStartTime) ? [recorded.claudePid] : [] };
  }
  if (!canFindJobProcesses()) return null;
  const found = findJobProcesses(paths);
  const runner = found.runners[0];
  return runner ? { runnerPid: runner.pid, claudePids: [] } : { claudePids: found.claude.map((p) => p.pid) };
}

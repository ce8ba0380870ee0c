// The records a job gets when claude never ran to its end under a runner: the server claiming a job
// it will not run (a cancel before start, a runner that never came) and the exit.json that says so.
import { createFileExclusiveSync } from '../files/atomic.js';
import type { JobPaths } from './layout.js';
import { processHost } from './process/index.js';
import type { EndReason, ExitRecord, RunnerRecord } from './records.js';

/**
 * Claims a job for the server itself, exactly as a runner would (link(2), fails if taken), so no
 * runner can start it afterwards. False when a runner got there first.
 */
export function claimForServer(paths: JobPaths, claimedBy: NonNullable<RunnerRecord['claimedBy']>): boolean {
  const claim: RunnerRecord = { runnerPid: process.pid, runnerStartTime: processHost.startTime(process.pid), startedAt: Date.now(), claimedBy };
  return createFileExclusiveSync(paths.runner, JSON.stringify(claim));
}

/** An exit record for a job that ended without claude's own exit: nothing ran, or nothing recorded it. */
export function exitWithoutClaude(reason: EndReason, details: { error?: string; startedAt?: number | null } = {}): ExitRecord {
  return {
    reason, exitCode: null, signal: null, endedAt: Date.now(), logCapped: false, watchdog: false, result: null,
    ...(details.startedAt ? { startedAt: details.startedAt } : {}),
    ...(details.error ? { error: details.error } : {}),
  };
}

// The shapes of a job's files on disk (see docs/design.md, "A job on disk") and of who is asking.
import type { PermissionMode } from './permission.js';
import type { ResultSummary } from './schemas.js';

export interface JobSpecRecord {
  version: 1;
  jobId: string;
  owner: string;
  title?: string;
  createdAt: number;
  cwd: string;
  model?: string;
  /** Labels the job asked for: only a host carrying all of them runs it (labels.ts). */
  labels?: string[];
  permissionMode: PermissionMode;
  promptBytes: number;
  claudeBin: string;
  /** The full argv after the binary; built by the server so the runner decides nothing. */
  args: string[];
  timeoutMs: number;
  killGraceMs: number;
  resultWatchdogMs: number;
  maxLogBytes: number;
  /** A stream-json line longer than this is stored as a marker, never held whole (absent: the default). */
  maxLineBytes?: number;
  /** The allowed roots (real paths) when the job was made: the runner checks the cwd again against them. */
  allowedRoots?: string[];
  resumeSessionId?: string;
}

/** Written by the runner when it claims the job; `claude*` once claude is started. */
export interface RunnerRecord {
  runnerPid: number;
  runnerStartTime: string | null;
  startedAt: number;
  claudePid?: number;
  claudeStartTime?: string | null;
  /** Set when the server claimed a queued job only to cancel it: no runner ever ran. */
  claimedBy?: 'cancel' | 'launch-timeout';
}

export type EndReason = 'exited' | 'cancelled' | 'timed_out';

export interface ExitRecord {
  reason: EndReason;
  exitCode: number | null;
  signal: string | null;
  startedAt?: number;
  endedAt: number;
  /** Why the job could not run at all (binary missing, cwd gone), in words a user can act on. */
  error?: string;
  logCapped: boolean;
  /** The result-line watchdog ended a claude that hung after printing its result. */
  watchdog: boolean;
  result: ResultSummary | null;
  /** The log stopped early (a full disk): why, and where; everything before it is whole lines. */
  logStopped?: { reason: string; atBytes: number };
  /** The end of claude's stderr, kept when it ended badly and said nothing else. */
  stderrTail?: string;
}

/** Who is asking: the engine knows owners, not tokens. */
export interface Viewer {
  id: string;
  /** Sees and acts on every owner's jobs. */
  admin: boolean;
  /** A second owner name this viewer answers to: jobs made before owners were namespaced. */
  legacyId?: string;
}

/** Whether the viewer may see and act on a job of this owner. */
export function mayAccess(viewer: Viewer, owner: string): boolean {
  return viewer.admin || owner === viewer.id || (viewer.legacyId !== undefined && owner === viewer.legacyId);
}

// The engine's seam: where jobs live and run. JobService (service.ts) keeps the policy (limits,
// permission caps, ownership, building the spec) and calls a JobBackend for everything that touches
// the jobs themselves. LocalBackend (local-backend.ts) keeps them in job folders on this host, with a
// lowdb index and detached runners; a backend for many hosts (issue #17, src/scale/) keeps the same
// folders on its workers and publishes status and output elsewhere. See docs/design.md ("Seams").
//
// A backend knows no viewers: every method acts on a job id the service has already let the caller
// see (the service reads the job first and checks its owner). Errors are the engine's own
// (errors.ts): JobNotFound when the job is gone, InvalidInput, StorageError, JobConflict.
import type { ApproveInput, ApproveOutput, PendingApproval } from '../approvals/schemas.js';
import type { FollowSink, Subscription } from './follower.js';
import type { TailRequest, TailResult } from './output.js';
import type { ExitRecord, JobSpecRecord } from './records.js';
import type { CancelOutput, JobStatus } from './schemas.js';
import type { IndexEntry } from './store.js';

/** A job as it is now: its status derived fresh, how it ended, its log size and open questions. */
export interface JobState {
  entry: IndexEntry;
  /** How it ended, once it has (a runner killed after claude's result has one made from the log). */
  exit: ExitRecord | null;
  /** Size of the raw log so far (0 before it exists). */
  outputBytes: number;
  /** Questions the job waits on; always empty once it has ended. */
  pendingApprovals: PendingApproval[];
}

/** Where a job about to be made will live, as its spec records it (the runner re-checks the cwd). */
export interface JobPlacement {
  /** The job's folder: the approvals MCP server is pointed at it. */
  jobDir: string;
  /** The allowed roots (real paths) the runner checks the cwd against again. */
  allowedRoots: string[];
}

export interface ListPage {
  entries: IndexEntry[];
  nextCursor?: string;
}

/** What a follower is told, and how it learns the job's status when the log is quiet. */
export interface FollowWatch<S extends { status: JobStatus }> extends FollowSink<S> {
  /** The job as the face shows it (the service supplies it, owner-checked); throws when it has gone. */
  status: () => Promise<S>;
}

export interface BackendStats {
  jobs: number;
  unended: number;
  /** Jobs whose logs are followed right now (SSE streams, watchers). */
  followedJobs: number;
}

export interface JobBackend {
  /**
   * Resolves once the backend's start-up work (Local: rebuilding the index from the folders) is
   * done or has failed (it logs why); the service runs its first retention sweep then. Never rejects.
   */
  readonly ready: Promise<void>;
  /**
   * Checks a requested cwd (and the labels the job names, labels.ts) against where this backend may
   * run jobs and returns the cwd's real path, or throws InvalidInput (field 'cwd') with one message
   * for "missing / not a directory / outside the roots", so a caller learns nothing about which
   * paths exist, or (field 'labels') when no host carrying the labels could run it. Local: realpath
   * inside CLAUDE_ASYNC_ALLOWED_ROOTS, labels within CLAUDE_ASYNC_WORKER_LABELS.
   */
  resolveCwd(requested: string, labels?: readonly string[]): Promise<string>;
  /** Where a job made under this id will live (written into its spec before create). */
  placement(jobId: string): JobPlacement;
  /** Records the job (spec + prompt) and queues it. Throws StorageError when it cannot be written. */
  create(spec: JobSpecRecord, prompt: string): Promise<void>;
  /** The job as it is now, or null when there is no such job. No ownership check. */
  read(jobId: string): Promise<JobState | null>;
  /**
   * One page of jobs, newest first, of those `keep` accepts (the service passes ownership and the
   * status filter); entries that may have changed are looked at again. `cursor` is a jobId from an
   * earlier page's nextCursor.
   */
  list(limit: number, cursor: string | undefined, keep: (entry: IndexEntry) => boolean): Promise<ListPage>;
  /** The readable tail, or a page from an offset, of the job's log (see output.ts readTail). */
  tail(jobId: string, request: TailRequest): Promise<TailResult>;
  /** At most `length` raw bytes of the log from `start` (fewer at its end; none past it). */
  readOutput(jobId: string, start: number, length: number): Promise<Buffer>;
  /** The raw log's size now (0 before it exists). */
  outputSize(jobId: string): Promise<number>;
  /**
   * Whole lines of the log from byte offset `from` as they are written, until the job ends (then
   * `ended`) or the subscription is closed. Reading is shared among every watcher of one job.
   */
  follow<S extends { status: JobStatus }>(jobId: string, from: number, watch: FollowWatch<S>): Subscription;
  /** Cancels the job (queued: never runs; running: its process group is ended) and says what happened. */
  cancel(jobId: string): Promise<CancelOutput>;
  /** Answers one open question of the job, once; JobConflict when answered already or the job ended. */
  answerApproval(jobId: string, answer: ApproveInput, answeredBy: string): Promise<ApproveOutput>;
  /** Deletes an ended job everywhere. The service refuses to remove unended jobs before calling it. */
  remove(jobId: string): Promise<void>;
  /** Removes ended jobs that ended before `cutoff` (ms since the epoch); returns how many. */
  sweep(cutoff: number): Promise<number>;
  /** Why starts are refused right now (disk full or read-only), after one fresh try; null when they are not. */
  writeProblem(): Promise<string | null>;
  stats(): BackendStats;
  /** Lets pending dispatches and writes finish; running jobs keep running. */
  close(): Promise<void>;
}

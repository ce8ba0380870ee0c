// The /v1 shapes the page reads, as the OpenAPI document describes them. Written out here because
// the page compiles for the browser without zod; test/web-types.test.ts makes tsc check that the
// server's own types still fit these, so the two cannot drift apart silently.

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timed_out' | 'orphaned' | 'unknown';

export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'orphaned', 'unknown'];
export const ENDED: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out', 'orphaned']);

export interface JobSummary {
  jobId: string;
  status: JobStatus;
  statusReason?: string | undefined;
  title?: string | undefined;
  owner: string;
  cwd: string;
  model?: string | undefined;
  createdAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
}

export interface ResultSummary {
  result: string;
  sessionId: string | null;
  isError: boolean;
  subtype: string | null;
  costUsd: number | null;
  numTurns: number | null;
  durationMs: number | null;
}

/** A question a job started with approvals waits on: may claude use this tool with this input? */
export interface PendingApproval {
  approvalId: string;
  toolName: string;
  input: Record<string, unknown>;
  /** The input was too big to show whole: long strings are cut (the job's output has it all). */
  inputTruncated?: true | undefined;
  inputBytes?: number | undefined;
  askedAt: number;
}

/** GET /v1/jobs/{jobId} */
export interface Job extends JobSummary {
  exitCode: number | null;
  signal: string | null;
  outputBytes: number;
  logCapped: boolean;
  result?: ResultSummary | undefined;
  pendingApprovals?: PendingApproval[] | undefined;
}

/** POST /v1/jobs/{jobId}/approvals/{approvalId} body (the fields the page sends). */
export interface ApprovalDecision {
  decision: 'allow' | 'deny';
  message?: string;
}

export interface ApproveOutput {
  jobId: string;
  approvalId: string;
  decision: 'allow' | 'deny';
  answeredBy: string;
  answeredAt: number;
}

/** GET /v1/jobs */
export interface JobList {
  jobs: JobSummary[];
  nextCursor?: string | undefined;
}

/** POST /v1/jobs body (the fields the page sends). */
export interface StartInput {
  prompt: string;
  cwd?: string;
  model?: string;
  permissionMode?: string;
  title?: string;
  resumeSessionId?: string;
  approvals?: boolean;
}

export interface StartOutput {
  jobId: string;
  status: JobStatus;
  createdAt: number;
}

export interface CancelOutput {
  jobId: string;
  status: JobStatus;
  cancelled: boolean;
}

/** GET /v1/info */
export interface Info {
  version: string;
  principal: { id: string; scopes: string[]; admin: boolean };
  permissionModes: string[];
  defaultPermissionMode: string;
  /** Jobs may start with approvals: true. */
  approvals: boolean;
  /** Admin tokens only. */
  defaultCwd?: string;
  /** Admin tokens only. */
  allowedRoots?: string[];
}

/** RFC 9457 problem documents from /v1, and RFC 6750 errors from the auth layer. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  field?: string;
  error?: string;
  error_description?: string;
}

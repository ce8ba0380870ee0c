// Typed engine errors. Each face (MCP, REST, CLI) maps them in one place; messages say what to do next.
export class JobError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An id that does not exist, or belongs to someone else: the two answer alike (no existence leak). */
export class JobNotFound extends JobError {
  constructor(readonly jobId: string) {
    super(`No such job: ${jobId}. List your jobs with claude_jobs.`, 'job_not_found');
  }
}

export class InvalidInput extends JobError {
  constructor(message: string, readonly field?: string) {
    super(message, 'invalid_input');
  }
}

/** 'rate': too many, try again later; 'size': the request itself is too big, a retry will not help. */
export type LimitKind = 'rate' | 'size';

export class LimitExceeded extends JobError {
  readonly kind: LimitKind;
  constructor(message: string, readonly retryAfterSeconds?: number, kind?: LimitKind) {
    super(message, 'limit_exceeded');
    this.kind = kind ?? (retryAfterSeconds === undefined ? 'size' : 'rate');
  }
}

/** The caller's rights do not allow this (a read-only token starting or cancelling a job). */
export class Forbidden extends JobError {
  /** @param scope the scope the caller lacks, for faces that can ask for it (OAuth step-up) */
  constructor(message: string, readonly scope?: string) {
    super(message, 'forbidden');
  }
}

/** The job is in a state that does not allow the operation (e.g. removing a running job). */
export class JobConflict extends JobError {
  constructor(message: string) {
    super(message, 'conflict');
  }
}

/** The disk refused (read-only, full): nothing half-made is left behind. */
export class StorageError extends JobError {
  constructor(message: string) {
    super(message, 'storage_error');
  }
}

/** A job the viewer may see has no such question: answered like a missing job, with the id named. */
export class ApprovalNotFound extends JobError {
  constructor(readonly jobId: string, readonly approvalId: string) {
    super(`Job ${jobId} has no approval ${approvalId}. Its open questions are in pendingApprovals (claude_check).`, 'approval_not_found');
  }
}

/**
 * A service this server depends on (the shared Redis) does not answer, so nothing was done: not a
 * bug and not the caller's fault. Faces answer 503 with Retry-After; a retry after that may succeed.
 */
export class Unavailable extends JobError {
  constructor(what: string, readonly retryAfterSeconds = 5) {
    super(`${what}; nothing was changed. Try again in ${retryAfterSeconds} s.`, 'unavailable');
  }
}

// The page's client for /v1: every call carries the bearer header, every failure becomes an
// ApiError with the server's own words (RFC 9457 detail or RFC 6750 description).
import { refreshSession } from './oauth.js';
import { loadSession, saveSession, type Session } from './session.js';
import type { ApprovalDecision, ApproveOutput, CancelOutput, Info, Job, JobList, JobStatus, Problem, StartInput, StartOutput } from './types.js';

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly problem: Problem = {}) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when the server no longer accepts the credential: the page goes back to sign-in. */
type SignedOutHandler = (reason: string) => void;

async function problemOf(res: Response): Promise<ApiError> {
  let problem: Problem = {};
  try {
    problem = (await res.json()) as Problem;
  } catch {
    // not JSON: keep the status text
  }
  const message = problem.detail ?? problem.error_description ?? `${res.status} ${res.statusText}`;
  return new ApiError(res.status, message, problem);
}

const enc = encodeURIComponent;

export class Api {
  constructor(private readonly onSignedOut: SignedOutHandler) {}

  /** One request with the bearer header; an expired OAuth access token is refreshed once. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const session = loadSession();
    if (!session) {
      this.onSignedOut('Sign in to continue.');
      throw new ApiError(401, 'Not signed in');
    }
    let res = await this.send(session, path, init);
    if (res.status === 401 && session.kind === 'oauth' && session.refreshToken) {
      const renewed = await refreshSession(session).catch(() => null);
      if (renewed) {
        saveSession(renewed);
        res = await this.send(renewed, path, init);
      }
    }
    if (res.status === 401) {
      const error = await problemOf(res);
      this.onSignedOut(`The server did not accept the sign-in: ${error.message}`);
      throw error;
    }
    return res;
  }

  private send(session: Session, path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${session.accessToken}`);
    return fetch(path, { ...init, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  }

  async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.fetch(path, init);
    if (!res.ok) throw await problemOf(res);
    return (await res.json()) as T;
  }

  info(): Promise<Info> {
    return this.json<Info>('/v1/info');
  }

  listJobs(query: { status?: JobStatus | undefined; cursor?: string | undefined; limit?: number }): Promise<JobList> {
    const params = new URLSearchParams();
    if (query.status) params.set('status', query.status);
    if (query.cursor) params.set('cursor', query.cursor);
    if (query.limit) params.set('limit', String(query.limit));
    const qs = params.toString();
    return this.json<JobList>(`/v1/jobs${qs ? `?${qs}` : ''}`);
  }

  job(jobId: string): Promise<Job> {
    return this.json<Job>(`/v1/jobs/${enc(jobId)}`);
  }

  start(input: StartInput, idempotencyKey: string): Promise<StartOutput> {
    return this.json<StartOutput>('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idempotencyKey },
      body: JSON.stringify(input),
    });
  }

  cancel(jobId: string): Promise<CancelOutput> {
    return this.json<CancelOutput>(`/v1/jobs/${enc(jobId)}/cancel`, { method: 'POST' });
  }

  /** Answers one of the job's open questions; a 409 means it was answered already (elsewhere). */
  approve(jobId: string, approvalId: string, answer: ApprovalDecision): Promise<ApproveOutput> {
    return this.json<ApproveOutput>(`/v1/jobs/${enc(jobId)}/approvals/${enc(approvalId)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(answer),
    });
  }

  /** The raw log (stream-json lines), read page by page until the end the server reports. */
  async rawLog(jobId: string): Promise<Blob> {
    const parts: ArrayBuffer[] = [];
    let offset = 0;
    for (;;) {
      const res = await this.fetch(`/v1/jobs/${enc(jobId)}/output?format=jsonl&limit=8388608&offset=${offset}`);
      if (!res.ok) throw await problemOf(res);
      parts.push(await res.arrayBuffer());
      const next = Number(res.headers.get('X-Next-Offset'));
      const total = Number(res.headers.get('X-Output-Bytes'));
      if (!Number.isFinite(next) || next <= offset || next >= total) break;
      offset = next;
    }
    return new Blob(parts, { type: 'application/jsonl' });
  }

  /** The live event stream of a job's raw lines, from just after lastEventId when given. */
  async events(jobId: string, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['Last-Event-ID'] = lastEventId;
    const res = await this.fetch(`/v1/jobs/${enc(jobId)}/events?format=jsonl`, { headers, signal });
    if (!res.ok && res.status !== 204) throw await problemOf(res);
    return res;
  }
}

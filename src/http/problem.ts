// The one place errors become RFC 9457 problem documents for the REST face. Engine errors, the
// REST layer's own HTTP errors and body-parser errors all go through problemFor; anything else is a
// 500 with a generic detail, and its stack goes to the log, never to the client.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ApprovalNotFound, Forbidden, InvalidInput, JobConflict, JobNotFound, LimitExceeded, StorageError, Unavailable } from '../jobs/errors.js';

export const PROBLEM_BASE = 'https://claude-async.dev/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const problemSchema = z.object({
  type: z.string().describe('A stable URI naming the kind of problem; switch on this, not on detail.'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().describe('What went wrong and what to do next.'),
  field: z.string().optional().describe('The input field at fault (invalid-input).'),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  retryAfterSeconds: z.number().optional().describe('Also sent as the Retry-After header (rate-limited, service-unavailable).'),
  jobId: z.string().optional(),
});
export type Problem = z.infer<typeof problemSchema>;

export interface ProblemAnswer {
  status: number;
  body: Problem;
  headers: Record<string, string>;
}

/** An HTTP-level problem raised by the REST layer itself (bad header, range, media type...). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly extra: Partial<Problem> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

const problem = (status: number, slug: string, title: string, detail: string, extra: Partial<Problem> = {}, headers: Record<string, string> = {}): ProblemAnswer => ({
  status,
  body: { type: PROBLEM_BASE + slug, title, status, detail, ...extra },
  headers,
});

interface BodyParserError {
  type?: unknown;
  status?: unknown;
  expose?: unknown;
  message?: unknown;
}

export function problemFor(error: unknown): ProblemAnswer {
  if (error instanceof HttpProblem) return problem(error.status, error.slug, error.title, error.message, error.extra, error.headers);
  // The detail names the id either way, so another owner's job reads exactly like a missing one.
  if (error instanceof JobNotFound) return problem(404, 'job-not-found', 'Job not found', error.message);
  if (error instanceof ApprovalNotFound) return problem(404, 'approval-not-found', 'Approval not found', error.message);
  if (error instanceof InvalidInput) {
    const field = error.field;
    return problem(400, 'invalid-input', 'Invalid input', error.message, field ? { field, errors: [{ field, message: error.message }] } : {});
  }
  if (error instanceof Forbidden) return problem(403, 'forbidden', 'Forbidden', error.message);
  if (error instanceof JobConflict) return problem(409, 'job-conflict', 'Job state conflict', error.message);
  if (error instanceof LimitExceeded) {
    if (error.kind === 'rate') {
      const retry = Math.max(1, Math.ceil(error.retryAfterSeconds ?? 60));
      return problem(429, 'rate-limited', 'Too many requests', error.message, { retryAfterSeconds: retry }, { 'Retry-After': String(retry) });
    }
    return problem(413, 'too-large', 'Request too large', error.message);
  }
  if (error instanceof StorageError) return problem(503, 'storage-unavailable', 'Storage unavailable', error.message);
  if (error instanceof Unavailable) {
    const retry = Math.max(1, Math.ceil(error.retryAfterSeconds));
    return problem(503, 'service-unavailable', 'Service unavailable', error.message, { retryAfterSeconds: retry }, { 'Retry-After': String(retry) });
  }

  const e = (error ?? {}) as BodyParserError;
  if (e.type === 'entity.too.large') return problem(413, 'body-too-large', 'Request body too large', 'The request body is larger than this server accepts (CLAUDE_ASYNC_MAX_BODY_BYTES).');
  if (e.type === 'entity.parse.failed') return problem(400, 'invalid-json', 'Malformed JSON', 'The request body is not valid JSON.');
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
    return problem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as UTF-8 JSON (Content-Type: application/json).');
  }
  // The router could not percent-decode a path parameter (`/v1/jobs/%ZZ`): the client's mistake.
  if (error instanceof URIError && e.status === 400) {
    return problem(400, 'bad-request', 'Bad request', 'The URL path is not validly percent-encoded.');
  }
  // http-errors marks 4xx messages as safe to show (expose); they describe the request, not us.
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true && typeof e.message === 'string') {
    return problem(e.status, 'bad-request', 'Bad request', e.message);
  }
  return problem(500, 'internal-error', 'Internal server error', 'The server failed to handle this request; its log has the details.');
}

/** Writes the problem for `error`; unexpected errors (500) are logged with their stack. */
export function sendProblem(res: Response, error: unknown, log?: Logger): void {
  const answer = problemFor(error);
  if (answer.status >= 500 && !(error instanceof StorageError || error instanceof Unavailable)) log?.error({ err: error }, 'request failed');
  else if (answer.status >= 500) log?.warn({ err: error }, error instanceof Unavailable ? 'a shared service did not answer' : 'storage refused a request');
  res.status(answer.status).set(answer.headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(answer.body));
}

/** Express error handler for /v1: every error becomes a problem document. */
export function problemErrorHandler(log?: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    // Headers gone (an SSE stream, a streamed range): express's default handler ends the socket.
    if (res.headersSent) return next(err);
    sendProblem(res, err, (req as Request & { log?: Logger }).log ?? log);
  };
}

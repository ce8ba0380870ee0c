// The OpenAPI 3.1 document of /v1, generated from the same zod schemas that validate requests and
// shape answers (OpenAPI 3.1 schemas are JSON Schema 2020-12, which zod emits directly), so the
// document cannot drift from the code.
import { z } from 'zod';
import {
  cancelOutputSchema, checkOutputSchema, jobIdSchema, listInputSchema, listOutputSchema,
  startInputSchema, startOutputSchema,
} from '../jobs/schemas.js';
import { approvalDecisionSchema, approvalIdSchema, approveOutputSchema } from '../approvals/schemas.js';
import { VERSION } from '../version.js';
import { infoOutputSchema } from './info.js';
import { DEFAULT_PAGE_BYTES, MAX_PAGE_BYTES } from './output-pages.js';
import { problemSchema } from './problem.js';

/** GET /v1/jobs/{jobId}: what claude_check answers, without the readable tail and its offsets. */
export const jobResourceSchema = checkOutputSchema.omit({ tail: true, offset: true, nextOffset: true, hasMore: true });
export type JobResource = z.infer<typeof jobResourceSchema>;

const removeOutputSchema = z.object({ jobId: z.string(), removed: z.literal(true) });

/** What requireAuth / requireScope answer (RFC 6750 bearer errors, not problem documents). */
const authErrorSchema = z.object({ error: z.string(), error_description: z.string(), scope: z.string().optional() });

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as Json;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const header = (description: string, schema: Json = { type: 'integer', minimum: 0 }) => ({ description, schema });

const PROBLEMS: Record<string, string> = {
  400: 'Invalid input; `field` names the offending field.',
  401: 'No valid bearer token.',
  403: 'The token lacks the scope this operation needs.',
  404: 'No such job, or it belongs to someone else (the two answer alike).',
  409: 'The job is in a state that does not allow this (e.g. removing a running job).',
  413: 'The prompt or the request body is too large.',
  415: 'The body is not JSON.',
  416: 'The offset or Range lies outside the log.',
  422: 'The Idempotency-Key was used before with a different body.',
  429: 'Too many job starts, or too many open streams for this principal (CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL); see Retry-After.',
  500: 'Unexpected server error.',
  503: 'The job store refused the write (disk full or read-only).',
};

function responses(ok: Json, ...codes: number[]): Json {
  const out: Json = { ...ok };
  for (const code of [401, 403, ...codes, 500]) {
    const description = PROBLEMS[code] ?? 'Error';
    out[code] = code === 401 || code === 403
      ? { description, content: json('AuthError') }
      : {
          description,
          content: { 'application/problem+json': { schema: ref('Problem') } },
          ...(code === 429 ? { headers: { 'Retry-After': header('Seconds until a retry may succeed.') } } : {}),
        };
  }
  return out;
}

const security = (scope: string) => [{ bearerAuth: [scope] }];
const jobIdParam = { name: 'jobId', in: 'path', required: true, schema: jsonSchema(jobIdSchema) };
const intParam = (name: string, description: string, extra: Json = {}) => ({ name, in: 'query', required: false, description, schema: { type: 'integer', minimum: 0, ...extra } });
const pageHeaders = {
  'X-Offset': header('Log byte offset where this page starts.'),
  'X-Next-Offset': header('Pass as offset to read the next page.'),
  'X-Output-Bytes': header('Size of the log when the page was read.'),
};

export interface OpenApiOptions {
  /** The /v1 base URL clients use, e.g. https://box/v1. */
  serverUrl?: string;
}

export function openApiDocument(options: OpenApiOptions = {}): Json {
  const list = listInputSchema.shape;
  return {
    openapi: '3.1.0',
    info: {
      title: 'claude-async REST API',
      version: VERSION,
      description: 'Start long Claude Code jobs, follow their output and collect results. Errors are RFC 9457 problem documents (application/problem+json) with stable `type` URIs.',
    },
    ...(options.serverUrl ? { servers: [{ url: options.serverUrl }] } : {}),
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token (cas_…, `claude-async token create`) or a JWT. Scopes: jobs:read, jobs:write, admin.' },
      },
      schemas: {
        StartInput: jsonSchema(startInputSchema, 'input'),
        StartOutput: jsonSchema(startOutputSchema),
        Job: jsonSchema(jobResourceSchema),
        JobList: jsonSchema(listOutputSchema),
        CancelOutput: jsonSchema(cancelOutputSchema),
        ApprovalDecision: jsonSchema(approvalDecisionSchema, 'input'),
        ApproveOutput: jsonSchema(approveOutputSchema),
        RemoveOutput: jsonSchema(removeOutputSchema),
        Problem: jsonSchema(problemSchema),
        AuthError: jsonSchema(authErrorSchema),
        Info: jsonSchema(infoOutputSchema),
      },
    },
    paths: {
      '/jobs': {
        post: {
          operationId: 'startJob', summary: 'Start a job', security: security('jobs:write'),
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, description: 'Retrying with the same key (and body) returns the first job instead of starting another; remembered for 24 h on disk, so a retry after a server crash returns the first job too.', schema: { type: 'string', minLength: 1, maxLength: 200 } }],
          requestBody: { required: true, content: json('StartInput') },
          responses: responses({
            201: {
              description: 'Created (also for a replayed Idempotency-Key).', content: json('StartOutput'),
              headers: { Location: header('URL of the new job.', { type: 'string' }), 'Idempotent-Replayed': header('true when this answers an earlier request with the same key.', { type: 'string' }) },
            },
          }, 400, 413, 415, 422, 429, 503),
        },
        get: {
          operationId: 'listJobs', summary: 'List your jobs, newest first', security: security('jobs:read'),
          parameters: [
            { name: 'status', in: 'query', required: false, schema: jsonSchema(list.status.unwrap()) },
            { name: 'limit', in: 'query', required: false, schema: jsonSchema(list.limit.unwrap()) },
            { name: 'cursor', in: 'query', required: false, description: 'nextCursor of the previous page.', schema: jsonSchema(list.cursor.unwrap()) },
          ],
          responses: responses({ 200: { description: 'A page of jobs.', content: json('JobList') } }, 400),
        },
      },
      '/jobs/{jobId}': {
        parameters: [jobIdParam],
        get: {
          operationId: 'getJob', summary: 'A job\'s status and result', security: security('jobs:read'),
          responses: responses({ 200: { description: 'The job.', content: json('Job') } }, 400, 404),
        },
        delete: {
          operationId: 'removeJob', summary: 'Remove an ended job and its files', security: security('jobs:write'),
          responses: responses({ 200: { description: 'Removed.', content: json('RemoveOutput') } }, 400, 404, 409),
        },
      },
      '/jobs/{jobId}/cancel': {
        parameters: [jobIdParam],
        post: {
          operationId: 'cancelJob', summary: 'Cancel a queued or running job', security: security('jobs:write'),
          responses: responses({ 200: { description: 'The job after the cancel (cancelled is false when it had already ended).', content: json('CancelOutput') } }, 400, 404),
        },
      },
      '/jobs/{jobId}/approvals/{approvalId}': {
        parameters: [jobIdParam, { name: 'approvalId', in: 'path', required: true, description: 'An approvalId from the job\'s pendingApprovals.', schema: jsonSchema(approvalIdSchema) }],
        post: {
          operationId: 'answerApproval', summary: 'Allow or deny what a job (started with approvals: true) asks', security: security('jobs:write'),
          description: 'Answered once: a second answer is 409. Only the job\'s owner or an admin may answer; anyone else gets the 404 of an unknown job.',
          requestBody: { required: true, content: json('ApprovalDecision') },
          responses: responses({ 200: { description: 'The answer, recorded; claude reads it within a moment.', content: json('ApproveOutput') } }, 400, 404, 409, 415),
        },
      },
      '/jobs/{jobId}/output': {
        parameters: [jobIdParam],
        get: {
          operationId: 'getJobOutput', summary: 'A page of the raw log (stream-json lines) or its readable text', security: security('jobs:read'),
          description: `jsonl pages are raw log bytes from offset, at most limit, ending after the last newline in the window; keep reading from X-Next-Offset until it equals X-Output-Bytes and the job has ended. A \`Range: bytes=a-b\` header (jsonl only) answers exactly those bytes with 206.`,
          parameters: [
            intParam('offset', 'Log byte offset to read from (default 0).'),
            intParam('limit', `Page size in bytes (default ${DEFAULT_PAGE_BYTES}, at most ${MAX_PAGE_BYTES}).`, { minimum: 1 }),
            { name: 'format', in: 'query', required: false, description: 'jsonl (default): raw bytes. text: the readable rendering of the whole lines in the same window.', schema: { type: 'string', enum: ['jsonl', 'text'] } },
            { name: 'Range', in: 'header', required: false, description: 'One range, e.g. bytes=0-1048575 or bytes=-4096.', schema: { type: 'string' } },
          ],
          responses: responses({
            200: { description: 'A page.', headers: pageHeaders, content: { 'application/jsonl': { schema: { type: 'string' } }, 'text/plain': { schema: { type: 'string' } } } },
            206: {
              description: 'The requested byte range.',
              headers: { 'Content-Range': header('bytes a-b/size', { type: 'string' }), 'X-Next-Offset': pageHeaders['X-Next-Offset'], 'X-Output-Bytes': pageHeaders['X-Output-Bytes'] },
              content: { 'application/jsonl': { schema: { type: 'string' } } },
            },
          }, 400, 404, 416),
        },
      },
      '/jobs/{jobId}/events': {
        parameters: [jobIdParam],
        get: {
          operationId: 'followJob', summary: 'Follow the log live (Server-Sent Events)', security: security('jobs:read'),
          description: 'Events: `output` per log line (id = byte offset after the line; data = readable text, or the raw JSON line with format=jsonl; lines that render to nothing are skipped); `approval` once per open question of a job started with approvals (data = {jobId, approvalId, toolName, input, askedAt}; no id; answer it with POST /jobs/{jobId}/approvals/{approvalId}); then one `status` (data = the Job, as GET /jobs/{jobId}) when the job has ended, and the stream closes. `: ping` comments keep idle streams alive. Resume with Last-Event-ID (or offset). A reconnect to an ended job with nothing new gets 204, which stops EventSource from retrying. Only whole lines are sent: a log that shrinks is resynced at a line boundary, and a line that is not JSON (torn by a truncation) or longer than 4 MB is skipped (/output has the raw bytes). Each principal may hold a limited number of streams open (429 past it); a stream whose token is revoked or expires ends with an `error` event (type token-revoked).',
          parameters: [
            intParam('offset', 'Log byte offset to start from (Last-Event-ID wins).'),
            { name: 'format', in: 'query', required: false, schema: { type: 'string', enum: ['text', 'jsonl'] } },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d+$' } },
          ],
          responses: responses({
            200: { description: 'An event stream.', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            204: { description: 'Reconnected to an ended job with nothing new: stop.' },
          }, 400, 404, 429),
        },
      },
      '/info': {
        get: {
          operationId: 'getInfo', summary: 'Who this token is and what this server allows (permission modes within the cap, cwd roots)', security: security('jobs:read'),
          responses: responses({ 200: { description: 'The principal and the server\'s limits a client needs to offer.', content: json('Info') } }),
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'getOpenApi', summary: 'This document (any valid token)',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } }, 401: { description: PROBLEMS[401], content: json('AuthError') } },
        },
      },
    },
  };
}

// The bearer-token REST face: /v1/jobs. Each route parses HTTP (path, query, headers), calls the
// job service and shapes the answer; job logic stays in the engine. Errors go through problem.ts.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import express, { type Request, type Router } from 'express';
import type { Config } from '../config.js';
import { requireScope, resourceMetadataUrl } from '../auth/middleware.js';
import { viewerOf, type Scope } from '../auth/types.js';
import { approveInputSchema } from '../approvals/schemas.js';
import { InvalidInput } from '../jobs/errors.js';
import type { Viewer } from '../jobs/records.js';
import { listInputSchema, parseInput, startInputSchema, type StartOutput } from '../jobs/schemas.js';
import type { JobOutput, JobService } from '../jobs/service.js';
import { IdempotencyCache } from './idempotency.js';
import type { IdempotencyRecords } from './idempotency-records.js';
import { serverInfo } from './info.js';
import { openApiDocument } from './openapi.js';
import { DEFAULT_PAGE_BYTES, MAX_PAGE_BYTES, parseRange, rangeNotSatisfiable, readRawPage, readTextPage } from './output-pages.js';
import { HttpProblem, problemErrorHandler } from './problem.js';
import { followLog } from './sse.js';
import type { OpenStreams } from '../auth/open-streams.js';

export interface RestOptions {
  /** Comment sent on an idle event stream so proxies do not cut it (they often do at 60 s). */
  heartbeatMs?: number;
  /** The per-principal cap and token re-check of open streams; without it streams are not capped. */
  streams?: OpenStreams;
  /** Where Idempotency-Key records of starts are kept (Redis, shared by fronts); files under the data dir when absent. */
  idempotencyRecords?: IdempotencyRecords;
}

/** The engine knows owners, not tokens: a principal's id owns jobs, the admin scope sees all. */
function viewer(req: Request): Viewer {
  // requireScope has already answered 401 when there is no principal; this guards a wiring slip.
  if (!req.principal) throw new HttpProblem(401, 'unauthenticated', 'Unauthenticated', 'A bearer token is required');
  return viewerOf(req.principal);
}

// Named route parameters are strings; the type also covers wildcards, which we do not use.
const jobIdOf = (req: Request): string => String(req.params.jobId ?? '');

/** One value of a query parameter; repeated parameters are a client mistake. */
function query(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidInput(`${name}: give it once, as a single value`, name);
  return value;
}

function byteCount(req: Request, name: string): number | undefined {
  const raw = query(req, name);
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new InvalidInput(`${name}: must be a whole number of bytes`, name);
  return Number(raw);
}

function format(req: Request, fallback: 'text' | 'jsonl'): 'text' | 'jsonl' {
  const raw = query(req, 'format') ?? fallback;
  if (raw !== 'text' && raw !== 'jsonl') throw new InvalidInput(`format: use "text" or "jsonl"`, 'format');
  return raw;
}

/** Bytes [start, end] (inclusive, as in Content-Range) of a log, read a window at a time. */
function byteRange(output: JobOutput, start: number, end: number): Readable {
  const CHUNK = 1024 * 1024;
  return Readable.from((async function* chunks() {
    for (let at = start; at <= end;) {
      const chunk = await output.read(at, Math.min(CHUNK, end + 1 - at));
      if (chunk.length === 0) return;
      yield chunk;
      at += chunk.length;
    }
  })());
}

export function createRestRouter(service: JobService, config: Config, options: RestOptions = {}): Router {
  const router = express.Router();
  const metadata = resourceMetadataUrl(config.publicUrl);
  const scope = (name: Scope) => requireScope(name, { resourceMetadataUrl: metadata });
  const canRead = scope('jobs:read');
  const canWrite = scope('jobs:write');
  const starts = new IdempotencyCache<StartOutput>({ dir: path.join(config.dataDir, 'idempotency'), ...(options.idempotencyRecords ? { records: options.idempotencyRecords } : {}) });
  const openapi = JSON.stringify(openApiDocument({ serverUrl: `${config.publicUrl.replace(/\/+$/, '')}/v1` }));
  // A no-op when the app parsed the body already; keeps the router usable on its own.
  const json = express.json({ limit: config.maxBodyBytes, type: ['application/json', 'application/*+json'] });

  // Any valid token may read the document: it describes the API, not anybody's jobs.
  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').set('Cache-Control', 'no-cache').send(openapi);
  });

  router.get('/info', canRead, (req, res) => {
    if (!req.principal) throw new HttpProblem(401, 'unauthenticated', 'Unauthenticated', 'A bearer token is required');
    res.set('Cache-Control', 'no-store').json(serverInfo(config, req.principal));
  });

  router.post('/jobs', canWrite, json, async (req, res) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the job as JSON with Content-Type: application/json.');
    }
    const who = viewer(req);
    const key = req.get('idempotency-key');
    // Parsed when the start runs: a bad Idempotency-Key is answered first, as before any body check.
    const start = (jobId?: string) => service.start(parseInput(startInputSchema, req.body), who, jobId === undefined ? {} : { jobId });
    const { result, replayed } = key === undefined
      ? { result: start(), replayed: Promise.resolve(false) }
      : starts.run(who.id, key, req.body, {
        create: (jobId) => start(jobId),
        existing: (jobId) => service.startedJob(jobId, who),
      });
    const started = await result;
    if (key !== undefined) res.set('Idempotent-Replayed', String(await replayed));
    res.status(201).location(`${req.baseUrl}/jobs/${started.jobId}`).json(started);
  });

  router.get('/jobs', canRead, async (req, res) => {
    const input: Record<string, unknown> = {};
    for (const name of ['status', 'limit', 'cursor']) {
      const value = query(req, name);
      if (value !== undefined) input[name] = value;
    }
    // Query strings are text; the shared schema wants a number (and names the field if it is not one).
    if (typeof input.limit === 'string' && /^\d{1,9}$/.test(input.limit)) input.limit = Number(input.limit);
    res.json(await service.list(viewer(req), parseInput(listInputSchema, input)));
  });

  router.get('/jobs/:jobId', canRead, async (req, res) => {
    res.json(await service.job(jobIdOf(req), viewer(req)));
  });

  router.get('/jobs/:jobId/output', canRead, async (req, res) => {
    const as = format(req, 'jsonl');
    const offset = byteCount(req, 'offset') ?? 0;
    const limit = Math.min(Math.max(byteCount(req, 'limit') ?? DEFAULT_PAGE_BYTES, 1), MAX_PAGE_BYTES);
    const range = req.get('range');
    const output = await service.output(jobIdOf(req), viewer(req));
    if (as === 'jsonl' && range !== undefined) {
      const size = await output.size();
      const wanted = parseRange(range, size);
      if (wanted === 'unsatisfiable') throw rangeNotSatisfiable(size, `the log has ${size} bytes; ${range.slice(0, 100)} is outside it`);
      if (wanted) {
        // Exactly the bytes asked for, streamed: Range is for byte-exact copies, not line pages.
        res.status(206).set({
          'Content-Type': 'application/jsonl',
          'Content-Range': `bytes ${wanted.start}-${wanted.end}/${size}`,
          'Content-Length': String(wanted.end - wanted.start + 1),
          'Accept-Ranges': 'bytes',
          'X-Next-Offset': String(wanted.end + 1),
          'X-Output-Bytes': String(size),
        });
        // A client that hangs up mid-copy is not a server error; just let the socket go.
        await pipeline(byteRange(output, wanted.start, wanted.end), res).catch(() => res.destroy());
        return;
      }
    }
    const page = as === 'jsonl' ? await readRawPage(output, offset, limit) : await readTextPage(output, offset, limit);
    res.set({
      'Accept-Ranges': as === 'jsonl' ? 'bytes' : 'none',
      'X-Offset': String(page.offset),
      'X-Next-Offset': String(page.nextOffset),
      'X-Output-Bytes': String(page.outputBytes),
      'Cache-Control': 'no-store',
    });
    if ('text' in page) res.type('text/plain; charset=utf-8').send(page.text);
    else res.type('application/jsonl').send(page.data);
  });

  router.get('/jobs/:jobId/events', canRead, async (req, res) => {
    const who = viewer(req);
    const jobId = jobIdOf(req);
    const lastEventId = req.get('last-event-id');
    let from = byteCount(req, 'offset') ?? 0;
    if (lastEventId !== undefined && lastEventId !== '') {
      if (!/^\d{1,15}$/.test(lastEventId)) throw new InvalidInput('Last-Event-ID: must be the id of an earlier event (a byte offset)', 'Last-Event-ID');
      from = Number(lastEventId);
    }
    const output = await service.output(jobId, who);
    const stop = new AbortController();
    const lease = options.streams?.open(req.principal!, req.headers.authorization, (reason) => stop.abort(reason));
    try {
      await followLog(res, {
        output, jobId, from, resuming: lastEventId !== undefined && lastEventId !== '', format: format(req, 'text'),
        status: () => service.job(jobId, who),
        heartbeatMs: options.heartbeatMs ?? 15_000,
        signal: stop.signal,
        onError: (err) => service.log.warn({ err, jobId }, 'event stream ended with an error'),
      });
    } finally {
      lease?.release();
    }
  });

  router.post('/jobs/:jobId/cancel', canWrite, async (req, res) => {
    res.json(await service.cancel(jobIdOf(req), viewer(req)));
  });

  router.post('/jobs/:jobId/approvals/:approvalId', canWrite, json, async (req, res) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the answer as JSON with Content-Type: application/json.');
    }
    const body: unknown = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidInput('the body must be a JSON object such as {"decision":"allow"}');
    const answer = parseInput(approveInputSchema, { ...body, jobId: jobIdOf(req), approvalId: String(req.params.approvalId) });
    res.json(await service.approve(answer, viewer(req)));
  });

  router.delete('/jobs/:jobId', canWrite, async (req, res) => {
    res.json(await service.remove(jobIdOf(req), viewer(req)));
  });

  router.use((req, _res, next) => {
    next(new HttpProblem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.baseUrl}${req.path}; see ${req.baseUrl}/openapi.json`));
  });
  router.use(problemErrorHandler(service.log));
  return router;
}

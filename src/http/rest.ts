// The bearer-token REST face: /v1/jobs. Each route parses HTTP (path, query, headers), calls the
// job service and shapes the answer; job logic stays in the engine. Errors go through problem.ts.
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import express, { type Request, type Router } from 'express';
import type { Config } from '../config.js';
import { requireScope, resourceMetadataUrl } from '../auth/middleware.js';
import { viewerOf, type Scope } from '../auth/types.js';
import { InvalidInput } from '../jobs/errors.js';
import { fileSize } from '../jobs/output.js';
import type { Viewer } from '../jobs/records.js';
import type { StartOutput } from '../jobs/schemas.js';
import type { JobService } from '../jobs/service.js';
import { IdempotencyCache, type IdempotencyOptions } from './idempotency.js';
import { serverInfo } from './info.js';
import { openApiDocument, type JobResource } from './openapi.js';
import { DEFAULT_PAGE_BYTES, MAX_PAGE_BYTES, parseRange, rangeNotSatisfiable, readRawPage, readTextPage } from './output-pages.js';
import { HttpProblem, problemErrorHandler } from './problem.js';
import { followLog } from './sse.js';
import type { OpenStreams } from '../auth/open-streams.js';
import { LogFollowers } from '../jobs/follower.js';

export interface RestOptions {
  /** Comment sent on an idle event stream so proxies do not cut it (they often do at 60 s). */
  heartbeatMs?: number;
  /** How often a followed log is checked for growth (when no followers are given). */
  pollMs?: number;
  /** The process's shared log followers; one per app so each job is read once for all streams. */
  followers?: LogFollowers;
  /** The per-principal cap and token re-check of open streams; without it streams are not capped. */
  streams?: OpenStreams;
  idempotency?: IdempotencyOptions;
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

/** GET /v1/jobs/{jobId}: a check without the tail; output is read through /output or /events. */
async function jobResource(service: JobService, jobId: string, who: Viewer): Promise<JobResource> {
  const { tail: _tail, offset: _offset, nextOffset: _nextOffset, hasMore: _hasMore, ...job } = await service.check({ jobId, tailBytes: 0 }, who);
  return job;
}

export function createRestRouter(service: JobService, config: Config, options: RestOptions = {}): Router {
  const router = express.Router();
  const metadata = resourceMetadataUrl(config.publicUrl);
  const scope = (name: Scope) => requireScope(name, { resourceMetadataUrl: metadata });
  const canRead = scope('jobs:read');
  const canWrite = scope('jobs:write');
  const starts = new IdempotencyCache<StartOutput>({ dir: path.join(config.dataDir, 'idempotency'), ...options.idempotency });
  const followers = options.followers ?? new LogFollowers({ pollMs: options.pollMs ?? 250 });
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
    const { result, replayed } = key === undefined
      ? { result: service.start(req.body, who), replayed: Promise.resolve(false) }
      : starts.run(who.id, key, req.body, {
        create: (jobId) => service.start(req.body, who, { jobId }),
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
    res.json(await service.list(input, viewer(req)));
  });

  router.get('/jobs/:jobId', canRead, async (req, res) => {
    res.json(await jobResource(service, jobIdOf(req), viewer(req)));
  });

  router.get('/jobs/:jobId/output', canRead, async (req, res) => {
    const as = format(req, 'jsonl');
    const offset = byteCount(req, 'offset') ?? 0;
    const limit = Math.min(Math.max(byteCount(req, 'limit') ?? DEFAULT_PAGE_BYTES, 1), MAX_PAGE_BYTES);
    const range = req.get('range');
    const file = await service.outputFile({ jobId: jobIdOf(req) }, viewer(req));
    if (as === 'jsonl' && range !== undefined) {
      const size = await fileSize(file);
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
        await pipeline(fs.createReadStream(file, { start: wanted.start, end: wanted.end, highWaterMark: 1024 * 1024 }), res).catch(() => res.destroy());
        return;
      }
    }
    const page = as === 'jsonl' ? await readRawPage(file, offset, limit) : await readTextPage(file, offset, limit);
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
    const file = await service.outputFile({ jobId }, who);
    const stop = new AbortController();
    const lease = options.streams?.open(req.principal!, req.headers.authorization, (reason) => stop.abort(reason));
    try {
      await followLog(res, {
        file, jobId, from, resuming: lastEventId !== undefined && lastEventId !== '', format: format(req, 'text'),
        status: () => jobResource(service, jobId, who),
        heartbeatMs: options.heartbeatMs ?? 15_000,
        followers,
        signal: stop.signal,
        onError: (err) => service.log.warn({ err, jobId }, 'event stream ended with an error'),
      });
    } finally {
      lease?.release();
    }
  });

  router.post('/jobs/:jobId/cancel', canWrite, async (req, res) => {
    res.json(await service.cancel({ jobId: jobIdOf(req) }, viewer(req)));
  });

  router.post('/jobs/:jobId/approvals/:approvalId', canWrite, json, async (req, res) => {
    if (!req.is(['application/json', 'application/*+json'])) {
      throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'Send the answer as JSON with Content-Type: application/json.');
    }
    const body: unknown = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InvalidInput('the body must be a JSON object such as {"decision":"allow"}');
    res.json(await service.approve({ ...body, jobId: jobIdOf(req), approvalId: String(req.params.approvalId) }, viewer(req)));
  });

  router.delete('/jobs/:jobId', canWrite, async (req, res) => {
    res.json(await service.remove({ jobId: jobIdOf(req) }, viewer(req)));
  });

  router.use((req, _res, next) => {
    next(new HttpProblem(404, 'not-found', 'Not found', `No route for ${req.method} ${req.baseUrl}${req.path}; see ${req.baseUrl}/openapi.json`));
  });
  router.use(problemErrorHandler(service.log));
  return router;
}

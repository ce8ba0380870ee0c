// The Express app: security gates, health, OAuth metadata, /mcp, /v1 and the jobs page, in that order.
import fs from 'node:fs';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { isLoopbackHost, type Config } from '../config.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { BuiltInAuthorizationServer } from '../auth/oauth/authorization-server.js';
import { pageSecurityHeaders, renderErrorPage } from '../auth/oauth/consent-page.js';
import { createAuthFailureLimiter, mountProtectedResourceMetadata, type AuthFailureLimiter, requireAuth, requireScope, resourceMetadataUrl } from '../auth/middleware.js';
import type { JobService } from '../jobs/service.js';
import { Unavailable } from '../jobs/errors.js';
import { VERSION } from '../version.js';
import { jsonRpcError } from './json-rpc.js';
import { createMcpRoute, type McpRoute } from './mcp-route.js';
import { createRestRouter } from './rest.js';
import type { IdempotencyRecords } from './idempotency-records.js';
import { problemErrorHandler, problemFor } from './problem.js';
import { corsForAllowedOrigins, hostCheck, originCheck, requestLogger } from './security.js';
import { glamaRouter } from './glama.js';
import { createWebPageRouter } from './web-page.js';
import { OpenStreams } from '../auth/open-streams.js';

export interface AppDeps {
  config: Config;
  service: JobService;
  authenticator: Authenticator;
  log: Logger;
  /** The built-in OAuth authorization server, when it is on. */
  oauth?: BuiltInAuthorizationServer;
  /** Event-stream timing: the idle heartbeat (15 s) and the log poll (250 ms); tests shorten both. */
  streamTiming?: StreamTiming;
  /** Failed-auth counts shared by several fronts (Redis); in-process when absent. */
  failureLimiter?: AuthFailureLimiter;
  /** Idempotency-Key records shared by several fronts (Redis); files in the data dir when absent. */
  idempotencyRecords?: IdempotencyRecords;
}

export interface StreamTiming {
  heartbeatMs?: number;
  /** Read by startServer, which gives it to the engine (the backend follows logs). */
  pollMs?: number;
}

export interface App {
  app: express.Express;
  mcp: McpRoute;
  /** Flips /readyz to 503 while the server drains. */
  setDraining(): void;
}

export function createApp({ config, service, authenticator, log, oauth, streamTiming = {}, ...shared }: AppDeps): App {
  const app = express();
  let draining = false;
  app.disable('x-powered-by');
  if (config.trustProxy !== false) app.set('trust proxy', trustProxyValue(config.trustProxy));

  app.use(requestLogger(log));
  app.use(helmet());
  app.use(hostCheck(config.allowedHosts));
  const origins = { allowedOrigins: config.allowedOrigins, loopbackBind: isLoopbackHost(config.host) };
  // One limiter for every place a credential is guessed: bearer tokens and the consent page.
  const failureLimiter = shared.failureLimiter ?? createAuthFailureLimiter({ failuresPerMinute: config.authFailuresPerMinute });

  // Discovery and the OAuth protocol endpoints are public and called cross-origin by browser-based
  // clients, so they come before the Origin check; the consent form post comes after it.
  mountProtectedResourceMetadata(app, { publicUrl: config.publicUrl, ...(oauth ? { jwtIssuer: oauth.issuer } : config.jwtIssuer ? { jwtIssuer: config.jwtIssuer } : {}) });
  oauth?.mountProtocol(app, { authenticator, failureLimiter, log });
  app.use(originCheck(origins));
  app.use(corsForAllowedOrigins(origins));
  oauth?.mountConsent(app);

  app.get('/healthz', async (_req, res) => {
    try {
      // A front of the shared backend keeps no job folders (its workers do): only a single server needs its own.
      if (!config.redisUrl) await fs.promises.access(config.jobsDir, fs.constants.R_OK | fs.constants.W_OK);
      const { followedJobs, ...jobs } = service.stats();
      res.json({ ok: true, version: VERSION, ...jobs, sessions: mcp.sessions.size, streams: streams.count(), followedJobs });
    } catch {
      res.status(503).json({ ok: false, error: 'the jobs folder is not readable and writable' });
    }
  });
  app.get('/readyz', (_req, res) => {
    if (draining) res.status(503).json({ ready: false, reason: 'shutting down' });
    else res.json({ ready: true });
  });

  app.use(glamaRouter(config));

  const metadataUrl = resourceMetadataUrl(config.publicUrl);
  const auth = requireAuth(authenticator, {
    resourceMetadataUrl: metadataUrl,
    scope: 'jobs:read jobs:write',
    failureLimiter,
    onFailure: (info) => log.warn({ ip: info.ip, status: info.status, error: info.error }, 'authentication failed'),
  });
  const json = express.json({ limit: config.maxBodyBytes, type: ['application/json', 'application/*+json'] });

  // Long-lived responses, capped per principal and closed when their token stops being valid.
  const streams = new OpenStreams({
    maxPerPrincipal: config.maxStreamsPerPrincipal, recheckMs: config.streamRecheckMs,
    authenticate: (header) => authenticator.authenticate(header),
    onClosed: (info) => log.info(info, 'stream closed: its token is no longer valid'),
  });
  authenticator.onRevocation(() => void streams.recheck());
  const mcp = createMcpRoute({
    service, log, resourceMetadataUrl: metadataUrl, sessionIdleMs: config.sessionIdleMs, maxSessions: config.maxSessions,
    maxSessionsPerPrincipal: config.maxSessionsPerPrincipal, maxSubscriptionsPerSession: config.maxSubscriptionsPerSession, sseRetryMs: config.sseRetryMs,
    ...(config.frontId ? { frontId: config.frontId } : {}),
    streams,
  });
  app.use('/mcp', json, auth, requireScope('jobs:read', { resourceMetadataUrl: metadataUrl }), mcp.router);
  app.use('/mcp', mcpErrorHandler(log));

  app.use('/v1', json, auth, createRestRouter(service, config, {
    streams,
    ...(shared.idempotencyRecords ? { idempotencyRecords: shared.idempotencyRecords } : {}),
    ...(streamTiming.heartbeatMs ? { heartbeatMs: streamTiming.heartbeatMs } : {}),
  }));
  app.use('/v1', problemErrorHandler(log));

  // The jobs page at /ui/ (and / redirects there): static files only; it signs in like any client.
  app.use(createWebPageRouter());

  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: `No route for ${req.method} ${req.path}` });
  });
  app.use(pageErrorHandler(log));

  return { app, mcp, setDraining: () => { draining = true; } };
}

/** Body-parser and other errors on /mcp answer as JSON-RPC errors, never as an HTML stack trace. */
function mcpErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (res.headersSent) return;
    if (err instanceof Unavailable) {
      // The shared Redis (auth limits, sessions' jobs) did not answer: retryable, never a 500.
      res.status(503).set('Retry-After', String(err.retryAfterSeconds)).json(jsonRpcError(-32603, err.message, req.body));
    } else if (e.type === 'entity.too.large') {
      res.status(413).json(jsonRpcError(-32600, 'Request body too large'));
    } else if (e.type === 'entity.parse.failed') {
      res.status(400).json(jsonRpcError(-32700, 'Parse error: the body is not valid JSON'));
    } else if (e.status && e.status >= 400 && e.status < 500) {
      res.status(e.status).json(jsonRpcError(-32600, 'Invalid request'));
    } else {
      (req.log ?? log).error({ err }, 'mcp request failed');
      res.status(500).json(jsonRpcError(-32603, 'Internal error'));
    }
  };
}

/**
 * Pages outside /mcp and /v1 (the OAuth consent post checks failed-auth counts in Redis): a shared
 * service that did not answer is a 503 + Retry-After exactly as REST maps it, on a page a person can
 * read, never a 500. Other errors go on to Express's handler.
 */
function pageErrorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!(err instanceof Unavailable) || res.headersSent) return next(err);
    const answer = problemFor(err);
    (req.log ?? log).warn({ err }, 'a shared service did not answer');
    res.status(answer.status).set(answer.headers).set(pageSecurityHeaders()).send(renderErrorPage('Try again in a moment', answer.body.detail));
  };
}

function trustProxyValue(raw: string): boolean | number | string {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  return raw;
}

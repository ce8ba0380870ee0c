// Request gates that run before anything else: Host allowlist and Origin check (DNS rebinding:
// a web page must not reach a server on localhost through a hostile name), and request logging
// that never writes a token, a query string or a body.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { jsonRpcError } from './json-rpc.js';

declare module 'express-serve-static-core' {
  interface Request {
    log?: Logger;
    id?: string;
  }
}

function forbid(res: Response, message: string): void {
  res.status(403).json(jsonRpcError(-32000, message));
}

export function hostCheck(allowedHosts: string[]): RequestHandler {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return (req: Request, res: Response, next: NextFunction) => {
    const host = (req.headers.host ?? '').toLowerCase();
    const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] ?? '';
    if (allowed.has(host) || allowed.has(hostname)) return next();
    forbid(res, `Forbidden: Host '${host.slice(0, 100)}' is not allowed (set CLAUDE_ASYNC_ALLOWED_HOSTS)`);
  };
}

/** Browsers always send Origin on cross-site requests; non-browser clients usually send none. */
export function originCheck(allowedOrigins: string[]): RequestHandler {
  const allowed = new Set(allowedOrigins.map((o) => o.toLowerCase()));
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed.has(origin.toLowerCase())) return next();
    forbid(res, `Forbidden: Origin '${origin.slice(0, 100)}' is not allowed (set CLAUDE_ASYNC_ALLOWED_ORIGINS)`);
  };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

export function requestLogger(log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id');
    req.id = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    req.log = log.child({ reqId: req.id });
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const sessionId = req.header('mcp-session-id') ?? res.getHeader('mcp-session-id');
      // originalUrl, not req.path: inside a mounted router req.path is relative ('/' for /mcp,
      // '/jobs' for /v1/jobs), and a response can finish there. The query string is never logged.
      // req.ip is the client as `trust proxy` (CLAUDE_ASYNC_TRUST_PROXY) sees it, not the proxy.
      const path = req.originalUrl.split('?')[0];
      req.log?.info({ method: req.method, path, ip: req.ip, status: res.statusCode, ms: Math.round(ms * 10) / 10, principal: req.principal?.id, sessionId }, 'request');
    });
    next();
  };
}

// Request gates that run before anything else: Host allowlist and Origin check (DNS rebinding:
// a web page must not reach a server on localhost through a hostile name), and request logging
// that never writes a token, a query string or a body.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import cors from 'cors';
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

/**
 * RFC 9110 Host: a name or IPv4 address, or a bracketed IPv6 address, then an optional port. Anything
 * else (`127.0.0.1:8787@evil.com`, userinfo, paths, two ports) is not a Host at all: parsing it
 * loosely is how a hostile name slips past the allowlist.
 */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?)(?::(\d{1,5}))?$/;

function parseHostHeader(value: string): { host: string; hostname: string } | null {
  const host = value.toLowerCase();
  const match = HOST_HEADER.exec(host);
  return match ? { host, hostname: match[1]! } : null;
}

export function hostCheck(allowedHosts: string[]): RequestHandler {
  const allowed = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return (req: Request, res: Response, next: NextFunction) => {
    const raw = req.headers.host ?? '';
    const parsed = parseHostHeader(raw);
    if (parsed && (allowed.has(parsed.host) || allowed.has(parsed.hostname))) return next();
    forbid(res, `Forbidden: Host '${raw.slice(0, 100).replace(/[^\x20-\x7e]/g, '?')}' is not allowed (set CLAUDE_ASYNC_ALLOWED_HOSTS)`);
  };
}

export interface OriginPolicy {
  /** Exact origins accepted (CLAUDE_ASYNC_ALLOWED_ORIGINS, default the public URL's). */
  allowedOrigins: string[];
  /**
   * The server binds a loopback address: pages served from this machine (localhost, 127.0.0.1,
   * [::1], any port) may call it too. Only local processes reach a loopback bind, and the Host
   * check still stops DNS rebinding (the Host of a rebound name is not a loopback name).
   */
  loopbackBind: boolean;
}

const LOOPBACK_ORIGIN_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function originAllowed(policy: OriginPolicy): (origin: string) => boolean {
  const allowed = new Set(policy.allowedOrigins.map((o) => o.toLowerCase()));
  return (origin) => {
    if (allowed.has(origin.toLowerCase())) return true;
    if (!policy.loopbackBind) return false;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin.toLowerCase() && LOOPBACK_ORIGIN_HOSTS.has(url.hostname);
  };
}

/** Browsers always send Origin on cross-site requests; non-browser clients usually send none. */
export function originCheck(policy: OriginPolicy): RequestHandler {
  const allowed = originAllowed(policy);
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || allowed(origin)) return next();
    forbid(res, `Forbidden: Origin '${origin.slice(0, 100)}' is not allowed (set CLAUDE_ASYNC_ALLOWED_ORIGINS)`);
  };
}

/**
 * CORS for the origins originCheck lets through, so browser-based MCP clients connect: preflights
 * are answered before auth (a preflight never carries the token), and responses expose the headers
 * a client must read (the session id; the OAuth challenge on a 401).
 */
export function corsForAllowedOrigins(policy: OriginPolicy): RequestHandler {
  const allowed = originAllowed(policy);
  return cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed(origin)),
    methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept', 'Mcp-Session-Id', 'Mcp-Protocol-Version', 'Last-Event-ID', 'Idempotency-Key', 'X-Request-Id'],
    exposedHeaders: ['Mcp-Session-Id', 'WWW-Authenticate', 'Retry-After', 'X-Request-Id'],
    maxAge: 600,
  });
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

// Express glue for the authenticator: bearer challenges (RFC 6750 + the MCP authorization spec), a
// per-IP failed-auth limiter, scope checks, and the RFC 9728 protected resource metadata.
import type { IRouter, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authenticator } from './authenticator.js';
import { baseUrl, hasScope, SCOPES, type AuthOptions, type Principal, type Scope } from './types.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by requireAuth; absent on routes it does not guard. */
    principal?: Principal;
  }
}

const METADATA_PATH = '/.well-known/oauth-protected-resource';

/** Where clients find the metadata of the MCP resource; goes into every challenge. */
export function resourceMetadataUrl(publicUrl: string): string {
  return `${baseUrl(publicUrl)}${METADATA_PATH}/mcp`;
}

// RFC 6750 allows only printable ASCII without '"' and '\' in error_description.
function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, ' ')}"`;
}

function challenge(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${key}=${quoted(value)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

/**
 * Failed authentications per client IP. In-process here; src/scale/auth-failure-limiter.ts keeps the
 * counts in Redis so every front behind one proxy shares them (and may throw Unavailable).
 */
export interface AuthFailureLimiter {
  /** Seconds until this address may try again; 0 when it is not blocked. */
  retryAfterSeconds(ip: string): number | Promise<number>;
  recordFailure(ip: string): void | Promise<void>;
}

/** The in-process limiter answers at once. */
export interface LocalAuthFailureLimiter extends AuthFailureLimiter {
  retryAfterSeconds(ip: string): number;
  recordFailure(ip: string): void;
}

/**
 * Fixed one-minute windows per IP. Memory is bounded: past maxEntries, expired windows are swept
 * and, if that is not enough, the oldest entries go (an attacker rotating addresses then loses
 * their own counts, not anybody's access).
 */
export function createAuthFailureLimiter(options: {
  failuresPerMinute: number;
  maxEntries?: number;
  now?: () => number;
}): LocalAuthFailureLimiter {
  const windowMs = 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const windows = new Map<string, { startedAt: number; failures: number }>();
  const current = (ip: string) => {
    const entry = windows.get(ip);
    return entry && now() - entry.startedAt < windowMs ? entry : undefined;
  };
  return {
    retryAfterSeconds(ip) {
      const entry = current(ip);
      if (!entry || entry.failures < options.failuresPerMinute) return 0;
      return Math.max(1, Math.ceil((entry.startedAt + windowMs - now()) / 1000));
    },
    recordFailure(ip) {
      const entry = current(ip);
      if (entry) {
        entry.failures += 1;
        return;
      }
      windows.delete(ip); // re-insert at the end so Map order stays oldest-first
      if (windows.size >= maxEntries) {
        for (const [key, value] of windows) if (now() - value.startedAt >= windowMs) windows.delete(key);
      }
      while (windows.size >= maxEntries) windows.delete(windows.keys().next().value as string);
      windows.set(ip, { startedAt: now(), failures: 1 });
    },
  };
}

export interface RequireAuthOptions {
  resourceMetadataUrl: string;
  /** Space-separated scopes a client should ask for; goes into every 401 challenge (MCP SEP-835). */
  scope?: string;
  failureLimiter?: AuthFailureLimiter;
  /** For the caller's logger; gets the reason, never the token. */
  onFailure?: (info: { ip: string; status: number; error: string; description: string }) => void;
}

function tokenOutsideHeader(req: Request): boolean {
  const query = req.originalUrl.split('?')[1];
  if (query && new URLSearchParams(query).has('access_token')) return true;
  const body: unknown = req.body;
  return Boolean(req.is('application/x-www-form-urlencoded') && body && typeof body === 'object' && 'access_token' in body);
}

export function requireAuth(authenticator: Authenticator, options: RequireAuthOptions): RequestHandler {
  const metadata = options.resourceMetadataUrl;
  return async (req: Request, res: Response, next: NextFunction) => {
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const limiter = options.failureLimiter;
    // Checked before authenticating, for valid tokens too: otherwise 401-versus-429 would keep
    // telling a guesser which of their tries was right.
    const retryAfter = (await limiter?.retryAfterSeconds(ip)) ?? 0;
    if (retryAfter > 0) {
      options.onFailure?.({ ip, status: 429, error: 'too_many_requests', description: 'failed-auth limit reached' });
      res.set('Retry-After', String(retryAfter)).status(429).json({
        error: 'too_many_requests',
        error_description: `Too many failed authentications from this address; retry in ${retryAfter} s`,
      });
      return;
    }
    // RFC 6750 allows the query string, but URLs end up in proxy logs and shell history; we
    // advertise bearer_methods_supported: ['header'] and say so plainly.
    if (tokenOutsideHeader(req)) {
      const description = 'Send the token in the Authorization header (Bearer), not in the URL or form body; treat the token as exposed';
      options.onFailure?.({ ip, status: 400, error: 'invalid_request', description });
      res
        .set('WWW-Authenticate', challenge({ error: 'invalid_request', error_description: description, resource_metadata: metadata }))
        .status(400)
        .json({ error: 'invalid_request', error_description: description });
      return;
    }
    let result;
    try {
      result = await authenticator.authenticate(req.headers.authorization);
    } catch (err) {
      next(err);
      return;
    }
    if (result.ok) {
      req.principal = result.principal;
      next();
      return;
    }
    // Only presented-but-wrong tokens count: a client without one is discovering how to log in.
    if (!result.missing) await limiter?.recordFailure(ip);
    options.onFailure?.({ ip, status: 401, error: result.error, description: result.description });
    // RFC 6750 section 3.1: with no credentials, the challenge carries no error code. The MCP
    // authorization spec needs resource_metadata in every 401 so clients can find the AS.
    const header = result.missing
      ? challenge({ resource_metadata: metadata, scope: options.scope })
      : challenge({ error: result.error, error_description: result.description, resource_metadata: metadata, scope: options.scope });
    res.set('WWW-Authenticate', header).status(401).json({ error: result.error, error_description: result.description });
  };
}

/** 403 insufficient_scope unless the principal holds the scope (admin holds all). */
export function requireScope(scope: Scope, options: { resourceMetadataUrl?: string } = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const principal = req.principal;
    if (!principal) {
      // A wiring mistake (requireAuth missing) must fail closed, not open.
      const description = 'A bearer token is required';
      res
        .set('WWW-Authenticate', challenge({ resource_metadata: options.resourceMetadataUrl }))
        .status(401)
        .json({ error: 'invalid_request', error_description: description });
      return;
    }
    if (hasScope(principal, scope)) {
      next();
      return;
    }
    const description = `This needs the "${scope}" scope; ask for a token that has it`;
    res
      .set('WWW-Authenticate', challenge({ error: 'insufficient_scope', scope, error_description: description, resource_metadata: options.resourceMetadataUrl }))
      .status(403)
      .json({ error: 'insufficient_scope', error_description: description, scope });
  };
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported: Scope[];
  bearer_methods_supported: ['header'];
  resource_name: string;
}

/**
 * RFC 9728 metadata for `publicUrl + resourcePath`. authorization_servers only when an issuer is
 * configured: a static-token-only server has no AS, and advertising one would send OAuth clients
 * to a login that cannot succeed.
 */
export function protectedResourceMetadata(
  options: Pick<AuthOptions, 'publicUrl' | 'jwtIssuer'>,
  resourcePath = '/mcp',
): ProtectedResourceMetadata {
  const doc: ProtectedResourceMetadata = {
    resource: `${baseUrl(options.publicUrl)}${resourcePath}`,
    scopes_supported: [...SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'claude-async',
  };
  if (options.jwtIssuer) doc.authorization_servers = [options.jwtIssuer];
  return doc;
}

/**
 * RFC 9728 section 3.3: `resource` must equal the URL the well-known suffix was inserted into, so the
 * root document names the origin and the /mcp document names the MCP endpoint.
 */
export function mountProtectedResourceMetadata(app: IRouter, options: Pick<AuthOptions, 'publicUrl' | 'jwtIssuer'>): void {
  const serve = (doc: ProtectedResourceMetadata): RequestHandler => (_req, res) => {
    // Public and harmless; browser-based MCP clients fetch it cross-origin.
    res.set('Access-Control-Allow-Origin', '*').set('Cache-Control', 'public, max-age=300').json(doc);
  };
  app.get(METADATA_PATH, serve(protectedResourceMetadata(options, '')));
  app.get(`${METADATA_PATH}/mcp`, serve(protectedResourceMetadata(options, '/mcp')));
}

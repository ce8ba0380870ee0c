// Shared vocabulary of the auth layer. Nothing here does I/O; every setting arrives through
// AuthOptions so that src/config.ts stays the only reader of process.env.

export const SCOPES = ['jobs:read', 'jobs:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  /**
   * Who owns the jobs this request creates or sees, namespaced by source (see principal-id.ts):
   * `local`, `token:<name>`, `jwt:<issuer>|<sub>`. Made only by principalId().
   * OAuth access tokens of the built-in server carry the principal of the claude-async token the
   * person consented with (see src/auth/oauth/consent.ts), so their connector sees their own jobs.
   */
  id: string;
  /** The bare owner name jobs of this principal carried before ids were namespaced, if any. */
  legacyId?: string;
  scopes: Scope[];
  kind: 'static' | 'jwt' | 'anonymous' | 'oauth';
  /** OAuth only: the client the token was issued to and the grant it belongs to. */
  clientId?: string;
  grantId?: string;
}

export interface AuthOptions {
  /** 'none' trusts every caller; server.ts (`serve`) refuses it on anything but a loopback bind. */
  mode: 'token' | 'none';
  /** Public base URL of this server without a trailing path, e.g. https://box or http://127.0.0.1:8787. */
  publicUrl: string;
  /** CLAUDE_ASYNC_TOKEN: accepted as principal 'default' with all scopes. */
  envToken?: string;
  /** JSON file of hashed static tokens (written by the CLI, only read by the server). */
  tokensFile: string;
  /** HS256 shared secret (>= 32 bytes) for tokens made by `claude-async token mint`. */
  jwtSecret?: string;
  /** JWKS of an external authorization server (Keycloak, Auth0, ...). */
  jwksUrl?: string;
  /** Expected `iss`; also the authorization server advertised in RFC 9728 metadata. */
  jwtIssuer?: string;
  /**
   * Expected `aud`. Default (see defaultAudiences): the MCP resource `publicUrl + '/mcp'` or the bare
   * `publicUrl`, because the MCP authorization spec has clients request tokens for the resource
   * they connect to (RFC 8707) and REST callers use the same origin.
   */
  jwtAudience?: string;
  /** Failed authentications per client IP per minute before answering 429. */
  authFailuresPerMinute: number;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  | {
      ok: false;
      status: 401;
      error: 'invalid_token' | 'invalid_request';
      description: string;
      /**
       * True when the request carried no bearer credentials at all. RFC 6750 section 3.1 says such a
       * challenge SHOULD NOT carry an error code, and it is discovery, not guessing, so the
       * failure limiter does not count it.
       */
      missing?: true;
    };

export const ALL_SCOPES: Scope[] = [...SCOPES];

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** admin implies jobs:read and jobs:write. */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes(scope) || principal.scopes.includes('admin');
}

/** publicUrl without trailing slashes, so `${base}/mcp` never doubles a slash. */
export function baseUrl(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/** The audiences a JWT may carry when AuthOptions.jwtAudience is not set. */
export function defaultAudiences(options: Pick<AuthOptions, 'publicUrl' | 'jwtAudience'>): string[] {
  if (options.jwtAudience) return [options.jwtAudience];
  const base = baseUrl(options.publicUrl);
  return [`${base}/mcp`, base];
}

/** The engine's view of a principal: who owns jobs, and whether it may see everyone's. */
export function viewerOf(principal: Principal): { id: string; admin: boolean; legacyId?: string } {
  const viewer = { id: principal.id, admin: hasScope(principal, 'admin') };
  return principal.legacyId === undefined ? viewer : { ...viewer, legacyId: principal.legacyId };
}

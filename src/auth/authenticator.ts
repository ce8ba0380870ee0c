// Turns an Authorization header into a Principal. Knows nothing of HTTP frameworks, so the MCP
// transport, the REST routes and tests can all call it with a plain string.
import { createHash, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { createJwtVerifier, type JwksTuning, type JwtVerifier } from './jwt.js';
import { staticPrincipal, TOKEN_PREFIX, type TokenStore } from './token-store.js';
import { principalId } from './principal-id.js';
import { ALL_SCOPES, type AuthOptions, type AuthResult, type Principal } from './types.js';

export interface Authenticator {
  authenticate(authorizationHeader: string | undefined): Promise<AuthResult>;
  /** Registers a callback for "a token was revoked in this process" (open streams re-check at once). */
  onRevocation(listener: () => void): void;
}

/** RFC 6750 section 2.1: `Bearer` (any case), one or more spaces, a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

// Hashing first gives equal-length buffers, which timingSafeEqual needs, and hides the env token's
// length from the timing of the comparison.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function createAuthenticator(
  options: AuthOptions,
  tokenStore: Pick<TokenStore, 'verify'> & Partial<Pick<TokenStore, 'onRevocation'>>,
  jwksTuning?: JwksTuning,
  /** Access tokens of the built-in authorization server (ES256, our own keys only). */
  oauth?: JwtVerifier,
): Authenticator {
  if (options.mode === 'none') {
    const local: Principal = { id: principalId({ kind: 'local' }), scopes: [...ALL_SCOPES], kind: 'anonymous' };
    return { authenticate: async () => ({ ok: true, principal: { ...local, scopes: [...local.scopes] } }), onRevocation: () => {} };
  }
  const envDigest = options.envToken ? digest(options.envToken) : undefined;
  const jwt: JwtVerifier | null = createJwtVerifier(options, jwksTuning);

  return {
    onRevocation: (listener) => tokenStore.onRevocation?.(listener),
    async authenticate(header) {
      if (header === undefined || header.trim() === '' || !/^bearer(\s|$)/i.test(header.trim())) {
        // No bearer credentials at all (or another scheme, e.g. Basic): a discovery request.
        return { ok: false, status: 401, error: 'invalid_request', description: 'A bearer token is required', missing: true };
      }
      const match = BEARER.exec(header.trim());
      const token = match?.[1];
      if (!token) {
        return { ok: false, status: 401, error: 'invalid_request', description: 'Malformed Authorization header; expected "Bearer <token>"' };
      }

      // Always compare against the env token, whatever the token looks like, so the timing does not
      // tell which kind of token was tried.
      if (envDigest && timingSafeEqual(digest(token), envDigest)) {
        return { ok: true, principal: staticPrincipal('default', [...ALL_SCOPES]) };
      }
      if (token.startsWith(TOKEN_PREFIX)) {
        const principal = await tokenStore.verify(token);
        return principal ? { ok: true, principal } : invalid('Unknown or revoked API token');
      }
      if (JWT_SHAPE.test(token)) {
        // The built-in server signs ES256 and is never on together with an external JWKS, so the
        // algorithm alone says which verifier a token is for; each checks its own alg allowlist.
        if (oauth && algorithmOf(token) === 'ES256') {
          const result = await oauth.verify(token);
          return result.ok ? result : invalid(result.description);
        }
        if (!jwt) return invalid('This server does not accept JWTs; use an API token');
        const result = await jwt.verify(token);
        return result.ok ? result : invalid(result.description);
      }
      return invalid('Unknown token');
    },
  };
}

function algorithmOf(token: string): unknown {
  try {
    return decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}

function invalid(description: string): AuthResult {
  return { ok: false, status: 401, error: 'invalid_token', description };
}

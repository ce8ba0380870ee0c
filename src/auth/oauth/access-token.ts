// Access tokens of the built-in authorization server: ES256 JWTs with iss = the public URL, aud = the
// MCP resource, sub = the principal, scope, client_id and the grant they belong to. Verification
// accepts only ES256 and only our own keys, checks issuer and audience, and then asks whether the
// grant is still live, so revoking a grant (or the token it was approved with) ends its access
// tokens at once rather than when they expire.
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, SignJWT, type JWK } from 'jose';
import type { Principal } from '../types.js';
import type { JwtResult } from '../jwt.js';
import { scopesOf } from '../jwt.js';
import { SIGNING_ALG, type SigningKeys } from './keys.js';
import type { Scope } from '../types.js';

export interface AccessTokenClaims {
  sub: string;
  scopes: Scope[];
  clientId: string;
  grantId: string;
}

export interface AccessTokenIssuer {
  issue(claims: AccessTokenClaims): Promise<{ token: string; expiresIn: number }>;
}

export function createAccessTokenIssuer(keys: SigningKeys, options: { issuer: string; audience: string; ttlMs: number }): AccessTokenIssuer {
  return {
    async issue(claims) {
      const key = await keys.signingKey();
      const expiresIn = Math.max(1, Math.round(options.ttlMs / 1000));
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ scope: claims.scopes.join(' '), client_id: claims.clientId, grant_id: claims.grantId })
        .setProtectedHeader({ alg: SIGNING_ALG, kid: key.kid, typ: 'at+jwt' })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(claims.sub)
        .setIssuedAt(now)
        .setExpirationTime(now + expiresIn)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { token, expiresIn };
    },
  };
}

export interface AccessTokenVerifier {
  verify(token: string): Promise<JwtResult>;
}

interface VerifiedClaims {
  sub: string;
  clientId: string;
  grantId: string;
  scopes: Scope[];
}

/** Checks signature, alg, issuer, audience and expiry; says nothing yet about the grant. */
export function createClaimsVerifier(keys: SigningKeys, options: { issuer: string; audience: string; clockToleranceSec?: number }) {
  let cached: { fingerprint: string; jwks: ReturnType<typeof createLocalJWKSet> } | undefined;
  const jwksFor = (keysNow: JWK[]) => {
    const fingerprint = keysNow.map((k) => k.kid).join(',');
    if (!cached || cached.fingerprint !== fingerprint) cached = { fingerprint, jwks: createLocalJWKSet({ keys: keysNow }) };
    return cached.jwks;
  };
  return async (token: string, verifyOptions: { ignoreExpiry?: boolean } = {}): Promise<VerifiedClaims | { error: string; expired?: true }> => {
    try {
      const { payload } = await jwtVerify(token, jwksFor(await keys.publicJwks()), {
        algorithms: [SIGNING_ALG],
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: ['exp', 'sub', 'client_id', 'grant_id'],
        clockTolerance: options.clockToleranceSec ?? 30,
        ...(verifyOptions.ignoreExpiry ? { currentDate: new Date(0) } : {}),
      });
      if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string' || typeof payload.grant_id !== 'string') {
        return { error: 'The token is missing its subject, client or grant' };
      }
      return { sub: payload.sub, clientId: payload.client_id, grantId: payload.grant_id, scopes: scopesOf(payload) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      const claim = (err as { claim?: string }).claim;
      if (code === 'ERR_JWT_EXPIRED') return { error: 'The token has expired; refresh it', expired: true };
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { error: `The token's "${claim ?? 'unknown'}" claim was rejected` };
      if (code === 'ERR_JWKS_NO_MATCHING_KEY') return { error: 'The token was not signed by this server (or by a key it no longer trusts)' };
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return { error: 'The token signature is invalid' };
      return { error: 'The token is not a valid access token of this server' };
    }
  };
}

export function createAccessTokenVerifier(
  claimsOf: ReturnType<typeof createClaimsVerifier>,
  grantIsLive: (grantId: string) => Promise<{ principalId: string } | undefined>,
): AccessTokenVerifier {
  return {
    async verify(token) {
      const claims = await claimsOf(token);
      if ('error' in claims) return { ok: false, reason: claims.expired ? 'expired' : 'claim_invalid', description: claims.error };
      const grant = await grantIsLive(claims.grantId);
      // sub must still be the grant's principal: a token never speaks for someone else.
      if (!grant || grant.principalId !== claims.sub) {
        return { ok: false, reason: 'claim_invalid', description: 'The grant behind this token was revoked; sign in again' };
      }
      // The grant acts as the consenting token's principal, including that token's pre-namespace
      // jobs (owner "alice" for token:alice; see principal-id.ts).
      const legacyId = claims.sub.startsWith('token:') ? claims.sub.slice('token:'.length) : undefined;
      const principal: Principal = { id: claims.sub, scopes: claims.scopes, kind: 'oauth', clientId: claims.clientId, grantId: claims.grantId, ...(legacyId ? { legacyId } : {}) };
      return { ok: true, principal };
    },
  };
}

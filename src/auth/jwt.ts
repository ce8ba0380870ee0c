// JWT access tokens, verified with jose only: HS256 tokens from `claude-async token mint`, and tokens
// of an external authorization server checked against its JWKS. Each path has its own algorithm
// allowlist, so an HS256 token can never be checked against a public key (algorithm confusion) and
// `alg: none` matches neither.
import { randomUUID } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  SignJWT,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { principalId } from './principal-id.js';
import { defaultAudiences, isScope, type AuthOptions, type Principal, type Scope } from './types.js';

const ASYMMETRIC_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'];
const MIN_SECRET_BYTES = 32;

export type JwtFailureReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'expired'
  | 'not_yet_valid'
  | 'claim_invalid'
  | 'no_matching_key'
  | 'bad_signature'
  | 'jwks_unavailable';

export type JwtResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: JwtFailureReason; description: string };

export interface JwtVerifier {
  verify(token: string): Promise<JwtResult>;
}

export interface JwksTuning {
  /**
   * After a fetch, a token whose `kid` is unknown triggers a refetch only once this much time has
   * passed. 30 s: a rotated key is picked up within half a minute, while a flood of tokens with
   * made-up kids cannot make us hammer the issuer.
   */
  cooldownMs?: number;
  /** Refetch the JWKS at least this often even when every kid is known (keys get revoked). */
  cacheMaxAgeMs?: number;
  timeoutMs?: number;
  /** Accepted clock skew between us and the issuer for exp/nbf/iat. */
  clockToleranceSec?: number;
}

type JwtOptions = Pick<AuthOptions, 'publicUrl' | 'jwtSecret' | 'jwksUrl' | 'jwtIssuer' | 'jwtAudience'>;

function secretKey(secret: string): Uint8Array {
  const key = new TextEncoder().encode(secret);
  if (key.length < MIN_SECRET_BYTES) {
    throw new TypeError(`The JWT secret must be at least ${MIN_SECRET_BYTES} bytes; generate one with: openssl rand -base64 48`);
  }
  return key;
}

/** null when neither a secret nor a JWKS is configured: the server then accepts no JWTs. */
export function createJwtVerifier(options: JwtOptions, tuning: JwksTuning = {}): JwtVerifier | null {
  if (!options.jwtSecret && !options.jwksUrl) return null;
  const secret = options.jwtSecret ? secretKey(options.jwtSecret) : undefined;
  const jwks = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), {
        cooldownDuration: tuning.cooldownMs ?? 30_000,
        cacheMaxAge: tuning.cacheMaxAgeMs ?? 10 * 60_000,
        timeoutDuration: tuning.timeoutMs ?? 5_000,
      })
    : undefined;
  const common: JWTVerifyOptions = {
    audience: defaultAudiences(options),
    clockTolerance: tuning.clockToleranceSec ?? 30,
    // A token without exp would be valid forever; without sub it belongs to nobody.
    requiredClaims: ['exp', 'sub'],
    ...(options.jwtIssuer ? { issuer: options.jwtIssuer } : {}),
  };

  return {
    async verify(token) {
      let alg: unknown;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        return fail('malformed', 'The token is not a well-formed JWT');
      }
      try {
        if (alg === 'HS256' && secret) {
          const { payload } = await jwtVerify(token, secret, { ...common, algorithms: ['HS256'] });
          return toPrincipal(payload);
        }
        if (typeof alg === 'string' && ASYMMETRIC_ALGORITHMS.includes(alg) && jwks) {
          const { payload } = await jwtVerify(token, jwks, { ...common, algorithms: ASYMMETRIC_ALGORITHMS });
          return toPrincipal(payload);
        }
        return fail('alg_not_allowed', `Tokens signed with alg "${String(alg)}" are not accepted here`);
      } catch (err) {
        return describeJoseError(err);
      }
    },
  };
}

function fail(reason: JwtFailureReason, description: string): JwtResult {
  return { ok: false, reason, description };
}

function toPrincipal(payload: JWTPayload): JwtResult {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
    return fail('claim_invalid', 'The token has no subject (sub)');
  }
  const issuer = typeof payload.iss === 'string' ? payload.iss : undefined;
  return { ok: true, principal: { id: principalId({ kind: 'jwt', issuer, subject: payload.sub }), scopes: scopesOf(payload), kind: 'jwt' } };
}

/**
 * OAuth's `scope` is a space-separated string; Azure and Okta use `scp`, as an array or a string.
 * Scopes this server does not know (openid, profile, ...) are dropped.
 */
export function scopesOf(payload: JWTPayload): Scope[] {
  const words = (claim: unknown): unknown[] =>
    typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : [];
  return [...new Set([...words(payload.scope), ...words(payload.scp)].filter(isScope))];
}

// jose messages name the claim that failed but never echo the token, so they are safe to return.
function describeJoseError(err: unknown): JwtResult {
  const code = (err as { code?: string }).code;
  const claim = (err as { claim?: string }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return fail('expired', 'The token has expired; get a new one');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return fail('not_yet_valid', 'The token is not valid yet (nbf)');
      return fail('claim_invalid', `The token's "${claim ?? 'unknown'}" claim was rejected`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return fail('alg_not_allowed', 'The token is signed with an algorithm not accepted here');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail('no_matching_key', "No key in the issuer's JWKS matches the token");
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail('bad_signature', 'The token signature is invalid');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('malformed', 'The token is not a well-formed JWT');
    default:
      // Timeouts, network errors, a JWKS endpoint answering garbage.
      return fail('jwks_unavailable', "The issuer's signing keys could not be fetched; try again later");
  }
}

interface MintOptions {
  secret: string;
  sub: string;
  scopes: Scope[];
  ttlSeconds: number;
  issuer?: string;
  /** Pass the server's audience (see defaultAudiences) or the token will be refused. */
  audience?: string;
}

/** An HS256 access token for `claude-async token mint`. */
export async function mintToken(options: MintOptions): Promise<string> {
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
    throw new TypeError('ttlSeconds must be a positive whole number');
  }
  if (!options.sub) throw new TypeError('sub must not be empty');
  const issuedAt = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT({ scope: options.scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + options.ttlSeconds)
    .setJti(randomUUID());
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(secretKey(options.secret));
}

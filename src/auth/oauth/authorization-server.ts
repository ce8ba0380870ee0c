// The built-in OAuth 2.1 authorization server, assembled: the SDK's mcpAuthRouter (authorize, token,
// register, revoke) with our provider and client store, plus what the SDK leaves to us: the RFC 8414
// document (also at /.well-known/openid-configuration) with JWKS and CIMD support, the JWKS itself,
// HTML error pages before a redirect URI is trusted, 401 for unknown clients at /token, and
// client_secret_basic. Opened in two steps because the authenticator needs our access-token
// verifier and the consent page needs the authenticator.
import path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import express, { type IRouter, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { createOAuthMetadata, mcpAuthRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { Config } from '../../config.js';
import { isLoopbackHost } from '../../config.js';
import type { Authenticator } from '../authenticator.js';
import type { AuthFailureLimiter } from '../middleware.js';
import type { TokenStore } from '../token-store.js';
import { baseUrl, SCOPES } from '../types.js';
import { createAccessTokenIssuer, createAccessTokenVerifier, createClaimsVerifier, type AccessTokenVerifier } from './access-token.js';
import { ClientRegistry } from './clients.js';
import { AuthorizationCodes } from './codes.js';
import { ConsentFlow, type Consenter } from './consent.js';
import { CONSENT_PATH, pageSecurityHeaders, renderErrorPage } from './consent-page.js';
import { GrantStore, isGrantLive } from './grants.js';
import { SigningKeys } from './keys.js';
import { BuiltInOAuthProvider } from './provider.js';
import { emptyState, sha256Hex, stateSchema, type GrantSource, type OAuthState } from './records.js';
import { StateFile } from '../../files/state-file.js';

const FORM_LIMIT = '16kb';
/** Per IP, per 15 minutes, on /authorize, /token and /revoke (the SDK's limiter; Claude's backend shares few IPs). */
const PROTOCOL_REQUESTS_PER_WINDOW = 300;

function oauthDir(config: Config): string {
  return path.join(config.dataDir, 'oauth');
}

/** Whether the built-in server runs, and if not, why; `doctor` prints the reason. */
export function builtInServerStatus(config: Config): { on: true } | { on: false; reason: string } {
  if (config.auth !== 'token') return { on: false, reason: 'auth is off (CLAUDE_ASYNC_AUTH=none)' };
  if (config.jwksUrl) return { on: false, reason: `an external authorization server is configured (CLAUDE_ASYNC_JWKS_URL)` };
  if (!config.oauth) return { on: false, reason: 'turned off (CLAUDE_ASYNC_OAUTH=off)' };
  const url = new URL(config.publicUrl);
  if (url.protocol !== 'https:' && !(url.hostname === 'localhost' || url.hostname === '127.0.0.1')) {
    const loopback = isLoopbackHost(url.hostname);
    return {
      on: false,
      reason: loopback
        ? `the public URL ${config.publicUrl} is loopback but not localhost or 127.0.0.1, which the MCP SDK requires of an http issuer`
        : `the issuer must be https, and the public URL ${config.publicUrl} is not`,
    };
  }
  if (url.search || url.hash) return { on: false, reason: 'the public URL has a query or fragment' };
  return { on: true };
}

/** The files the server and the CLI share. */
export function openOAuthFiles(config: Config) {
  const dir = oauthDir(config);
  const state = new StateFile<OAuthState>(path.join(dir, 'state.json'), stateSchema, emptyState, { what: 'claude-async OAuth file' });
  const keys = new SigningKeys(path.join(dir, 'keys.json'), config.oauthAccessTtlMs);
  const grants = new GrantStore(state, config.oauthRefreshTtlMs);
  return { state, keys, grants };
}

/** Whether the claude-async token a grant was approved with still exists. */
function sourceChecker(config: Config, tokenStore: Pick<TokenStore, 'list'>) {
  return async (source: GrantSource): Promise<boolean> => {
    if (source.kind === 'env') return config.token !== undefined && sha256Hex(config.token) === source.fingerprint;
    return (await tokenStore.list()).some((t) => t.name === source.name && t.createdAt === source.createdAt);
  };
}

export interface BuiltInAuthorizationServer {
  issuer: string;
  accessTokens: AccessTokenVerifier;
  /** Discovery, JWKS, /authorize, /token, /register, /revoke: mount before the Origin check (browser clients call them cross-origin). */
  mountProtocol(app: IRouter, deps: { authenticator: Authenticator; failureLimiter: AuthFailureLimiter; log: Logger }): void;
  /** POST /oauth/consent: mount after the Origin check. */
  mountConsent(app: IRouter): void;
}

export async function openAuthorizationServer(config: Config, tokenStore: TokenStore): Promise<BuiltInAuthorizationServer> {
  const issuer = baseUrl(config.publicUrl);
  const resource = `${issuer}/mcp`;
  const { state, keys, grants } = openOAuthFiles(config);
  await keys.ensureKey();
  const sourceAlive = sourceChecker(config, tokenStore);
  const claimsOf = createClaimsVerifier(keys, { issuer, audience: resource });
  const liveGrant = async (grantId: string) => {
    const grant = await grants.get(grantId);
    return grant && isGrantLive(grant, Date.now()) && (await sourceAlive(grant.source)) ? grant : undefined;
  };
  const accessTokens = createAccessTokenVerifier(claimsOf, liveGrant);
  const clients = new ClientRegistry(state, {
    maxClients: config.oauthMaxClients,
    unusedClientTtlMs: config.oauthUnusedClientTtlMs,
    fetch: { timeoutMs: 5000, maxBytes: 64 * 1024, maxRedirects: 3, loopbackOrigins: config.oauthCimdLoopbackOrigins },
  });
  const codes = new AuthorizationCodes();
  let consent: ConsentFlow | undefined;

  return {
    issuer,
    accessTokens,
    mountProtocol(app, deps) {
      consent = new ConsentFlow({
        identify: consenterOf(config, deps.authenticator, tokenStore),
        codes,
        issuer,
        publicOrigin: new URL(config.publicUrl).origin,
        failureLimiter: deps.failureLimiter,
        onFailure: (info) => deps.log.warn(info, 'oauth consent refused'),
      });
      const provider = new BuiltInOAuthProvider({
        clients, grants, codes, consent, resource, claimsOf, sourceAlive, liveGrant,
        tokens: createAccessTokenIssuer(keys, { issuer, audience: resource, ttlMs: config.oauthAccessTtlMs }),
      });
      const protocolLimit = { windowMs: 15 * 60_000, max: PROTOCOL_REQUESTS_PER_WINDOW };
      const sdkMetadata = createOAuthMetadata({ provider, issuerUrl: new URL(issuer), scopesSupported: [...SCOPES] });
      const authMethods = ['none', 'client_secret_post', 'client_secret_basic'];
      // The SDK's document says issuer "https://box/" (URL.href); RFC 8414 wants the identifier as
      // clients derive it, and it must equal the tokens' iss.
      const metadata = {
        ...sdkMetadata,
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint_auth_methods_supported: authMethods,
        revocation_endpoint_auth_methods_supported: authMethods,
        client_id_metadata_document_supported: true,
        authorization_response_iss_parameter_supported: true,
      };
      const publicJson = (body: () => Promise<unknown> | unknown): RequestHandler => async (_req, res, next) => {
        try {
          res.set('Access-Control-Allow-Origin', '*').set('Cache-Control', 'public, max-age=300').json(await body());
        } catch (error) {
          next(error);
        }
      };
      app.get('/.well-known/oauth-authorization-server', publicJson(() => metadata));
      app.get('/.well-known/openid-configuration', publicJson(() => metadata));
      app.get('/.well-known/jwks.json', publicJson(async () => ({ keys: await keys.publicJwks() })));
      app.all('/authorize', express.urlencoded({ extended: false, limit: FORM_LIMIT }), authorizePrecheck(clients));
      app.use(['/token', '/revoke'], express.urlencoded({ extended: false, limit: FORM_LIMIT }), basicClientAuth, unknownClientIs401(clients));
      app.use(mcpAuthRouter({
        provider,
        issuerUrl: new URL(issuer),
        scopesSupported: [...SCOPES],
        resourceServerUrl: new URL(resource),
        resourceName: 'claude-async',
        authorizationOptions: { rateLimit: protocolLimit },
        tokenOptions: { rateLimit: protocolLimit },
        revocationOptions: { rateLimit: protocolLimit },
        clientRegistrationOptions: {
          rateLimit: { windowMs: 60 * 60_000, max: config.oauthRegistrationsPerHour },
          // Secrets do not expire on their own; `claude-async oauth revoke <client>` removes a client.
          clientSecretExpirySeconds: 0,
        },
      }));
    },
    mountConsent(app) {
      if (!consent) throw new Error('mountProtocol must run before mountConsent');
      app.post(CONSENT_PATH, express.urlencoded({ extended: false, limit: FORM_LIMIT }), consent.handler());
    },
  };
}

/** The consent page accepts claude-async tokens only (static or CLAUDE_ASYNC_TOKEN), never a JWT. */
function consenterOf(config: Config, authenticator: Authenticator, tokenStore: TokenStore) {
  return async (token: string): Promise<Consenter | undefined> => {
    if (!token || /\s/.test(token)) return undefined;
    const result = await authenticator.authenticate(`Bearer ${token}`);
    if (!result.ok || result.principal.kind !== 'static') return undefined;
    if (config.token && token.length === config.token.length && timingSafeEqual(Buffer.from(token), Buffer.from(config.token))) {
      return { principal: result.principal, source: { kind: 'env', fingerprint: sha256Hex(config.token) } };
    }
    const info = await tokenStore.describe(token);
    if (!info) return undefined;
    return { principal: result.principal, source: { kind: 'static', name: info.name, createdAt: info.createdAt } };
  };
}

function errorPage(res: Response, message: string): void {
  res.status(400).set(pageSecurityHeaders()).send(renderErrorPage('This sign-in cannot continue', message));
}

/**
 * Until the client and its redirect URI are known good, nothing may be redirected: errors are shown
 * as a page. The redirect URI must equal a registered one exactly.
 */
function authorizePrecheck(clients: ClientRegistry): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'POST') return next();
    const params = (req.method === 'POST' ? req.body : req.query) as Record<string, unknown> | undefined;
    const clientId = params?.client_id;
    const redirectUri = params?.redirect_uri;
    if (typeof clientId !== 'string' || clientId === '') return errorPage(res, 'The request names no client (client_id).');
    if (redirectUri !== undefined && typeof redirectUri !== 'string') return errorPage(res, 'redirect_uri must be given once.');
    try {
      const lookup = await clients.lookup(clientId);
      if (!lookup.client) return errorPage(res, lookup.problem);
      const registered = lookup.client.redirect_uris.map(String);
      if (redirectUri === undefined ? registered.length !== 1 : !registered.includes(redirectUri)) {
        return errorPage(res, 'The redirect_uri is not one this app registered, so this server will not send you there.');
      }
    } catch (error) {
      return next(error);
    }
    next();
  };
}

/** RFC 6749 section 2.3.1: client_secret_basic, turned into the form fields the SDK reads. */
function basicClientAuth(req: Request, res: Response, next: NextFunction): void {
  const header = req.headers.authorization;
  if (req.method !== 'POST' || !header || !/^basic /i.test(header)) return next();
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const body = (req.body ?? {}) as Record<string, unknown>;
  let id: string;
  let secret: string;
  try {
    id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
  } catch {
    id = '';
    secret = '';
  }
  if (colon < 0 || !id || (body.client_id !== undefined && body.client_id !== id)) {
    res.status(401).set('WWW-Authenticate', 'Basic realm="claude-async"').json({ error: 'invalid_client', error_description: 'Malformed client credentials' });
    return;
  }
  req.body = { ...body, client_id: id, client_secret: secret };
  next();
}

/** An unknown client_id is 401 invalid_client (the SDK says 400), which tells Claude to register again. */
function unknownClientIs401(clients: ClientRegistry): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const clientId = (req.body as Record<string, unknown> | undefined)?.client_id;
    if (req.method !== 'POST' || typeof clientId !== 'string') return next();
    try {
      if (await clients.getClient(clientId)) return next();
    } catch (error) {
      return next(error);
    }
    res.status(401).set('Cache-Control', 'no-store').json({ error: 'invalid_client', error_description: 'Unknown client_id; register again' });
  };
}

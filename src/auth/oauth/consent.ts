// The consent step between /authorize and the code: the person proves who they are with an existing
// claude-async token, and approves or denies. The grant belongs to that token's principal, with at
// most that token's scopes: OAuth never gives anyone more than the token they already hold.
//
// Why the principal is the consenting token's own id (and not, say, "oauth:<client>"): the person
// connecting Claude is the person who owns that token, and they must see the jobs they started with
// it. OAuth principals cannot collide with anyone else's: a grant can only be made by presenting the
// token itself, and the access token's sub is bound to the grant (checked on every request), so an
// OAuth token never speaks for a principal whose token was not presented.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { AuthorizationParams } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { OAuthClientInformationFull } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { AuthFailureLimiter } from '../middleware.js';
import { ALL_SCOPES, isScope, type Principal, type Scope } from '../types.js';
import type { AuthorizationCodes } from './codes.js';
import { pageSecurityHeaders, renderConsentPage, renderErrorPage } from './consent-page.js';
import type { GrantSource } from './records.js';

const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 10_000;

interface PendingRequest {
  clientId: string;
  clientName: string;
  redirectUri: string;
  codeChallenge: string;
  state?: string;
  requestedScopes: string[];
  resource: string;
  csrf: string;
  expiresAt: number;
}

export interface Consenter {
  principal: Principal;
  source: GrantSource;
}

export interface ConsentDeps {
  /** The principal and source of a claude-async token, or undefined when it is not one. */
  identify(token: string): Promise<Consenter | undefined>;
  codes: AuthorizationCodes;
  issuer: string;
  publicOrigin: string;
  failureLimiter?: AuthFailureLimiter;
  onFailure?: (info: { ip: string; reason: string }) => void;
  now?: () => number;
}

/**
 * What a grant may hold: the scopes asked for that the token holds (admin holds all). Asking only
 * for more than the token holds narrows to what it holds, never admin unless admin was asked for.
 */
export function grantableScopes(requested: readonly string[], held: readonly Scope[]): Scope[] {
  const effective: Scope[] = held.includes('admin') ? [...ALL_SCOPES] : [...held];
  const asked = requested.filter(isScope);
  const both = effective.filter((s) => asked.includes(s));
  if (both.length) return both;
  return effective.filter((s) => s !== 'admin').length ? effective.filter((s) => s !== 'admin') : effective;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function redirectWith(redirectUri: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
  return url.href;
}

export class ConsentFlow {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly now: () => number;

  constructor(private readonly deps: ConsentDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Answers /authorize with the consent page (the SDK has checked the client and redirect URI). */
  show(client: OAuthClientInformationFull, params: Omit<AuthorizationParams, 'resource'> & { resource: string }, res: Response): void {
    this.sweep();
    const requestId = randomBytes(24).toString('base64url');
    const request: PendingRequest = {
      clientId: client.client_id,
      clientName: client.client_name?.trim() || 'An unnamed app',
      redirectUri: params.redirectUri,
      codeChallenge: params.codeChallenge,
      ...(params.state !== undefined ? { state: params.state } : {}),
      requestedScopes: (params.scopes ?? []).filter(Boolean),
      resource: params.resource,
      csrf: randomBytes(24).toString('base64url'),
      expiresAt: this.now() + PENDING_TTL_MS,
    };
    this.pending.set(requestId, request);
    this.render(res, 200, requestId, request);
  }

  /** POST /oauth/consent */
  handler(): RequestHandler {
    return async (req: Request, res: Response) => {
      const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      // The form is only ever posted from our own page. Browsers send Origin on every POST; a foreign
      // one (or a cross-site fetch) is a forged consent.
      const origin = req.headers.origin;
      const site = req.headers['sec-fetch-site'];
      if ((origin !== undefined && origin !== this.deps.publicOrigin) || (typeof site === 'string' && site !== 'same-origin' && site !== 'none')) {
        this.deps.onFailure?.({ ip, reason: 'consent posted from another origin' });
        this.error(res, 403, 'Request refused', 'This approval did not come from the sign-in page of this server.');
        return;
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const field = (name: string) => (typeof body[name] === 'string' ? (body[name] as string) : '');
      const requestId = field('request');
      const request = this.pending.get(requestId);
      if (!request || request.expiresAt <= this.now()) {
        this.pending.delete(requestId);
        this.error(res, 400, 'This sign-in has expired', 'The sign-in request is unknown or older than 10 minutes.');
        return;
      }
      if (!sameSecret(field('csrf'), request.csrf)) {
        this.deps.onFailure?.({ ip, reason: 'consent without a valid CSRF token' });
        this.error(res, 403, 'Request refused', 'The form was not the one this server showed (its CSRF token is missing or wrong).');
        return;
      }
      const decision = field('decision');
      if (decision === 'deny') {
        this.pending.delete(requestId);
        res.redirect(302, redirectWith(request.redirectUri, { error: 'access_denied', error_description: 'The person denied access', state: request.state, iss: this.deps.issuer }));
        return;
      }
      if (decision !== 'approve') {
        this.render(res, 400, requestId, request, 'Choose Approve or Deny.');
        return;
      }
      const retryAfter = (await this.deps.failureLimiter?.retryAfterSeconds(ip)) ?? 0;
      if (retryAfter > 0) {
        res.set('Retry-After', String(retryAfter));
        this.render(res, 429, requestId, request, `Too many wrong tokens from this address; try again in ${retryAfter} s.`);
        return;
      }
      const consenter = await this.deps.identify(field('token').trim());
      if (!consenter) {
        await this.deps.failureLimiter?.recordFailure(ip);
        this.deps.onFailure?.({ ip, reason: 'wrong token on the consent page' });
        this.render(res, 401, requestId, request, 'That token was not accepted. Paste a claude-async token (cas_…) that has not been revoked.');
        return;
      }
      this.pending.delete(requestId);
      const code = this.deps.codes.issue({
        clientId: request.clientId,
        clientName: request.clientName,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        resource: request.resource,
        principalId: consenter.principal.id,
        source: consenter.source,
        scopes: grantableScopes(request.requestedScopes, consenter.principal.scopes),
      });
      res.redirect(302, redirectWith(request.redirectUri, { code, state: request.state, iss: this.deps.issuer }));
    };
  }

  private render(res: Response, status: number, requestId: string, request: PendingRequest, error?: string): void {
    const redirect = new URL(request.redirectUri);
    res.status(status).set(pageSecurityHeaders([redirect.origin])).send(renderConsentPage({
      clientName: request.clientName,
      clientId: request.clientId,
      redirectHost: redirect.host,
      requestedScopes: request.requestedScopes,
      requestId,
      csrf: request.csrf,
      ...(error ? { error } : {}),
    }));
  }

  private error(res: Response, status: number, title: string, message: string): void {
    res.status(status).set(pageSecurityHeaders()).send(renderErrorPage(title, message));
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, request] of this.pending) if (request.expiresAt <= now) this.pending.delete(id);
    while (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
  }
}

// Our OAuthServerProvider for the SDK's mcpAuthRouter: the SDK parses and validates the protocol
// requests (PKCE S256 check included); this class decides: consent, codes, grants, tokens.
import type { Response } from 'express';
import type { AuthorizationParams, OAuthServerProvider } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { InvalidGrantError, InvalidScopeError, InvalidTargetError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthClientInformationFull, OAuthTokenRevocationRequest, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { isScope } from '../types.js';
import type { AccessTokenIssuer, createClaimsVerifier } from './access-token.js';
import type { ClientRegistry } from './clients.js';
import type { AuthorizationCodes } from './codes.js';
import type { ConsentFlow } from './consent.js';
import { REFRESH_TOKEN_PREFIX, type GrantStore } from './grants.js';
import type { Grant, GrantSource } from './records.js';

interface ProviderDeps {
  clients: ClientRegistry;
  grants: GrantStore;
  codes: AuthorizationCodes;
  consent: ConsentFlow;
  tokens: AccessTokenIssuer;
  claimsOf: ReturnType<typeof createClaimsVerifier>;
  /** The MCP resource (RFC 8707) tokens are for: `${publicUrl}/mcp`. */
  resource: string;
  sourceAlive(source: GrantSource): Promise<boolean>;
  /** The grant when it is live and the token it was approved with still exists. */
  liveGrant(grantId: string): Promise<Grant | undefined>;
}

const sameResource = (a: string | URL, b: string) => new URL(String(a)).href === new URL(b).href;

export class BuiltInOAuthProvider implements OAuthServerProvider {
  constructor(private readonly deps: ProviderDeps) {}

  get clientsStore(): ClientRegistry {
    return this.deps.clients;
  }

  async authorize(client: OAuthClientInformationFull, params: AuthorizationParams, res: Response): Promise<void> {
    if (params.resource && !sameResource(params.resource, this.deps.resource)) {
      throw new InvalidTargetError(`This server issues tokens only for ${this.deps.resource}`);
    }
    this.deps.consent.show(client, { ...params, resource: this.deps.resource }, res);
  }

  async challengeForAuthorizationCode(client: OAuthClientInformationFull, code: string): Promise<string> {
    const lookup = this.deps.codes.peek(code, client.client_id);
    if (lookup.status === 'fresh') return lookup.approved.codeChallenge;
    throw await this.codeRefused(lookup);
  }

  async exchangeAuthorizationCode(
    client: OAuthClientInformationFull,
    code: string,
    _codeVerifier?: string,
    redirectUri?: string,
    resource?: URL,
  ): Promise<OAuthTokens> {
    const lookup = this.deps.codes.take(code, client.client_id);
    if (lookup.status !== 'fresh') throw await this.codeRefused(lookup);
    const approved = lookup.approved;
    if (redirectUri !== undefined && redirectUri !== approved.redirectUri) {
      throw new InvalidGrantError('redirect_uri differs from the one used to authorize');
    }
    if (resource && !sameResource(resource, approved.resource)) throw new InvalidTargetError(`This code is for ${approved.resource}`);
    if (!(await this.deps.sourceAlive(approved.source))) throw new InvalidGrantError('The token used to approve this was revoked');
    const { grant, refreshToken } = await this.deps.grants.create({
      clientId: approved.clientId,
      ...(approved.clientName ? { clientName: approved.clientName } : {}),
      principalId: approved.principalId,
      source: approved.source,
      scopes: approved.scopes,
      resource: approved.resource,
    }, (data) => this.deps.clients.markUsed(data, approved.clientId));
    if (this.deps.codes.attachGrant(code, grant.id)) {
      // The code came back while this grant was being made: nothing issued from it may live.
      await this.deps.grants.revokeWhere((g) => g.id === grant.id, 'its authorization code was used twice');
      throw new InvalidGrantError('The authorization code was already used');
    }
    return this.tokensFor(grant, refreshToken);
  }

  async exchangeRefreshToken(client: OAuthClientInformationFull, refreshToken: string, scopes?: string[], resource?: URL): Promise<OAuthTokens> {
    if (resource && !sameResource(resource, this.deps.resource)) throw new InvalidTargetError(`This server issues tokens only for ${this.deps.resource}`);
    const outcome = await this.deps.grants.rotate(refreshToken, client.client_id, (source) => this.deps.sourceAlive(source));
    if (!outcome.ok) {
      const why = {
        unknown: 'The refresh token is unknown',
        reused: 'The refresh token was already used; every token of this sign-in is now revoked',
        revoked: 'This sign-in was revoked; sign in again',
        expired: 'The refresh token has expired; sign in again',
        wrong_client: 'The refresh token belongs to another client',
        source_gone: 'The token used to approve this sign-in was revoked; sign in again',
      }[outcome.reason];
      throw new InvalidGrantError(why);
    }
    let granted = outcome.grant.scopes;
    if (scopes && scopes.length) {
      const extra = scopes.filter((s) => !isScope(s) || !granted.includes(s));
      if (extra.length) throw new InvalidScopeError(`The grant does not include ${extra.join(', ')}`);
      granted = granted.filter((s) => scopes.includes(s));
    }
    return this.tokensFor({ ...outcome.grant, scopes: granted }, outcome.refreshToken);
  }

  async verifyAccessToken(token: string): Promise<AuthInfo> {
    const claims = await this.deps.claimsOf(token);
    if ('error' in claims) throw new InvalidTokenError(claims.error);
    const grant = await this.deps.liveGrant(claims.grantId);
    if (!grant || grant.principalId !== claims.sub) throw new InvalidTokenError('The grant behind this token was revoked');
    return { token, clientId: claims.clientId, scopes: claims.scopes, resource: new URL(grant.resource), extra: { principal: claims.sub } };
  }

  /** RFC 7009: revoking either kind of token ends the grant (and so every token of it). */
  async revokeToken(client: OAuthClientInformationFull, request: OAuthTokenRevocationRequest): Promise<void> {
    let grantId: string | undefined;
    if (request.token.startsWith(REFRESH_TOKEN_PREFIX)) {
      grantId = (await this.deps.grants.byRefreshToken(request.token))?.id;
    } else {
      const claims = await this.deps.claimsOf(request.token, { ignoreExpiry: true });
      if (!('error' in claims)) grantId = claims.grantId;
    }
    if (!grantId) return; // unknown tokens are fine to "revoke" (RFC 7009 section 2.2)
    await this.deps.grants.revokeWhere((g) => g.id === grantId && g.clientId === client.client_id, 'revoked by the client');
  }

  private async tokensFor(grant: Grant, refreshToken: string): Promise<OAuthTokens> {
    const { token, expiresIn } = await this.deps.tokens.issue({ sub: grant.principalId, scopes: grant.scopes, clientId: grant.clientId, grantId: grant.id });
    return { access_token: token, token_type: 'Bearer', expires_in: expiresIn, refresh_token: refreshToken, scope: grant.scopes.join(' ') };
  }

  private async codeRefused(lookup: { status: string; grantId?: string }): Promise<Error> {
    if (lookup.status === 'replayed') {
      if (lookup.grantId) {
        const id = lookup.grantId;
        await this.deps.grants.revokeWhere((g) => g.id === id, 'its authorization code was used twice');
      }
      return new InvalidGrantError('The authorization code was already used; the tokens issued from it are revoked');
    }
    if (lookup.status === 'expired') return new InvalidGrantError('The authorization code has expired');
    return new InvalidGrantError('The authorization code is invalid');
  }
}

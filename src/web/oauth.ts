// Sign-in through the server's own OAuth 2.1 authorization server, as a public client: discovery
// (RFC 9728 → RFC 8414), dynamic registration (RFC 7591), authorization code with PKCE S256 and
// state, the resource indicator (RFC 8707), and refresh. Only endpoints on this page's own origin
// are used: the CSP allows no other, and a token must never be sent anywhere else.
import type { Session } from './session.js';

interface OAuthServer {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  registrationEndpoint: string;
  resource: string;
  scope: string;
}

interface PendingSignIn {
  issuer: string;
  state: string;
  verifier: string;
  clientId: string;
  redirectUri: string;
  tokenEndpoint: string;
  resource: string;
  returnTo: string;
}

const PENDING_KEY = 'claude-async.oauth-pending';
const WANTED_SCOPES = ['jobs:read', 'jobs:write', 'admin'];

const sameOrigin = (url: unknown): url is string => {
  try {
    return typeof url === 'string' && new URL(url).origin === location.origin;
  } catch {
    return false;
  }
};

async function getJson(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(url, { credentials: 'omit', cache: 'no-store', redirect: 'error' });
    if (!res.ok) return null;
    const body: unknown = await res.json();
    return body && typeof body === 'object' ? (body as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** RFC 8414 §3: the well-known suffix goes between the issuer's origin and its path. */
function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/** The built-in authorization server, or null when this server has none the page may use. */
export async function discoverOAuth(): Promise<OAuthServer | null> {
  const resourceDoc = await getJson('/.well-known/oauth-protected-resource/mcp');
  const issuer = Array.isArray(resourceDoc?.authorization_servers) ? resourceDoc.authorization_servers[0] : undefined;
  if (!resourceDoc || !sameOrigin(issuer) || typeof resourceDoc.resource !== 'string') return null;
  const meta = await getJson(metadataUrl(issuer));
  if (!meta) return null;
  const { authorization_endpoint: authorize, token_endpoint: token, registration_endpoint: register } = meta;
  const methods = Array.isArray(meta.code_challenge_methods_supported) ? meta.code_challenge_methods_supported : [];
  if (!sameOrigin(authorize) || !sameOrigin(token) || !sameOrigin(register) || !methods.includes('S256')) return null;
  const supported = Array.isArray(meta.scopes_supported) ? meta.scopes_supported : WANTED_SCOPES;
  return {
    issuer: typeof meta.issuer === 'string' ? meta.issuer : issuer,
    authorizationEndpoint: authorize,
    tokenEndpoint: token,
    registrationEndpoint: register,
    resource: resourceDoc.resource,
    scope: WANTED_SCOPES.filter((s) => supported.includes(s)).join(' '),
  };
}

function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomString = (bytes = 32) => base64url(crypto.getRandomValues(new Uint8Array(bytes)));

async function challengeOf(verifier: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

const redirectUri = () => `${location.origin}/ui/`;

/** Registers this page as a public client and sends the browser to the consent page. */
export async function beginOAuthSignIn(server: OAuthServer, returnTo: string): Promise<void> {
  const registered = await fetch(server.registrationEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'omit',
    body: JSON.stringify({
      client_name: 'claude-async jobs page',
      redirect_uris: [redirectUri()],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: server.scope,
    }),
  });
  const client = (await registered.json().catch(() => ({}))) as { client_id?: string; error_description?: string };
  if (!registered.ok || !client.client_id) throw new Error(`Registration failed: ${client.error_description ?? registered.status}`);
  const pending: PendingSignIn = {
    issuer: server.issuer,
    state: randomString(), verifier: randomString(48), clientId: client.client_id, redirectUri: redirectUri(),
    tokenEndpoint: server.tokenEndpoint, resource: server.resource, returnTo,
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(server.authorizationEndpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: pending.clientId,
    redirect_uri: pending.redirectUri,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: 'S256',
    state: pending.state,
    resource: pending.resource,
    scope: server.scope,
  }).toString();
  location.assign(url.toString());
}

async function tokenRequest(tokenEndpoint: string, form: Record<string, string>): Promise<{ access_token: string; refresh_token?: string }> {
  const res = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    credentials: 'omit',
    body: new URLSearchParams(form).toString(),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; refresh_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`Token exchange failed: ${body.error_description ?? body.error ?? res.status}`);
  return { access_token: body.access_token, ...(body.refresh_token ? { refresh_token: body.refresh_token } : {}) };
}

/**
 * Finishes a sign-in when the authorization server has sent the browser back with ?code&state (or
 * ?error). Returns null when this load is not such a return. The query is removed from the address
 * bar first, so a reload or a shared link never replays the code.
 */
export async function completeOAuthSignIn(): Promise<{ session: Session; returnTo: string } | null> {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = raw ? (JSON.parse(raw) as PendingSignIn) : null;
  history.replaceState(null, '', `${location.pathname}${pending?.returnTo ?? ''}`);
  if (!pending || params.get('state') !== pending.state) throw new Error('Sign-in answer did not match a sign-in started here; try again.');
  // RFC 9207: an answer naming another issuer is a mix-up attack, not ours to redeem.
  const iss = params.get('iss');
  if (iss !== null && iss.replace(/\/+$/, '') !== pending.issuer.replace(/\/+$/, '')) throw new Error('Sign-in answer came from another issuer; try again.');
  const error = params.get('error');
  if (error) throw new Error(error === 'access_denied' ? 'Sign-in was denied.' : `Sign-in failed: ${params.get('error_description') ?? error}`);
  const tokens = await tokenRequest(pending.tokenEndpoint, {
    grant_type: 'authorization_code',
    code: params.get('code') ?? '',
    redirect_uri: pending.redirectUri,
    client_id: pending.clientId,
    code_verifier: pending.verifier,
    resource: pending.resource,
  });
  return {
    session: {
      kind: 'oauth', accessToken: tokens.access_token, refreshToken: tokens.refresh_token,
      tokenEndpoint: pending.tokenEndpoint, clientId: pending.clientId, resource: pending.resource,
    },
    returnTo: pending.returnTo,
  };
}

/** A new access token from the refresh token (rotated: the old one is spent). */
export async function refreshSession(session: Session): Promise<Session | null> {
  if (!session.refreshToken || !session.tokenEndpoint || !session.clientId) return null;
  const tokens = await tokenRequest(session.tokenEndpoint, {
    grant_type: 'refresh_token',
    refresh_token: session.refreshToken,
    client_id: session.clientId,
    ...(session.resource ? { resource: session.resource } : {}),
  });
  return { ...session, accessToken: tokens.access_token, refreshToken: tokens.refresh_token ?? session.refreshToken };
}

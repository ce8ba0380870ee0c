// Test scaffolding for the built-in OAuth server: the real server process with tokens made by the
// real CLI, an in-memory OAuthClientProvider for the SDK client, the consent form driven with plain
// HTTP (the documented form contract), and a local https server (for client metadata documents).
import { createHash, randomBytes } from 'node:crypto';
import https from 'node:https';
import type net from 'node:net';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { INIT, jsonHeaders } from './raw-mcp.js';
import { runCli, serverEnv, spawnServer, type RealServer } from './server-process.js';

/** The redirect URI the test clients register (never contacted: the tests read the Location). */
export const REDIRECT = 'https://app.example.com/callback';

/** A PKCE verifier and its S256 challenge. */
export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Registers a public client (dynamic registration) with REDIRECT; `body` overrides fields. */
export async function register(url: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Attack test app', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], ...body }),
  });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

/** The /authorize URL for a client, with REDIRECT, a state, the server's /mcp as resource and both job scopes unless `params` says otherwise. */
export function authorizeUrl(url: string, clientId: string, params: Record<string, string | undefined>): string {
  const u = new URL(`${url}/authorize`);
  const all: Record<string, string | undefined> = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, state: 'st', resource: `${url}/mcp`, scope: 'jobs:read jobs:write', ...params };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

/** A fresh data dir with tokens made by `claude-async token create`, then the real server on it. */
export async function startOAuthServer(options: { tokens?: Record<string, string>; env?: Record<string, string> } = {}): Promise<{ server: RealServer; tokens: Record<string, string> }> {
  const tokens: Record<string, string> = {};
  const server = await spawnServer({
    ...(options.env ? { env: options.env } : {}),
    prepare: (dataDir, work) => {
      for (const [name, scopes] of Object.entries(options.tokens ?? { alice: 'jobs:read,jobs:write' })) {
        tokens[name] = runCli(serverEnv(dataDir, work, options.env), ['token', 'create', '--name', name, '--scopes', scopes]).trim();
      }
    },
  });
  return { server, tokens };
}

/** What /mcp answers an initialize with this access token: its status and its WWW-Authenticate challenge. */
export async function mcpStatus(url: string, accessToken: string): Promise<{ status: number; challenge: string }> {
  const res = await fetch(`${url}/mcp`, { method: 'POST', headers: jsonHeaders(accessToken), body: JSON.stringify(INIT) });
  await res.body?.cancel();
  return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '' };
}

/** The OAuthClientProvider a headless test needs: everything in memory, the authorize URL captured. */
export class MemoryClientProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;
  clientMetadataUrl?: string;

  constructor(readonly redirect: string, readonly name = 'SDK test client', metadataUrl?: string) {
    if (metadataUrl) this.clientMetadataUrl = metadataUrl;
  }

  get redirectUrl(): string {
    return this.redirect;
  }

  get clientMetadata(): OAuthClientMetadata {
    return { client_name: this.name, redirect_uris: [this.redirect], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }

  state(): string {
    return 'state-123';
  }

  clientInformation() {
    return this.info;
  }

  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }

  tokens() {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }

  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }

  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }

  codeVerifier() {
    return this.verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'client') this.info = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
  }
}

export interface ConsentForm {
  status: number;
  html: string;
  headers: Headers;
  fields: Record<string, string>;
}

/** GETs the authorize URL and reads the consent form's hidden fields. */
export async function openConsent(authorizeUrl: string | URL): Promise<ConsentForm> {
  const res = await fetch(authorizeUrl, { redirect: 'manual' });
  const html = await res.text();
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[match[1]!] = match[2]!;
  return { status: res.status, html, headers: res.headers, fields };
}

/** Posts the consent form as a browser on the server's own page would; returns the answer unread. */
export async function postConsent(serverUrl: string, fields: Record<string, string>, extraHeaders: Record<string, string> = {}): Promise<Response> {
  return fetch(`${serverUrl}/oauth/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(serverUrl).origin, ...extraHeaders },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Opens the consent page and answers it; returns the redirect Location. */
export async function consent(serverUrl: string, authorizeUrl: string | URL, token: string, decision: 'approve' | 'deny' = 'approve'): Promise<URL> {
  const form = await openConsent(authorizeUrl);
  if (form.status !== 200) throw new Error(`the consent page answered ${form.status}: ${form.html.slice(0, 500)}`);
  const res = await postConsent(serverUrl, { ...form.fields, token, decision });
  const location = res.headers.get('location');
  if (res.status !== 302 || !location) throw new Error(`the consent post answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
  return new URL(location);
}

export async function formPost(url: string, fields: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json };
}

export type Route = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;

/** A local https server answering by path; returns its origin and a stop function. */
export async function startHttpsServer(tls: { key: string; cert: string }, routes: Record<string, Route>) {
  const hits: string[] = [];
  const server = https.createServer(tls, (req, res) => {
    hits.push(req.url ?? '');
    const route = routes[(req.url ?? '').split('?')[0]!];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    origin: `https://localhost:${port}`,
    port,
    hits,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

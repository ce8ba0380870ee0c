// Test scaffolding for the built-in OAuth server: the real server process on a free port, tokens made
// with the real CLI, an in-memory OAuthClientProvider for the SDK client, the consent form driven
// with plain HTTP (the documented form contract), and a local https server with a self-signed
// certificate made for the test by openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { configFor } from '../src/config.js';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, freePort, tempDir, waitFor } from './helpers.js';

export const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface OAuthServer {
  url: string;
  port: number;
  dataDir: string;
  env: Record<string, string>;
  logs: () => string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

export { freePort } from './helpers.js';

function baseEnv(dataDir: string, port: number, extra: Record<string, string>): Record<string, string> {
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? dataDir,
    CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
    CLAUDE_ASYNC_PORT: String(port), CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_RETENTION: '0',
    CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '100000', CLAUDE_ASYNC_KILL_GRACE: '1s',
    ...extra,
  };
}

/** Runs the real CLI against a data dir; returns stdout. */
export function cli(env: Record<string, string>, args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A fresh data dir with tokens made by `claude-async token create`, then the real server on it. */
export async function startOAuthServer(options: { tokens?: Record<string, string>; env?: Record<string, string> } = {}) {
  const dataDir = tempDir('ca-oauth-');
  const port = await freePort();
  const env = baseEnv(dataDir, port, options.env ?? {});
  const tokens: Record<string, string> = {};
  for (const [name, scopes] of Object.entries(options.tokens ?? { alice: 'jobs:read,jobs:write' })) {
    tokens[name] = cli(env, ['token', 'create', '--name', name, '--scopes', scopes]).trim();
  }
  const server = await spawnServer(dataDir, env);
  return { server, tokens };
}

export async function spawnServer(dataDir: string, env: Record<string, string>): Promise<OAuthServer> {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${env.CLAUDE_ASYNC_PORT}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${out}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 30_000, 'the server to listen');
  return {
    url, port: Number(env.CLAUDE_ASYNC_PORT), dataDir, env, child, logs: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Ends every job process of the data dir, then removes it. A runner killed a moment ago may still be
 * writing its last file, so the removal retries instead of failing the test (and skipping the
 * cleanup hooks registered after this one).
 */
export function removeServerData(dataDir: string): void {
  try {
    cleanupJobs(configFor({ dataDir }));
  } catch {
    // the removal below retries
  }
  fs.rmSync(dataDir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
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

/** A self-signed certificate for localhost and 127.0.0.1, made by openssl in `dir`. */
export function selfSignedCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile };
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

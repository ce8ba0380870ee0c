// `claude-async serve`: open the engine, build the app, listen, and shut down gracefully. Running
// jobs are never touched by a shutdown: they are detached and keep running.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { isLoopbackHost, isWildcardHost, type Config } from './config.js';
import { createAuthenticator } from './auth/authenticator.js';
import { TokenStore } from './auth/token-store.js';
import { authOptions, tokensFile } from './auth/options.js';
import { JobService } from './jobs/service.js';
import { builtInServerStatus, openAuthorizationServer, type BuiltInAuthorizationServer } from './auth/oauth/authorization-server.js';
import { createApp, type App, type StreamTiming } from './http/app.js';
import type { IdempotencyRecords } from './http/idempotency-records.js';

export interface RunningServer {
  url: string;
  port: number;
  http: Server;
  app: App;
  service: JobService;
  close(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface ServerOptions {
  streamTiming?: StreamTiming;
  /** Where REST keeps Idempotency-Key records (default: files under the data dir; Redis for a front). */
  idempotencyRecords?: IdempotencyRecords;
}

export async function startServer(config: Config, log: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  if (isWildcardHost(new URL(config.publicUrl).hostname)) {
    throw new StartupError(`CLAUDE_ASYNC_HOST=${config.host} binds every address, so the public URL would be ${config.publicUrl}, which no client can reach: set CLAUDE_ASYNC_PUBLIC_URL to the URL clients use (e.g. https://box.example.com)`);
  }
  if (config.auth === 'none') {
    if (!isLoopbackHost(config.host)) {
      throw new StartupError(`CLAUDE_ASYNC_AUTH=none is refused on ${config.host}: without auth the server may only bind a loopback address (127.0.0.1, ::1, localhost)`);
    }
    log.warn('CLAUDE_ASYNC_AUTH=none: every local process can start jobs as you; use it on a single-user machine only');
  }
  // With a shared Redis this is one front of many: jobs, limits and idempotency live in Redis.
  const front = config.redisUrl ? (await import('./scale/front.js')).openRedisFront(config, log) : undefined;
  const service = await JobService.open(config, { log, ...(options.streamTiming?.pollMs ? { followPollMs: options.streamTiming.pollMs } : {}), ...front?.service });
  const tokens = new TokenStore(tokensFile(config));
  const oauthStatus = builtInServerStatus(config);
  const oauth = oauthStatus.on ? await openOAuthOrWarn(config, tokens, log) : undefined;
  if (!oauthStatus.on && config.auth === 'token' && config.oauth && !config.jwksUrl) log.warn(`built-in OAuth authorization server off: ${oauthStatus.reason}`);
  const authenticator = createAuthenticator(authOptions(config), tokens, undefined, oauth?.accessTokens);
  const app = createApp({
    config, service, authenticator, log, ...(oauth ? { oauth } : {}), ...front?.app,
    ...(options.streamTiming ? { streamTiming: options.streamTiming } : {}), ...(options.idempotencyRecords ? { idempotencyRecords: options.idempotencyRecords } : {}),
  });

  // Slow or stalled clients must not hold sockets forever. The header phase is bounded tightly and
  // checked often; the request itself is not (SSE streams and claude_wait are long by design).
  const http = createServer({
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.headersTimeoutMs / 2))),
  }, app.app);
  http.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    http.once('listening', resolve);
    http.once('error', (err: NodeJS.ErrnoException) =>
      reject(new StartupError(err.code === 'EADDRINUSE' ? `port ${config.port} on ${config.host} is in use (set CLAUDE_ASYNC_PORT)` : err.message)));
  });

  const port = (http.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      app.setDraining();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      await app.mcp.sessions.closeAll();
      http.closeIdleConnections();
      // SSE followers and stragglers get a moment, then their sockets are ended.
      const timer = setTimeout(() => http.closeAllConnections(), 3000);
      await closed;
      clearTimeout(timer);
      await service.close();
      front?.close();
    })();
    return closing;
  };
  log.info({ url, publicUrl: config.publicUrl, auth: config.auth, ...(front ? { backend: 'redis' } : { jobsDir: config.jobsDir }) }, 'claude-async listening');
  return { url, port, http, app, service, close };
}

/**
 * The authorization server writes its signing key on the first start. A full disk or an unwritable
 * data dir must not keep the job server from starting read-only (lists and checks still answer), so
 * the built-in OAuth server stays off for this run and says why; static tokens keep working.
 */
async function openOAuthOrWarn(config: Config, tokens: TokenStore, log: Logger): Promise<BuiltInAuthorizationServer | undefined> {
  try {
    return await openAuthorizationServer(config, tokens);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code || !['ENOSPC', 'EACCES', 'EPERM', 'EROFS', 'EDQUOT'].includes(code)) throw err;
    log.warn({ code }, `built-in OAuth authorization server off for this run: its state in ${config.dataDir}/oauth cannot be written (${code}); restart once the data dir is writable`);
    return undefined;
  }
}

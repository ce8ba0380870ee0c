// The one place that reads the environment. Everything else receives a validated `Config`.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaultGrantableTools, PERMISSION_MODES, TOOL_RULE_PATTERN, type PermissionMode } from './jobs/permission.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface Config {
  claudeBin: string;
  dataDir: string;
  jobsDir: string;
  defaultCwd: string;
  allowedRoots: string[];
  maxConcurrent: number;
  jobTimeoutMs: number;
  killGraceMs: number;
  resultWatchdogMs: number;
  maxPromptBytes: number;
  maxLogBytes: number;
  maxLineBytes: number;
  retentionMs: number;
  maxPermissionMode: PermissionMode;
  defaultPermissionMode: PermissionMode;
  grantableTools: string[];
  jobEnvNames: string[];
  maxStartsPerMinute: number;
  /** Jobs may ask a person before a tool runs (start option `approvals`); off unless the operator says on. */
  approvals: boolean;
  approvalTimeoutMs: number;
  defaultTailBytes: number;
  maxTailBytes: number;
  host: string;
  port: number;
  publicUrl: string;
  allowedHosts: string[];
  allowedOrigins: string[];
  trustProxy: string | false;
  maxBodyBytes: number;
  headersTimeoutMs: number;
  sessionIdleMs: number;
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  maxSubscriptionsPerSession: number;
  sseRetryMs: number;
  maxStreamsPerPrincipal: number;
  streamRecheckMs: number;
  auth: 'token' | 'none';
  token: string | undefined;
  jwtSecret: string | undefined;
  jwksUrl: string | undefined;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  authFailuresPerMinute: number;
  /** The built-in OAuth authorization server (on with token auth unless a JWKS URL is set). */
  oauth: boolean;
  oauthAccessTtlMs: number;
  oauthRefreshTtlMs: number;
  oauthMaxClients: number;
  oauthUnusedClientTtlMs: number;
  oauthRegistrationsPerHour: number;
  /** Origins whose client metadata documents may be fetched from loopback (tests, local development). */
  oauthCimdLoopbackOrigins: string[];
  logLevel: string;
  glamaMaintainers: string[];
  glamaClaim: string | undefined;
  /** Shared backend (issue #17): `serve` is a front and `worker` runs jobs, all on this Redis. */
  redisUrl: string | undefined;
  /** This worker's name in Redis: stable across restarts, so it adopts its own running jobs again. */
  workerId: string;
  workerLabels: string[];
  /** A worker whose heartbeat is older than this is gone: its unended jobs turn orphaned. */
  workerTtlMs: number;
  /** How much of each job's log Redis keeps (the whole log stays on the worker's disk). */
  redisMaxLogBytes: number;
}

/** "4h", "30m", "90s", "500ms", "7d" or a plain number of seconds → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a duration (use e.g. 90s, 30m, 4h, 7d)`);
  const unit = match[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return Math.round(Number(match[1]) * factor);
}

/** "64k", "10MB", "1GiB" or a plain number of bytes → bytes. */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a size (use e.g. 512k, 100MB, 1GiB)`);
  const unit = (match[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g';
  const factor = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit];
  return Math.round(Number(match[1]) * factor);
}

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);
const list = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** Variables, their defaults and meaning; `.env.example` is generated from this same table. */
export const ENV_DEFAULTS = {
  CLAUDE_ASYNC_CLAUDE_BIN: ['claude', 'the claude CLI to run (a name on PATH or an absolute path)'],
  CLAUDE_ASYNC_DATA_DIR: ['~/.claude-async', 'where the index (db.json) and tokens live'],
  CLAUDE_ASYNC_JOBS_DIR: ['$CLAUDE_ASYNC_DATA_DIR/jobs', 'one folder per job (mode 0700)'],
  CLAUDE_ASYNC_DEFAULT_CWD: ['the directory the server starts in', 'cwd of a job that names none'],
  CLAUDE_ASYNC_ALLOWED_ROOTS: ['$CLAUDE_ASYNC_DEFAULT_CWD', 'comma list: a job cwd must resolve inside one of these'],
  CLAUDE_ASYNC_MAX_CONCURRENT: ['4', 'jobs running at once; more wait as queued'],
  CLAUDE_ASYNC_JOB_TIMEOUT: ['4h', 'longest a job may run before it is stopped (timed_out)'],
  CLAUDE_ASYNC_KILL_GRACE: ['10s', 'time between SIGTERM and SIGKILL when a job is stopped'],
  CLAUDE_ASYNC_RESULT_WATCHDOG: ['60s', 'how long claude may linger after printing its result before it is ended'],
  CLAUDE_ASYNC_MAX_PROMPT_BYTES: ['512k', 'largest prompt accepted'],
  CLAUDE_ASYNC_MAX_LOG_BYTES: ['512MB', 'cap on a job\'s out.jsonl; past it output is dropped (the job keeps running)'],
  CLAUDE_ASYNC_MAX_LINE_BYTES: ['16MB', 'longest stream-json line stored; a longer one is replaced by a marker (never held whole in memory)'],
  CLAUDE_ASYNC_RETENTION: ['7d', 'finished jobs older than this are removed (0 keeps them forever)'],
  CLAUDE_ASYNC_MAX_PERMISSION_MODE: ['acceptEdits', 'most permissive mode a client may ask for'],
  CLAUDE_ASYNC_DEFAULT_PERMISSION_MODE: ['acceptEdits', 'mode of a job that names none (capped by the max)'],
  CLAUDE_ASYNC_GRANTABLE_TOOLS: ['what the max permission mode allows anyway (never Bash)', 'comma list of tool rules a client may pre-approve in allowedTools ("Edit", "Bash(npm test:*)"; a bare name covers all its rules; * anything; none nothing)'],
  CLAUDE_ASYNC_JOB_ENV: ['', 'comma list of extra environment variable names passed to jobs'],
  CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: ['30', 'job starts allowed per principal per minute'],
  CLAUDE_ASYNC_APPROVALS: ['off', '"on" lets a job start with approvals: true (claude asks its owner before a tool the permission mode would refuse)'],
  CLAUDE_ASYNC_APPROVAL_TIMEOUT: ['10m', 'an approval question nobody answers within this is denied'],
  CLAUDE_ASYNC_MAX_TAIL_BYTES: ['65536', 'hard maximum of tailBytes in a check'],
  CLAUDE_ASYNC_HOST: ['127.0.0.1', 'address the HTTP server binds'],
  CLAUDE_ASYNC_PORT: ['8787', 'port the HTTP server binds'],
  CLAUDE_ASYNC_PUBLIC_URL: ['http://<host>:<port>', 'the URL clients use (resource identifier for OAuth)'],
  CLAUDE_ASYNC_ALLOWED_HOSTS: ['loopback names + the public URL host', 'comma list of accepted Host headers'],
  CLAUDE_ASYNC_ALLOWED_ORIGINS: ['the public URL origin', 'comma list of accepted browser Origins'],
  CLAUDE_ASYNC_TRUST_PROXY: ['', 'express trust proxy setting (e.g. loopback, 1) when behind a reverse proxy'],
  CLAUDE_ASYNC_MAX_BODY_BYTES: ['1MB', 'largest request body'],
  CLAUDE_ASYNC_HEADERS_TIMEOUT: ['30s', 'a client must send its request headers within this (slow clients are cut off)'],
  CLAUDE_ASYNC_SESSION_IDLE: ['30m', 'MCP sessions idle this long are closed'],
  CLAUDE_ASYNC_MAX_SESSIONS: ['1000', 'most open MCP sessions; past it an idle session of the principal holding the most is closed'],
  CLAUDE_ASYNC_MAX_SESSIONS_PER_PRINCIPAL: ['100', 'most open MCP sessions of one principal; past it its oldest idle one is closed'],
  CLAUDE_ASYNC_MAX_SUBSCRIPTIONS: ['100', 'most resource subscriptions of one MCP session'],
  CLAUDE_ASYNC_SSE_RETRY: ['3s', 'SSE retry field: how long a client that was cut off waits before it reconnects'],
  CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL: ['32', 'open event streams, MCP GET streams, claude_wait and tasks/result calls per principal; 429 past it'],
  CLAUDE_ASYNC_STREAM_RECHECK: ['30s', 'how often an open stream re-checks its token (a revoked or expired one closes it)'],
  CLAUDE_ASYNC_AUTH: ['token', '"token" (bearer tokens required) or "none" (loopback only)'],
  CLAUDE_ASYNC_TOKEN: ['', 'a single static bearer token (principal "default", all scopes)'],
  CLAUDE_ASYNC_JWT_SECRET: ['', 'HS256 secret for JWT access tokens (claude-async token mint)'],
  CLAUDE_ASYNC_JWKS_URL: ['', 'JWKS URL of an external OAuth authorization server'],
  CLAUDE_ASYNC_JWT_ISSUER: ['', 'expected iss of JWTs; advertised as the authorization server'],
  CLAUDE_ASYNC_JWT_AUDIENCE: ['$CLAUDE_ASYNC_PUBLIC_URL/mcp', 'expected aud of JWTs'],
  CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE: ['20', 'failed authentications per client IP per minute before 429'],
  CLAUDE_ASYNC_OAUTH: ['on', 'built-in OAuth 2.1 authorization server for connectors ("on"/"off"; off whenever CLAUDE_ASYNC_JWKS_URL is set)'],
  CLAUDE_ASYNC_OAUTH_ACCESS_TTL: ['1h', 'lifetime of OAuth access tokens'],
  CLAUDE_ASYNC_OAUTH_REFRESH_TTL: ['30d', 'an OAuth sign-in ends after this long without a refresh'],
  CLAUDE_ASYNC_OAUTH_MAX_CLIENTS: ['1000', 'most registered OAuth clients; never-used ones are pruned first'],
  CLAUDE_ASYNC_OAUTH_UNUSED_CLIENT_TTL: ['1d', 'registered clients that never got a grant are removed after this'],
  CLAUDE_ASYNC_OAUTH_REGISTRATIONS_PER_HOUR: ['30', 'client registrations per IP per hour'],
  CLAUDE_ASYNC_OAUTH_CIMD_LOOPBACK_ORIGINS: ['', 'comma list of https origins whose client metadata may be fetched from loopback (tests only)'],
  CLAUDE_ASYNC_LOG_LEVEL: ['info', 'pino log level (trace, debug, info, warn, error, silent)'],
  CLAUDE_ASYNC_GLAMA_MAINTAINERS: ['', 'comma list of Glama account emails served at /.well-known/glama.json (claims a remote listing)'],
  CLAUDE_ASYNC_GLAMA_CLAIM: ['', 'the glama_claim_… token from Glama\'s claim panel, served at /.well-known/glama.json'],
  CLAUDE_ASYNC_REDIS_URL: ['', 'redis://… of the shared backend: serve becomes a front, `claude-async worker` runs the jobs (empty: everything on this host)'],
  CLAUDE_ASYNC_WORKER_ID: ['<hostname>-<hash of the jobs dir>', 'the worker\'s name in Redis; keep it across restarts (it adopts its running jobs by it)'],
  CLAUDE_ASYNC_WORKER_LABELS: ['', 'comma list of labels this worker carries (a job naming labels goes only to a worker with all of them)'],
  CLAUDE_ASYNC_WORKER_TTL: ['15s', 'a worker without a heartbeat for this long is gone and its running jobs read orphaned (refreshed every third of it)'],
  CLAUDE_ASYNC_REDIS_MAX_LOG_BYTES: ['1MB', 'the end of each job\'s log kept in Redis for reads and follows; older pages are fetched from the worker\'s disk'],
} as const;

type EnvName = keyof typeof ENV_DEFAULTS;
type Env = Record<string, string | undefined>;

function read<T>(env: Env, name: EnvName, parse: (raw: string) => T, fallback: () => T): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback();
  try {
    return parse(raw.trim());
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

const int = (min: number, max: number) => (raw: string) => z.coerce.number().int().min(min).max(max).parse(raw);
const mode = (raw: string) => {
  if (!(PERMISSION_MODES as readonly string[]).includes(raw)) throw new Error(`must be one of ${PERMISSION_MODES.join(', ')}`);
  return raw as PermissionMode;
};
const positiveDuration = (raw: string) => {
  const ms = parseDuration(raw);
  if (ms <= 0) throw new Error('must be longer than 0');
  return ms;
};
const grantable = (raw: string) => {
  if (raw === 'none') return [];
  return list(raw).map((rule) => {
    if (rule !== '*' && !TOOL_RULE_PATTERN.test(rule)) throw new Error(`'${rule}' is not a tool rule (use e.g. Edit, Bash(npm test:*), * or none)`);
    return rule;
  });
};
const url = (raw: string) => new URL(raw).toString().replace(/\/$/, '');

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dataDir = path.resolve(expandHome(read(env, 'CLAUDE_ASYNC_DATA_DIR', String, () => '~/.claude-async')));
  const defaultCwd = path.resolve(expandHome(read(env, 'CLAUDE_ASYNC_DEFAULT_CWD', String, () => cwd)));
  const host = read(env, 'CLAUDE_ASYNC_HOST', String, () => '127.0.0.1');
  const port = read(env, 'CLAUDE_ASYNC_PORT', int(0, 65535), () => 8787);
  const publicUrl = read(env, 'CLAUDE_ASYNC_PUBLIC_URL', url, () => `http://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const publicHost = new URL(publicUrl).host;
  const auth = read(env, 'CLAUDE_ASYNC_AUTH', (raw) => z.enum(['token', 'none']).parse(raw), () => 'token' as const);
  const jobsDir = path.resolve(expandHome(read(env, 'CLAUDE_ASYNC_JOBS_DIR', String, () => path.join(dataDir, 'jobs'))));
  const maxPermissionMode = read<PermissionMode>(env, 'CLAUDE_ASYNC_MAX_PERMISSION_MODE', mode, () => 'acceptEdits');
  const config: Config = {
    claudeBin: read(env, 'CLAUDE_ASYNC_CLAUDE_BIN', String, () => 'claude'),
    dataDir,
    jobsDir,
    defaultCwd,
    allowedRoots: read(env, 'CLAUDE_ASYNC_ALLOWED_ROOTS', (raw) => list(raw).map((p) => path.resolve(expandHome(p))), () => [defaultCwd]),
    maxConcurrent: read(env, 'CLAUDE_ASYNC_MAX_CONCURRENT', int(1, 1000), () => 4),
    jobTimeoutMs: read(env, 'CLAUDE_ASYNC_JOB_TIMEOUT', parseDuration, () => 4 * 3_600_000),
    killGraceMs: read(env, 'CLAUDE_ASYNC_KILL_GRACE', parseDuration, () => 10_000),
    resultWatchdogMs: read(env, 'CLAUDE_ASYNC_RESULT_WATCHDOG', parseDuration, () => 60_000),
    maxPromptBytes: read(env, 'CLAUDE_ASYNC_MAX_PROMPT_BYTES', parseBytes, () => 512 * 1024),
    maxLogBytes: read(env, 'CLAUDE_ASYNC_MAX_LOG_BYTES', parseBytes, () => 512 * 1024 ** 2),
    maxLineBytes: read(env, 'CLAUDE_ASYNC_MAX_LINE_BYTES', parseBytes, () => 16 * 1024 ** 2),
    retentionMs: read(env, 'CLAUDE_ASYNC_RETENTION', parseDuration, () => 7 * 86_400_000),
    maxPermissionMode,
    defaultPermissionMode: read<PermissionMode>(env, 'CLAUDE_ASYNC_DEFAULT_PERMISSION_MODE', mode, () => 'acceptEdits'),
    grantableTools: read(env, 'CLAUDE_ASYNC_GRANTABLE_TOOLS', grantable, () => defaultGrantableTools(maxPermissionMode)),
    jobEnvNames: read(env, 'CLAUDE_ASYNC_JOB_ENV', (raw) => list(raw).map((name) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`'${name}' is not an environment variable name`);
      if (name.startsWith('CLAUDE_ASYNC_')) throw new Error(`${name} is the server's own setting and never reaches a job`);
      return name;
    }), () => []),
    maxStartsPerMinute: read(env, 'CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE', int(1, 1_000_000), () => 30),
    approvals: read(env, 'CLAUDE_ASYNC_APPROVALS', (raw) => z.enum(['on', 'off']).parse(raw) === 'on', () => false),
    approvalTimeoutMs: read(env, 'CLAUDE_ASYNC_APPROVAL_TIMEOUT', parseDuration, () => 10 * 60_000),
    defaultTailBytes: 8000,
    maxTailBytes: read(env, 'CLAUDE_ASYNC_MAX_TAIL_BYTES', parseBytes, () => 65536),
    host,
    port,
    publicUrl,
    allowedHosts: read(env, 'CLAUDE_ASYNC_ALLOWED_HOSTS', list, () => [...new Set([...LOOPBACK_HOSTS, publicHost, new URL(publicUrl).hostname])]),
    allowedOrigins: read(env, 'CLAUDE_ASYNC_ALLOWED_ORIGINS', (raw) => list(raw).map(url), () => [new URL(publicUrl).origin]),
    trustProxy: read<string | false>(env, 'CLAUDE_ASYNC_TRUST_PROXY', String, () => false),
    maxBodyBytes: read(env, 'CLAUDE_ASYNC_MAX_BODY_BYTES', parseBytes, () => 1024 ** 2),
    headersTimeoutMs: read(env, 'CLAUDE_ASYNC_HEADERS_TIMEOUT', parseDuration, () => 30_000),
    sessionIdleMs: read(env, 'CLAUDE_ASYNC_SESSION_IDLE', parseDuration, () => 30 * 60_000),
    maxSessions: read(env, 'CLAUDE_ASYNC_MAX_SESSIONS', int(1, 1_000_000), () => 1000),
    maxSessionsPerPrincipal: read(env, 'CLAUDE_ASYNC_MAX_SESSIONS_PER_PRINCIPAL', int(1, 1_000_000), () => 100),
    maxSubscriptionsPerSession: read(env, 'CLAUDE_ASYNC_MAX_SUBSCRIPTIONS', int(1, 1_000_000), () => 100),
    sseRetryMs: read(env, 'CLAUDE_ASYNC_SSE_RETRY', parseDuration, () => 3000),
    maxStreamsPerPrincipal: read(env, 'CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL', int(1, 1_000_000), () => 32),
    streamRecheckMs: read(env, 'CLAUDE_ASYNC_STREAM_RECHECK', (raw) => {
      const ms = parseDuration(raw);
      if (ms < 100 || ms > 30_000) throw new Error('must be between 100ms and 30s');
      return ms;
    }, () => 30_000),
    auth,
    token: read(env, 'CLAUDE_ASYNC_TOKEN', (raw) => {
      if (raw.length < 16) throw new Error('must be at least 16 characters');
      return raw;
    }, () => undefined),
    jwtSecret: read(env, 'CLAUDE_ASYNC_JWT_SECRET', (raw) => {
      if (raw.length < 32) throw new Error('must be at least 32 characters');
      return raw;
    }, () => undefined),
    jwksUrl: read(env, 'CLAUDE_ASYNC_JWKS_URL', url, () => undefined),
    jwtIssuer: read(env, 'CLAUDE_ASYNC_JWT_ISSUER', String, () => undefined),
    jwtAudience: read(env, 'CLAUDE_ASYNC_JWT_AUDIENCE', String, () => `${publicUrl}/mcp`),
    authFailuresPerMinute: read(env, 'CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE', int(1, 1_000_000), () => 20),
    oauth: read(env, 'CLAUDE_ASYNC_OAUTH', (raw) => z.enum(['on', 'off']).parse(raw) === 'on', () => true),
    oauthAccessTtlMs: read(env, 'CLAUDE_ASYNC_OAUTH_ACCESS_TTL', positiveDuration, () => 3_600_000),
    oauthRefreshTtlMs: read(env, 'CLAUDE_ASYNC_OAUTH_REFRESH_TTL', positiveDuration, () => 30 * 86_400_000),
    oauthMaxClients: read(env, 'CLAUDE_ASYNC_OAUTH_MAX_CLIENTS', int(1, 1_000_000), () => 1000),
    oauthUnusedClientTtlMs: read(env, 'CLAUDE_ASYNC_OAUTH_UNUSED_CLIENT_TTL', positiveDuration, () => 86_400_000),
    oauthRegistrationsPerHour: read(env, 'CLAUDE_ASYNC_OAUTH_REGISTRATIONS_PER_HOUR', int(1, 1_000_000), () => 30),
    oauthCimdLoopbackOrigins: read(env, 'CLAUDE_ASYNC_OAUTH_CIMD_LOOPBACK_ORIGINS', (raw) => list(raw).map((o) => {
      const origin = new URL(o);
      if (origin.protocol !== 'https:') throw new Error(`${o} is not an https origin`);
      return origin.origin;
    }), () => []),
    logLevel: read(env, 'CLAUDE_ASYNC_LOG_LEVEL', (raw) => z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).parse(raw), () => 'info'),
    glamaMaintainers: read(env, 'CLAUDE_ASYNC_GLAMA_MAINTAINERS', (raw) => list(raw).map((email) => {
      if (!z.email().safeParse(email).success) throw new Error(`'${email.slice(0, 100)}' is not an email address`);
      return email;
    }), () => []),
    glamaClaim: read(env, 'CLAUDE_ASYNC_GLAMA_CLAIM', (raw) => {
      if (!/^glama_claim_[A-Za-z0-9_-]{32}$/.test(raw)) throw new Error('must be the glama_claim_… token Glama shows (glama_claim_ and 32 letters, digits, _ or -)');
      return raw;
    }, () => undefined),
    redisUrl: read(env, 'CLAUDE_ASYNC_REDIS_URL', (raw) => {
      const parsed = new URL(raw);
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('must be a redis:// or rediss:// URL');
      return raw;
    }, () => undefined),
    workerId: read(env, 'CLAUDE_ASYNC_WORKER_ID', (raw) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(raw)) throw new Error('letters, digits, dot, dash and underscore only (at most 100)');
      return raw;
    }, () => defaultWorkerId(jobsDir)),
    workerLabels: read(env, 'CLAUDE_ASYNC_WORKER_LABELS', list, () => []),
    workerTtlMs: read(env, 'CLAUDE_ASYNC_WORKER_TTL', (raw) => {
      const ms = parseDuration(raw);
      if (ms < 1000) throw new Error('must be at least 1s');
      return ms;
    }, () => 15_000),
    redisMaxLogBytes: read(env, 'CLAUDE_ASYNC_REDIS_MAX_LOG_BYTES', (raw) => {
      const bytes = parseBytes(raw);
      if (bytes < 4096) throw new Error('must be at least 4k');
      return bytes;
    }, () => 1024 ** 2),
  };
  if (config.maxTailBytes < config.defaultTailBytes) config.defaultTailBytes = config.maxTailBytes;
  if (config.jwksUrl && !config.jwtIssuer) throw new ConfigError('CLAUDE_ASYNC_JWT_ISSUER: required when CLAUDE_ASYNC_JWKS_URL is set');
  return config;
}

/** A name stable for this host and jobs folder: two workers on one host (tests) differ by folder. */
function defaultWorkerId(jobsDir: string): string {
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 60) || 'worker';
  return `${host}-${createHash('sha256').update(jobsDir).digest('hex').slice(0, 8)}`;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** 0.0.0.0 / :: (any address): fine to bind, never a URL a client can use. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** A Config for tests and tools: defaults plus overrides, no environment read. */
export function configFor(overrides: Partial<Config> & { dataDir: string }, env: Env = {}): Config {
  const base = loadConfig({ ...env, CLAUDE_ASYNC_DATA_DIR: overrides.dataDir }, overrides.defaultCwd ?? overrides.dataDir);
  return { ...base, ...overrides, jobsDir: overrides.jobsDir ?? path.join(overrides.dataDir, 'jobs') };
}

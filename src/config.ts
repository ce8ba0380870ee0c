// The one place that reads the environment. Everything else receives a validated `Config`.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaultGrantableTools, PERMISSION_MODES, TOOL_RULE_PATTERN, type PermissionMode } from './jobs/permission.js';
import { LABEL_PATTERN, LABEL_RULE } from './jobs/labels.js';

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
  /** This front's name in MCP session ids (`<frontId>.<uuid>`), so a proxy routes a session to the front holding it. */
  frontId: string | undefined;
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

const directory = (raw: string) => path.resolve(expandHome(raw));
const int = (min: number, max: number) => (raw: string) => z.coerce.number().int().min(min).max(max).parse(raw);
const onOff = (raw: string) => z.enum(['on', 'off']).parse(raw) === 'on';
const mode = (raw: string) => {
  if (!(PERMISSION_MODES as readonly string[]).includes(raw)) throw new Error(`must be one of ${PERMISSION_MODES.join(', ')}`);
  return raw as PermissionMode;
};
const positiveDuration = (raw: string) => {
  const ms = parseDuration(raw);
  if (ms <= 0) throw new Error('must be longer than 0');
  return ms;
};
const minLength = (min: number) => (raw: string) => {
  if (raw.length < min) throw new Error(`must be at least ${min} characters`);
  return raw;
};
const grantable = (raw: string) => {
  if (raw === 'none') return [];
  return list(raw).map((rule) => {
    if (rule !== '*' && !TOOL_RULE_PATTERN.test(rule)) throw new Error(`'${rule}' is not a tool rule (use e.g. Edit, Bash(npm test:*), * or none)`);
    return rule;
  });
};
/** A parser that also refuses values below `min` (`shown` is how the message writes it). */
const atLeast = (parse: (raw: string) => number, min: number, shown: string) => (raw: string) => {
  const value = parse(raw);
  if (value < min) throw new Error(`must be at least ${shown}`);
  return value;
};
const url = (raw: string) => new URL(raw).toString().replace(/\/$/, '');

/** Sections of the generated docs (README table, `.env.example`), in the order they are shown. */
export const SETTING_GROUPS = {
  jobs: 'Jobs',
  http: 'HTTP server and MCP sessions',
  auth: 'Authentication',
  oauth: 'Built-in OAuth authorization server',
  scale: 'More than one machine (Redis)',
  other: 'Logging and listings',
} as const;

/** What a computed default may look at: the settings above it in the table, and the server's cwd. */
interface Earlier {
  get<K extends keyof Config>(key: K): Config[K];
  cwd: string;
}

interface Setting<K extends keyof Config> {
  env: `CLAUDE_ASYNC_${string}`;
  key: K;
  group: keyof typeof SETTING_GROUPS;
  /** The default as the docs show it. Without `fallback` this text is also parsed to give the default
   *  value, so it is written once; with `fallback` it describes what `fallback` computes (markdown). */
  default: string;
  fallback?: (earlier: Earlier) => Config[K];
  /** Gets the trimmed, non-empty value; throws a message that follows the variable's name. */
  parse: (raw: string) => Config[K];
  /** One line of markdown for the README table; `.env.example` gets it without the markup. */
  meaning: string;
}

type AnySetting = { [K in keyof Config]: Setting<K> }[keyof Config];
const setting = <K extends keyof Config>(entry: Setting<K>): Setting<K> => entry;

/**
 * Every environment variable, once: name, `Config` field, default, parser, meaning. `loadConfig`
 * reads them in this order, and `npm run gen:config` writes `.env.example` and the README settings
 * table from it (test/config.test.ts fails when either differs from what this table generates).
 *
 * Adding a setting is one entry here plus its field in `Config`, then `npm run gen:config`:
 *   setting({ env: 'CLAUDE_ASYNC_REDIS_URL', key: 'redisUrl', group: 'jobs', default: '',
 *     fallback: () => undefined, parse: url, meaning: 'Redis for many hosts (one host when unset)' }),
 * A literal default ('4h', '30') needs no `fallback`; a default computed from another setting gets a
 * `fallback` that reads it with `get` (that setting must sit above it) and a `default` describing it.
 */
export const SETTINGS: readonly AnySetting[] = [
  setting({ env: 'CLAUDE_ASYNC_CLAUDE_BIN', key: 'claudeBin', group: 'jobs', default: 'claude', parse: String, meaning: 'the claude CLI to run (a name on `PATH` or an absolute path)' }),
  setting({ env: 'CLAUDE_ASYNC_DATA_DIR', key: 'dataDir', group: 'jobs', default: '~/.claude-async', parse: directory, meaning: 'index (`db.json`), tokens and OAuth state' }),
  setting({ env: 'CLAUDE_ASYNC_JOBS_DIR', key: 'jobsDir', group: 'jobs', default: '`$CLAUDE_ASYNC_DATA_DIR/jobs`', fallback: ({ get }) => path.join(get('dataDir'), 'jobs'), parse: directory, meaning: 'one folder per job (mode 0700)' }),
  setting({ env: 'CLAUDE_ASYNC_DEFAULT_CWD', key: 'defaultCwd', group: 'jobs', default: 'where the server starts', fallback: ({ cwd }) => directory(cwd), parse: directory, meaning: 'cwd of a job that names none' }),
  setting({ env: 'CLAUDE_ASYNC_ALLOWED_ROOTS', key: 'allowedRoots', group: 'jobs', default: 'the default cwd', fallback: ({ get }) => [get('defaultCwd')], parse: (raw) => list(raw).map(directory), meaning: 'comma list; a job\'s cwd must resolve (realpath) inside one' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_CONCURRENT', key: 'maxConcurrent', group: 'jobs', default: '4', parse: int(1, 1000), meaning: 'running jobs at once; more are queued' }),
  setting({ env: 'CLAUDE_ASYNC_JOB_TIMEOUT', key: 'jobTimeoutMs', group: 'jobs', default: '4h', parse: parseDuration, meaning: 'longest a job may run (`timed_out` after)' }),
  setting({ env: 'CLAUDE_ASYNC_KILL_GRACE', key: 'killGraceMs', group: 'jobs', default: '10s', parse: parseDuration, meaning: 'SIGTERM → SIGKILL grace period when a job is stopped' }),
  setting({ env: 'CLAUDE_ASYNC_RESULT_WATCHDOG', key: 'resultWatchdogMs', group: 'jobs', default: '60s', parse: parseDuration, meaning: 'how long claude may linger after its result line before it is ended' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_PROMPT_BYTES', key: 'maxPromptBytes', group: 'jobs', default: '512k', parse: parseBytes, meaning: 'largest prompt' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_LOG_BYTES', key: 'maxLogBytes', group: 'jobs', default: '512MB', parse: parseBytes, meaning: 'cap on a job\'s `out.jsonl`; past it output is dropped (the job keeps running)' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_LINE_BYTES', key: 'maxLineBytes', group: 'jobs', default: '16MB', parse: parseBytes, meaning: 'longest stream-json line stored; a longer one is replaced by a marker and never held whole in memory' }),
  setting({ env: 'CLAUDE_ASYNC_RETENTION', key: 'retentionMs', group: 'jobs', default: '7d', parse: parseDuration, meaning: 'ended jobs older than this are removed (`0` keeps all)' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_PERMISSION_MODE', key: 'maxPermissionMode', group: 'jobs', default: 'acceptEdits', parse: mode, meaning: 'most permissive mode a client may ask for (`plan` < `dontAsk` < `default` < `acceptEdits` < `auto` < `bypassPermissions`)' }),
  setting({ env: 'CLAUDE_ASYNC_DEFAULT_PERMISSION_MODE', key: 'defaultPermissionMode', group: 'jobs', default: 'acceptEdits', parse: mode, meaning: 'mode of a job that names none (capped by the max)' }),
  setting({
    env: 'CLAUDE_ASYNC_GRANTABLE_TOOLS', key: 'grantableTools', group: 'jobs', default: 'follows the max mode',
    fallback: ({ get }) => defaultGrantableTools(get('maxPermissionMode')), parse: grantable,
    meaning: 'comma list of tool rules a client may pre-approve in `allowedTools`: `Edit`, `Bash(npm test:*)`; a bare name covers all its rules, `*` anything, `none` nothing. Default: what the capped mode runs anyway — `Read`, `Glob`, `Grep`, `LS`, `NotebookRead`, `TodoWrite` up to `default`; plus `Edit`, `Write`, `MultiEdit`, `NotebookEdit` at `acceptEdits`/`auto`; plus `WebFetch`, `WebSearch`, `Task` at `bypassPermissions`. `Bash` only when listed. Another rule is a 400 naming it',
  }),
  setting({
    env: 'CLAUDE_ASYNC_JOB_ENV', key: 'jobEnvNames', group: 'jobs', default: '', fallback: () => [],
    parse: (raw) => list(raw).map((name) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`'${name}' is not an environment variable name`);
      if (name.startsWith('CLAUDE_ASYNC_')) throw new Error(`${name} is the server's own setting and never reaches a job`);
      return name;
    }),
    meaning: 'comma list of extra environment variable names passed to jobs (never a `CLAUDE_ASYNC_` one)',
  }),
  setting({ env: 'CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE', key: 'maxStartsPerMinute', group: 'jobs', default: '30', parse: int(1, 1_000_000), meaning: 'starts per principal per minute (429 + `Retry-After` past it)' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_TAIL_BYTES', key: 'maxTailBytes', group: 'jobs', default: '65536', parse: parseBytes, meaning: 'hard maximum of `tailBytes` in a check' }),
  setting({ env: 'CLAUDE_ASYNC_APPROVALS', key: 'approvals', group: 'jobs', default: 'off', parse: onOff, meaning: '`on` lets a job start with `approvals: true` ([Approvals](#approvals)); off, such a start is a 400' }),
  setting({ env: 'CLAUDE_ASYNC_APPROVAL_TIMEOUT', key: 'approvalTimeoutMs', group: 'jobs', default: '10m', parse: parseDuration, meaning: 'an approval question nobody answers within this is denied' }),

  setting({ env: 'CLAUDE_ASYNC_HOST', key: 'host', group: 'http', default: '127.0.0.1', parse: String, meaning: 'address the HTTP server binds' }),
  setting({ env: 'CLAUDE_ASYNC_PORT', key: 'port', group: 'http', default: '8787', parse: int(0, 65535), meaning: 'port the HTTP server binds' }),
  setting({
    env: 'CLAUDE_ASYNC_PUBLIC_URL', key: 'publicUrl', group: 'http', default: '`http://<host>:<port>`',
    fallback: ({ get }) => `http://${get('host').includes(':') ? `[${get('host')}]` : get('host')}:${get('port')}`, parse: url,
    meaning: 'the URL clients use; the OAuth resource',
  }),
  setting({
    env: 'CLAUDE_ASYNC_ALLOWED_HOSTS', key: 'allowedHosts', group: 'http', default: 'loopback names + the public URL host',
    fallback: ({ get }) => [...new Set([...LOOPBACK_HOSTS, new URL(get('publicUrl')).host, new URL(get('publicUrl')).hostname])], parse: list,
    meaning: 'comma list of accepted `Host` headers (DNS-rebinding protection)',
  }),
  setting({ env: 'CLAUDE_ASYNC_ALLOWED_ORIGINS', key: 'allowedOrigins', group: 'http', default: 'the public URL origin', fallback: ({ get }) => [new URL(get('publicUrl')).origin], parse: (raw) => list(raw).map(url), meaning: 'comma list of accepted browser `Origin`s (DNS-rebinding protection)' }),
  setting({ env: 'CLAUDE_ASYNC_TRUST_PROXY', key: 'trustProxy', group: 'http', default: '', fallback: () => false as const, parse: String, meaning: 'express `trust proxy` (e.g. `loopback`, `1`) behind a reverse proxy' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_BODY_BYTES', key: 'maxBodyBytes', group: 'http', default: '1MB', parse: parseBytes, meaning: 'largest request body (413 past it)' }),
  setting({ env: 'CLAUDE_ASYNC_HEADERS_TIMEOUT', key: 'headersTimeoutMs', group: 'http', default: '30s', parse: parseDuration, meaning: 'a client must send its request headers within this (slow clients are cut off)' }),
  setting({ env: 'CLAUDE_ASYNC_SESSION_IDLE', key: 'sessionIdleMs', group: 'http', default: '30m', parse: parseDuration, meaning: 'MCP sessions with nothing open (no stream, no request) this long are closed' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_SESSIONS', key: 'maxSessions', group: 'http', default: '1000', parse: int(1, 1_000_000), meaning: 'most open MCP sessions; past it an idle session of the principal holding the most is closed' }),
  setting({
    env: 'CLAUDE_ASYNC_FRONT_ID', key: 'frontId', group: 'http', default: '', fallback: () => undefined,
    parse: (raw) => {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(raw)) throw new Error('1-32 letters, digits, dash or underscore (it becomes the start of session ids)');
      return raw;
    },
    meaning: 'this server\'s name when several run behind one proxy: MCP session ids start with it (`front1.…`) and the proxy routes each session to its front ([More than one machine](#more-than-one-machine))',
  }),
  setting({ env: 'CLAUDE_ASYNC_MAX_SESSIONS_PER_PRINCIPAL', key: 'maxSessionsPerPrincipal', group: 'http', default: '100', parse: int(1, 1_000_000), meaning: 'MCP sessions of one principal; past it its oldest idle one is closed, or 429 if all are in use' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_SUBSCRIPTIONS', key: 'maxSubscriptionsPerSession', group: 'http', default: '100', parse: int(1, 1_000_000), meaning: 'resource subscriptions of one MCP session' }),
  setting({ env: 'CLAUDE_ASYNC_SSE_RETRY', key: 'sseRetryMs', group: 'http', default: '3s', parse: parseDuration, meaning: 'SSE `retry` field: how long a cut-off client waits before it reconnects' }),
  setting({ env: 'CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL', key: 'maxStreamsPerPrincipal', group: 'http', default: '32', parse: int(1, 1_000_000), meaning: 'open `/v1/jobs/{id}/events` streams, MCP GET streams and blocking calls (`claude_wait`, `claude_run` without a task, `tasks/result`) per principal; 429 past it' }),
  setting({
    env: 'CLAUDE_ASYNC_STREAM_RECHECK', key: 'streamRecheckMs', group: 'http', default: '30s',
    parse: (raw) => {
      const ms = parseDuration(raw);
      if (ms < 100 || ms > 30_000) throw new Error('must be between 100ms and 30s');
      return ms;
    },
    meaning: 'how often an open stream re-checks its token (100ms–30s); a revocation in this process re-checks at once',
  }),

  setting({ env: 'CLAUDE_ASYNC_AUTH', key: 'auth', group: 'auth', default: 'token', parse: (raw) => z.enum(['token', 'none']).parse(raw), meaning: '`token` (bearer tokens required) or `none` (only when the server binds a loopback address)' }),
  setting({ env: 'CLAUDE_ASYNC_TOKEN', key: 'token', group: 'auth', default: '', fallback: () => undefined, parse: minLength(16), meaning: 'one static bearer token, 16+ characters (principal `token:default`, all scopes)' }),
  setting({ env: 'CLAUDE_ASYNC_JWT_SECRET', key: 'jwtSecret', group: 'auth', default: '', fallback: () => undefined, parse: minLength(32), meaning: 'HS256 secret, 32+ characters, for `claude-async token mint` JWTs' }),
  setting({ env: 'CLAUDE_ASYNC_JWKS_URL', key: 'jwksUrl', group: 'auth', default: '', fallback: () => undefined, parse: url, meaning: 'JWKS URL of an external OAuth authorization server (the built-in one is then off)' }),
  setting({ env: 'CLAUDE_ASYNC_JWT_ISSUER', key: 'jwtIssuer', group: 'auth', default: '', fallback: () => undefined, parse: String, meaning: 'expected `iss` of JWTs, advertised as the authorization server; required with `CLAUDE_ASYNC_JWKS_URL`' }),
  setting({ env: 'CLAUDE_ASYNC_JWT_AUDIENCE', key: 'jwtAudience', group: 'auth', default: '`$CLAUDE_ASYNC_PUBLIC_URL/mcp`', fallback: ({ get }) => `${get('publicUrl')}/mcp`, parse: String, meaning: 'expected `aud` of JWTs' }),
  setting({ env: 'CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE', key: 'authFailuresPerMinute', group: 'auth', default: '20', parse: int(1, 1_000_000), meaning: 'failed auths per IP per minute before 429 (bearer tokens and the consent page)' }),

  setting({ env: 'CLAUDE_ASYNC_OAUTH', key: 'oauth', group: 'oauth', default: 'on', parse: onOff, meaning: 'built-in OAuth 2.1 authorization server for connectors (`on`/`off`; off whenever `CLAUDE_ASYNC_JWKS_URL` is set)' }),
  setting({ env: 'CLAUDE_ASYNC_OAUTH_ACCESS_TTL', key: 'oauthAccessTtlMs', group: 'oauth', default: '1h', parse: positiveDuration, meaning: 'lifetime of OAuth access tokens' }),
  setting({ env: 'CLAUDE_ASYNC_OAUTH_REFRESH_TTL', key: 'oauthRefreshTtlMs', group: 'oauth', default: '30d', parse: positiveDuration, meaning: 'an OAuth sign-in ends after this long without a refresh' }),
  setting({ env: 'CLAUDE_ASYNC_OAUTH_MAX_CLIENTS', key: 'oauthMaxClients', group: 'oauth', default: '1000', parse: int(1, 1_000_000), meaning: 'registered OAuth clients kept; never-used ones are removed first when full' }),
  setting({ env: 'CLAUDE_ASYNC_OAUTH_UNUSED_CLIENT_TTL', key: 'oauthUnusedClientTtlMs', group: 'oauth', default: '1d', parse: positiveDuration, meaning: 'registered clients that never got a grant are removed after this' }),
  setting({ env: 'CLAUDE_ASYNC_OAUTH_REGISTRATIONS_PER_HOUR', key: 'oauthRegistrationsPerHour', group: 'oauth', default: '30', parse: int(1, 1_000_000), meaning: 'client registrations per IP per hour' }),
  setting({
    env: 'CLAUDE_ASYNC_OAUTH_CIMD_LOOPBACK_ORIGINS', key: 'oauthCimdLoopbackOrigins', group: 'oauth', default: '', fallback: () => [],
    parse: (raw) => list(raw).map((o) => {
      const origin = new URL(o);
      if (origin.protocol !== 'https:') throw new Error(`${o} is not an https origin`);
      return origin.origin;
    }),
    meaning: 'comma list of https origins whose client metadata may be fetched from loopback (tests only)',
  }),

  setting({ env: 'CLAUDE_ASYNC_LOG_LEVEL', key: 'logLevel', group: 'other', default: 'info', parse: (raw) => z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).parse(raw), meaning: 'pino level (`trace`, `debug`, `info`, `warn`, `error`, `fatal`, `silent`); logs never contain tokens or prompts' }),
  setting({
    env: 'CLAUDE_ASYNC_REDIS_URL', key: 'redisUrl', group: 'scale', default: '', fallback: () => undefined,
    parse: (raw) => {
      const parsed = new URL(raw);
      if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('must be a redis:// or rediss:// URL');
      return raw;
    },
    meaning: '`redis://…` of the shared backend: `serve` becomes a front and `claude-async worker` runs the jobs (unset: everything on this host)',
  }),
  setting({
    env: 'CLAUDE_ASYNC_WORKER_ID', key: 'workerId', group: 'scale', default: '`<hostname>-<hash of the jobs dir>`',
    fallback: ({ get }) => defaultWorkerId(get('jobsDir')),
    parse: (raw) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(raw)) throw new Error('letters, digits, dot, dash and underscore only (at most 100)');
      return raw;
    },
    meaning: 'the worker\'s name in Redis; keep it across restarts (it adopts its running jobs by it)',
  }),
  setting({
    env: 'CLAUDE_ASYNC_WORKER_LABELS', key: 'workerLabels', group: 'scale', default: '', fallback: () => [],
    parse: (raw) => list(raw).map((label) => {
      if (!LABEL_PATTERN.test(label)) throw new Error(`'${label}' is not a label (${LABEL_RULE})`);
      return label;
    }),
    meaning: 'comma list of labels this host carries: a job that names `labels` runs only where all of them are carried (a worker publishes them with its heartbeat and the router matches them; a single server checks them itself)',
  }),
  setting({
    env: 'CLAUDE_ASYNC_WORKER_TTL', key: 'workerTtlMs', group: 'scale', default: '15s',
    parse: atLeast(parseDuration, 1000, '1s'),
    meaning: 'a worker without a heartbeat this long is gone: its running jobs read `orphaned` and the jobs queued for it move to another live worker that holds their cwd, or fail naming it (refreshed every third of it)',
  }),
  setting({
    env: 'CLAUDE_ASYNC_REDIS_MAX_LOG_BYTES', key: 'redisMaxLogBytes', group: 'scale', default: '1MB',
    parse: atLeast(parseBytes, 4096, '4k'),
    meaning: 'the end of each job\'s log kept in Redis for reads and follows; older pages come from the worker\'s disk',
  }),
  setting({
    env: 'CLAUDE_ASYNC_GLAMA_MAINTAINERS', key: 'glamaMaintainers', group: 'other', default: '', fallback: () => [],
    parse: (raw) => list(raw).map((email) => {
      if (!z.email().safeParse(email).success) throw new Error(`'${email.slice(0, 100)}' is not an email address`);
      return email;
    }),
    meaning: 'comma list of Glama account emails served at `/.well-known/glama.json` (claims a remote listing)',
  }),
  setting({
    env: 'CLAUDE_ASYNC_GLAMA_CLAIM', key: 'glamaClaim', group: 'other', default: '', fallback: () => undefined,
    parse: (raw) => {
      if (!/^glama_claim_[A-Za-z0-9_-]{32}$/.test(raw)) throw new Error('must be the glama_claim_… token Glama shows (glama_claim_ and 32 letters, digits, _ or -)');
      return raw;
    },
    meaning: 'the `glama_claim_…` token from Glama\'s claim panel, served at `/.well-known/glama.json`',
  }),
];

/** `defaultTailBytes` is no setting: a check without `tailBytes` gets this much, capped by the max. */
const DEFAULT_TAIL_BYTES = 8000;

type Env = Record<string, string | undefined>;

function readSetting(env: Env, entry: AnySetting, earlier: Earlier): unknown {
  const raw = env[entry.env];
  if (raw === undefined || raw.trim() === '') return entry.fallback ? entry.fallback(earlier) : entry.parse(entry.default);
  try {
    return entry.parse(raw.trim());
  } catch (err) {
    throw new ConfigError(`${entry.env}: ${(err as Error).message}`);
  }
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const values = new Map<keyof Config, unknown>();
  const earlier: Earlier = {
    cwd,
    get(key) {
      // A table-order mistake, not a user's: caught by the first loadConfig any test runs.
      if (!values.has(key)) throw new Error(`config table: ${key} is read before its entry; move the entry up`);
      return values.get(key) as Config[typeof key];
    },
  };
  for (const entry of SETTINGS) values.set(entry.key, readSetting(env, entry, earlier));
  const config = Object.fromEntries(values) as Omit<Config, 'defaultTailBytes'>;
  if (config.jwksUrl && !config.jwtIssuer) throw new ConfigError('CLAUDE_ASYNC_JWT_ISSUER: required when CLAUDE_ASYNC_JWKS_URL is set');
  return { ...config, defaultTailBytes: Math.min(DEFAULT_TAIL_BYTES, config.maxTailBytes) };
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

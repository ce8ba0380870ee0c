// `claude-async doctor`: checks what a working install needs (node, the claude CLI, the data dir,
// the allowed roots, a sane public URL and auth) and says what to fix. Each check is a small
// function over the config and a few probes, so tests can run them without touching the machine.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, isLoopbackHost, isWildcardHost, loadConfig, type Config } from '../config.js';
import { jobEnvironment } from '../jobs/environment.js';
import { TokenStore } from '../auth/token-store.js';
import { tokensFile } from '../auth/options.js';
import { findExecutable } from '../jobs/process/executable.js';
import { checkProcessLayer, type OsProbes } from './doctor-os.js';
import { builtInServerStatus } from '../auth/oauth/authorization-server.js';

export type CheckLevel = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  level: CheckLevel;
  detail: string;
  fix?: string;
}

export interface DoctorProbes {
  nodeVersion: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Runs `<bin> --version`; resolves with its first line or rejects with a readable reason. */
  claudeVersion(bin: string, timeoutMs: number): Promise<string>;
  /** The effective uid, or undefined where there is none (Windows). */
  uid: number | undefined;
  /**
   * Runs `<bin> auth status --json` with the environment a job gets; resolves with its JSON answer,
   * or rejects when the CLI gives none (an older CLI without the command, a hang).
   */
  claudeAuthStatus?(bin: string, env: Record<string, string>, timeoutMs: number): Promise<{ loggedIn?: unknown; authMethod?: unknown }>;
  /** The process layer and command runner the OS checks use; this host's when absent. */
  os?: OsProbes;
}

const CLAUDE_VERSION_TIMEOUT_MS = 15_000;

export function defaultProbes(): DoctorProbes {
  return {
    nodeVersion: process.versions.node,
    env: process.env,
    cwd: process.cwd(),
    uid: process.getuid?.(),
    claudeAuthStatus: (bin, env, timeoutMs) => new Promise((resolve, reject) => {
      // Exit 1 with {"loggedIn": false} is an answer, not a failure: read stdout either way.
      execFile(bin, ['auth', 'status', '--json'], { timeout: timeoutMs, killSignal: 'SIGKILL', env }, (error, stdout, stderr) => {
        try {
          const parsed = JSON.parse(stdout) as unknown;
          if (typeof parsed === 'object' && parsed !== null) return resolve(parsed as { loggedIn?: unknown });
        } catch {
          // not JSON: fall through
        }
        reject(new Error((error as { killed?: boolean } | null)?.killed ? `no answer within ${timeoutMs / 1000} s` : (stderr.trim().split('\n')[0] || stdout.trim().split('\n')[0] || 'no JSON answer')));
      });
    }),
    claudeVersion: (bin, timeoutMs) => new Promise((resolve, reject) => {
      execFile(bin, ['--version'], { timeout: timeoutMs, killSignal: 'SIGKILL', env: process.env }, (error, stdout, stderr) => {
        if (error) {
          const why = (error as { killed?: boolean }).killed ? `no answer within ${timeoutMs / 1000} s` : (stderr.trim().split('\n')[0] || error.message);
          reject(new Error(why));
        } else {
          resolve(stdout.trim().split('\n')[0] ?? '');
        }
      });
    }),
  };
}

const ok = (name: string, detail: string): CheckResult => ({ name, level: 'ok', detail });
const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, level: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, level: 'fail', detail, fix });

function checkNode(version: string): CheckResult {
  const major = Number(version.split('.')[0]);
  return major >= 20 ? ok('node', `v${version}`) : fail('node', `v${version} is too old`, 'install Node.js 20 or newer');
}

async function checkClaude(config: Config, probes: DoctorProbes): Promise<CheckResult[]> {
  const bin = findExecutable(config.claudeBin, probes.env);
  if (!bin) {
    return [fail('claude', `'${config.claudeBin}' was not found${config.claudeBin.includes('/') ? '' : ' on PATH'}`,
      'install it with `npm i -g @anthropic-ai/claude-code`, or set CLAUDE_ASYNC_CLAUDE_BIN to its absolute path')];
  }
  const found = ok('claude', bin);
  try {
    const version = await probes.claudeVersion(bin, CLAUDE_VERSION_TIMEOUT_MS);
    return [found, ok('claude --version', version || '(no output)'), ...await checkClaudeLogin(bin, config, probes)];
  } catch (error) {
    return [found, fail('claude --version', `${bin} --version failed: ${(error as Error).message}`, 'run it by hand and fix what it reports (a broken install, node missing from PATH)')];
  }
}

const LOGIN_FIX = 'as the user the server runs as, run `claude auth login` (or `claude setup-token` and set CLAUDE_CODE_OAUTH_TOKEN), or set ANTHROPIC_API_KEY in the server\'s environment; jobs receive ANTHROPIC_* and CLAUDE_CODE_* variables';

/** Installed is not enough: a claude that is not logged in fails every job with "Not logged in". */
async function checkClaudeLogin(bin: string, config: Config, probes: DoctorProbes): Promise<CheckResult[]> {
  if (!probes.claudeAuthStatus) return [];
  // Asked with the environment a job gets, since that is where the credentials must be.
  const env = jobEnvironment(probes.env, config.jobEnvNames);
  try {
    const status = await probes.claudeAuthStatus(bin, env, CLAUDE_VERSION_TIMEOUT_MS);
    if (status.loggedIn === true) return [ok('claude login', `logged in (${typeof status.authMethod === 'string' ? status.authMethod : 'unknown method'})`)];
    return [fail('claude login', 'claude is installed but not logged in: every job would fail with "Not logged in"', LOGIN_FIX)];
  } catch (error) {
    return [warn('claude login', `could not tell whether claude is logged in (\`claude auth status\`: ${(error as Error).message})`, `check by hand with \`claude -p hello\`; if it says "Not logged in": ${LOGIN_FIX}`)];
  }
}

/** Nearest folder of `dir` that exists, to tell whether `dir` could be created. */
function existingAncestor(dir: string): string {
  let current = dir;
  while (!fs.existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

function checkDir(name: string, dir: string): CheckResult {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    const ancestor = existingAncestor(dir);
    try {
      fs.accessSync(ancestor, fs.constants.W_OK);
      return ok(name, `${dir} does not exist yet; it will be created (mode 0700) on first start`);
    } catch {
      return fail(name, `${dir} does not exist and ${ancestor} is not writable`, `create it: mkdir -p -m 700 ${dir} (as the user the server runs as)`);
    }
  }
  if (!stat.isDirectory()) return fail(name, `${dir} is not a directory`, `move the file away or point the setting at a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    // access(2) can say yes on a read-only mount; a real write is the only proof.
    const probe = path.join(dir, `.doctor-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (error) {
    return fail(name, `${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`, `chown it to the server's user, or set a writable folder`);
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    return warn(name, `${dir} is mode ${(stat.mode & 0o777).toString(8)}: other users can read job prompts and output`, `chmod 700 ${dir}`);
  }
  return ok(name, `${dir} (mode 700, writable)`);
}

function checkRoots(config: Config): CheckResult[] {
  const results: CheckResult[] = [];
  const resolved: string[] = [];
  for (const root of config.allowedRoots) {
    try {
      resolved.push(fs.realpathSync(root));
    } catch {
      results.push(fail('allowed root', `${root} does not exist`, 'create it or remove it from CLAUDE_ASYNC_ALLOWED_ROOTS'));
    }
  }
  if (resolved.some((root) => path.parse(root).root === root)) {
    results.push(warn('allowed roots', 'the filesystem root is allowed: a job may run anywhere', 'set CLAUDE_ASYNC_ALLOWED_ROOTS to the folders jobs should work in'));
  }
  let cwd: string | undefined;
  try {
    cwd = fs.realpathSync(config.defaultCwd);
  } catch {
    results.push(fail('default cwd', `${config.defaultCwd} does not exist`, 'create it or set CLAUDE_ASYNC_DEFAULT_CWD'));
  }
  if (cwd && !resolved.some((root) => cwd === root || cwd.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) {
    results.push(fail('default cwd', `${cwd} is outside the allowed roots, so a job that names no cwd fails`, 'set CLAUDE_ASYNC_DEFAULT_CWD inside CLAUDE_ASYNC_ALLOWED_ROOTS'));
  }
  if (!results.some((r) => r.level === 'fail')) results.push(ok('allowed roots', resolved.join(', ')));
  return results;
}

function checkPublicUrl(config: Config): CheckResult {
  const url = new URL(config.publicUrl);
  const host = url.hostname;
  if (isWildcardHost(host)) {
    return fail('public URL', `${config.publicUrl} is a bind address, not one clients can reach: serve refuses to start`, 'set CLAUDE_ASYNC_PUBLIC_URL to the URL clients use (e.g. https://box.example.com)');
  }
  if (url.protocol === 'http:' && !isLoopbackHost(host)) {
    return warn('public URL', `${config.publicUrl} is plain http on a non-loopback host: bearer tokens travel in clear`, 'put TLS in front (deploy/Caddyfile or deploy/nginx.conf) and set CLAUDE_ASYNC_PUBLIC_URL=https://…');
  }
  return ok('public URL', config.publicUrl);
}

async function checkAuth(config: Config): Promise<CheckResult> {
  if (config.auth === 'none') {
    if (!isLoopbackHost(config.host)) {
      return fail('auth', `CLAUDE_ASYNC_AUTH=none with CLAUDE_ASYNC_HOST=${config.host}: serve refuses to start`, 'bind 127.0.0.1, or turn auth on (unset CLAUDE_ASYNC_AUTH) and create a token');
    }
    return warn('auth', 'none (loopback only): every local process can start jobs as you', 'fine on a single-user machine; use tokens on a shared one');
  }
  const kinds: string[] = [];
  if (config.token) kinds.push('CLAUDE_ASYNC_TOKEN');
  if (config.jwtSecret) kinds.push('JWT (HS256)');
  if (config.jwksUrl) kinds.push(`JWKS ${config.jwksUrl}`);
  try {
    const stored = (await new TokenStore(tokensFile(config)).list()).length;
    if (stored) kinds.push(`${stored} stored token(s)`);
  } catch (error) {
    return fail('auth', `the token file ${tokensFile(config)} is unreadable: ${(error as Error).message}`, 'fix its permissions, or move it away and create tokens again');
  }
  if (!kinds.length) return warn('auth', 'no credentials yet', 'the first `claude-async serve` creates an admin token and prints it once; or run `claude-async token create --name you`');
  return ok('auth', kinds.join(', '));
}

/** The built-in OAuth server's issuer is the public URL, which must be https unless it is loopback. */
export function checkOAuthIssuer(config: Config): CheckResult | undefined {
  if (config.auth !== 'token' || config.jwksUrl || !config.oauth) return undefined;
  const status = builtInServerStatus(config);
  if (status.on) return ok('oauth issuer', `${config.publicUrl} (built-in authorization server on: connectors can sign in)`);
  return warn('oauth issuer', `built-in OAuth server off: ${status.reason}; Claude connectors and header-less clients cannot sign in`,
    'set CLAUDE_ASYNC_PUBLIC_URL=https://… behind TLS (deploy/Caddyfile), or CLAUDE_ASYNC_OAUTH=off to silence this');
}

function checkUser(config: Config, uid: number | undefined): CheckResult | undefined {
  if (uid !== 0) return undefined;
  return config.maxPermissionMode === 'bypassPermissions'
    ? warn('user', 'running as root: claude refuses bypassPermissions as root unless IS_SANDBOX=1', 'run the server as an ordinary user')
    : warn('user', 'running as root', 'run the server as an ordinary user (see deploy/claude-async.service)');
}

export async function runDoctor(probes: DoctorProbes = defaultProbes()): Promise<CheckResult[]> {
  const results: CheckResult[] = [checkNode(probes.nodeVersion)];
  let config: Config;
  try {
    config = loadConfig(probes.env, probes.cwd);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    results.push(fail('config', error.message, 'fix the variable it names (see .env.example)'));
    return results;
  }
  results.push(ok('config', 'environment parsed'));
  results.push(...await checkClaude(config, probes));
  results.push(...checkProcessLayer(findExecutable(config.claudeBin, probes.env), probes.os));
  results.push(checkDir('data dir', config.dataDir));
  if (config.jobsDir !== path.join(config.dataDir, 'jobs')) results.push(checkDir('jobs dir', config.jobsDir));
  results.push(...checkRoots(config));
  results.push(checkPublicUrl(config));
  results.push(await checkAuth(config));
  const issuer = checkOAuthIssuer(config);
  if (issuer) results.push(issuer);
  if (config.maxPermissionMode === 'bypassPermissions') {
    results.push(warn('permissions', 'clients may ask for bypassPermissions: a job can run any command without asking', 'lower CLAUDE_ASYNC_MAX_PERMISSION_MODE unless jobs run in a sandbox'));
  }
  const user = checkUser(config, probes.uid);
  if (user) results.push(user);
  return results;
}

function formatChecks(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = results.flatMap((r) => [
    `${r.level.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}`,
    ...(r.fix && r.level !== 'ok' ? [`${' '.repeat(6 + width)}  fix: ${r.fix}`] : []),
  ]);
  const failed = results.filter((r) => r.level === 'fail').length;
  const warned = results.filter((r) => r.level === 'warn').length;
  lines.push('', failed ? `${failed} check(s) failed, ${warned} warning(s).` : `All checks passed${warned ? ` (${warned} warning(s))` : ''}.`);
  return lines.join('\n');
}

/** The CLI command; returns the exit code (1 when any check failed). */
export async function doctorCommand(probes: DoctorProbes = defaultProbes()): Promise<number> {
  const results = await runDoctor(probes);
  process.stdout.write(`${formatChecks(results)}\n`);
  return results.some((r) => r.level === 'fail') ? 1 : 0;
}

// The real server process, `node .test-build/src/index.js serve`, as the tests start it: the fake
// CLI, a loopback port, every line it prints kept for assertions, REST calls with its token, kill()
// that ends it by pid (a restart follows) and stop() that also ends its jobs and removes its data dir.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { configFor } from '../../src/config.js';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, freePort, tempDir, waitFor } from './helpers.js';
import { answerOf, restCaller, type RestAnswer, type RestCall, type RestInit } from './rest-client.js';
import { suiteObject } from './suite.js';

/** The CLI entry the tests run, as compiled by `npm test`'s pretest. */
export const SERVER_BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

/** What every test server gets unless the test says otherwise: the fake CLI, no retention, limits out of the way. */
export function serverEnv(dataDir: string, work: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir,
    CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
    CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_RETENTION: '0', CLAUDE_ASYNC_KILL_GRACE: '1s',
    CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '100000', CLAUDE_ASYNC_AUTH_FAILURES_PER_MINUTE: '100000',
    ...extra,
  };
}

/** Runs the CLI (token create, doctor, …) to the end with this environment; returns its stdout. */
export function runCli(env: Record<string, string>, args: string[]): string {
  return execFileSync(process.execPath, [SERVER_BIN, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface ServerOptions {
  /** Variables on top of serverEnv's (CLAUDE_ASYNC_* settings, or anything a job should inherit). */
  env?: Record<string, string>;
  /** The data dir (seeded by the test, or a restart's); by default a fresh temp dir. */
  dataDir?: string;
  /** The job cwd; default <dataDir>/work. */
  work?: string;
  /** Seeds the data dir before the server starts. */
  prepare?: (dataDir: string, work: string) => void | Promise<void>;
  /**
   * 'known' (default): a free port is picked first, so the public URL, allowed Origin and JWT
   * audience are right from the start. 0: the OS picks one, read from the "listening" log line.
   * A CLAUDE_ASYNC_PORT in `env` wins (a restart on the port it had).
   */
  port?: 'known' | 0;
  uid?: number;
  gid?: number;
  /**
   * The server's working directory; default the data dir (or its parent, before the server makes
   * it): never inside the allowed roots, so a cwd of /proc/self/cwd names no allowed folder.
   */
  cwd?: string;
  /** Runs the server under this umask (through sh), e.g. 0 to prove modes do not depend on it. */
  umask?: number;
}

export interface RealServer {
  child: ChildProcess;
  pid: number;
  url: string;
  port: number;
  dataDir: string;
  work: string;
  /** The environment it runs with. */
  env: Record<string, string>;
  /** Everything it wrote to stdout and stderr so far. */
  logs(): string;
  /** Its stdout alone (the pino log) and its stderr alone (what a person at the terminal sees). */
  stdout(): string;
  stderr(): string;
  /** The pino lines it logged, parsed (other output skipped). */
  logLines(): Record<string, unknown>[];
  /** fetch against the server with its CLAUDE_ASYNC_TOKEN (or init.token). */
  call: RestCall;
  /** call() read whole, JSON parsed. */
  rest(urlPath: string, init?: RestInit): Promise<RestAnswer>;
  /** Ends the process only (a restart on the same data dir follows): SIGKILL by default, SIGTERM for a graceful stop. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The end of a test: kill(), then every job under the data dir is ended and the dir removed. */
  stop(): Promise<void>;
}

const LISTENING = /"url":"(http:[^"]+)"[^\n]*claude-async listening/;

/** Starts the server and resolves once it listens; a start that loses its port to another process is retried. */
export async function spawnServer(options: ServerOptions = {}): Promise<RealServer> {
  const madeDataDir = options.dataDir === undefined && options.env?.CLAUDE_ASYNC_DATA_DIR === undefined;
  const dataDir = options.dataDir ?? options.env?.CLAUDE_ASYNC_DATA_DIR ?? tempDir('ca-server-');
  const work = options.work ?? options.env?.CLAUDE_ASYNC_DEFAULT_CWD ?? path.join(dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  await options.prepare?.(dataDir, work);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, dataDir, work);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt >= 5) {
        if (madeDataDir) cleanupJobs(configFor({ dataDir })); // no test holds it to clean up
        throw error;
      }
    }
  }
}

/** Call inside a describe: one server for its tests, started before the first and stopped (its jobs ended, its data dir removed) after the last. */
export function suiteServer(options: ServerOptions = {}): RealServer {
  return suiteObject(() => spawnServer(options), (server) => server.stop());
}

class PortTaken extends Error {}

async function startOnce(options: ServerOptions, dataDir: string, work: string): Promise<RealServer> {
  const fixed = Number(options.env?.CLAUDE_ASYNC_PORT ?? 0);
  const knownPort = fixed > 0 ? fixed : options.port === 0 ? undefined : await freePort();
  const env = serverEnv(dataDir, work, { CLAUDE_ASYNC_PORT: String(knownPort ?? 0), ...options.env });
  const spawnOptions: SpawnOptions = { env, cwd: options.cwd ?? (fs.existsSync(dataDir) ? dataDir : path.dirname(dataDir)), stdio: ['ignore', 'pipe', 'pipe'], ...(options.uid !== undefined ? { uid: options.uid } : {}), ...(options.gid !== undefined ? { gid: options.gid } : {}) };
  const child: ChildProcess = options.umask === undefined
    ? spawn(process.execPath, [SERVER_BIN, 'serve'], spawnOptions)
    : spawn('/bin/sh', ['-c', `umask ${options.umask.toString(8).padStart(3, '0')} && exec "$0" "$1" serve`, process.execPath, SERVER_BIN], spawnOptions);
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    if (signal !== 'SIGKILL') {
      // A graceful stop that hangs is a failure of its own test; here it must not leave a process behind.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 30_000)))]).finally(() => clearTimeout(timer));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    return exited;
  };
  const base = knownPort === undefined ? undefined : `http://127.0.0.1:${knownPort}`;
  let url: string;
  try {
    // The "listening" line when the log level shows it; otherwise /healthz on the known port.
    url = await waitFor(async () => {
      const logged = LISTENING.exec(out)?.[1];
      if (logged) return base ?? logged;
      if (child.exitCode !== null || child.signalCode !== null) {
        if (/ is in use|EADDRINUSE/.test(out) && !(fixed > 0)) throw new PortTaken(out);
        throw new Error(`the server exited during start-up:\n${out.slice(-4000)}`);
      }
      return base && (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) ? base : undefined;
    }, 90_000, 'the server to listen');
  } catch (error) {
    await kill();
    if (error instanceof PortTaken) throw error;
    throw new Error(`${(error as Error).message}; its output:\n${out.slice(-2000)}`);
  }
  const call = restCaller(url, env.CLAUDE_ASYNC_TOKEN);
  return {
    child, pid: child.pid!, url, port: Number(new URL(url).port), dataDir, work, env,
    logs: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines: () => stdout.split('\n').flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as unknown;
        return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    }),
    call,
    rest: async (urlPath, init) => answerOf(await call(urlPath, init)),
    kill,
    stop: async () => {
      await kill();
      cleanupJobs(configFor({ dataDir }));
    },
  };
}

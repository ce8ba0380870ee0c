// The real server process (node .test-build/src/index.js serve) on a free loopback port, with the
// fake CLI, its own temp data dir and every line it logs kept for assertions. stop() ends it by
// pid and ends the jobs it started.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { configFor } from '../src/config.js';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, freePort, tempDir, waitFor } from './helpers.js';

export const SERVER_BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface RealServer {
  child: ChildProcess;
  url: string;
  port: number;
  dataDir: string;
  work: string;
  /** Everything the server wrote to stdout and stderr so far. */
  logs(): string;
  /** The pino lines it logged, parsed (other output skipped). */
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export { freePort } from './helpers.js';

export async function startRealServer(env: Record<string, string> = {}): Promise<RealServer> {
  const dataDir = tempDir('ca-real-');
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work);
  const port = await freePort();
  const child = spawn(process.execPath, [SERVER_BIN, 'serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dataDir,
      CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
      CLAUDE_ASYNC_PORT: String(port), CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_RETENTION: '0', CLAUDE_ASYNC_KILL_GRACE: '1s',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${out}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    }, 60_000, 'the server to listen');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child, url, port, dataDir, work,
    logs: () => out,
    logLines: () => out.split('\n').flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as unknown;
        return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      cleanupJobs(configFor({ dataDir }));
    },
  };
}

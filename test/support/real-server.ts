// The real server process for fault tests: `node .test-build/src/index.js serve` on a free loopback
// port with the fake CLI, REST calls with its token, and the pieces tests need to hurt it (the pids
// of a job's runner and claude, a small tmpfs for a full disk). Everything started is ended by pid.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { configFor } from '../../src/config.js';
import type { ExitRecord, JobSpecRecord } from '../../src/jobs/records.js';
import { FAKE_CLAUDE, REPO_ROOT, cleanupJobs, waitFor } from '../helpers.js';

export const TOKEN = `cas_faults_${randomUUID().replace(/-/g, '')}`;
const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface RealServer {
  child: ChildProcess;
  url: string;
  logs: () => string;
  /** SIGTERM (graceful) or SIGKILL; resolves once the process is gone. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
  /** A REST call with the server's token; JSON bodies in and out. */
  rest: (route: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) => Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
}

export interface ServerOptions {
  uid?: number;
  gid?: number;
  cwd?: string;
  /** Runs the server under this umask (through sh), e.g. 0 to prove modes do not depend on it. */
  umask?: number;
}

/** The environment for a data dir with a work folder: the fake CLI, no retention, many starts. */
export function serverEnv(dataDir: string, work: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CLAUDE_ASYNC_DATA_DIR: dataDir, CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE, CLAUDE_ASYNC_DEFAULT_CWD: work,
    CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '10000', CLAUDE_ASYNC_RETENTION: '0', CLAUDE_ASYNC_KILL_GRACE: '1s', ...extra,
  };
}

/** Starts the server and waits for its "listening" log line. */
export async function spawnServer(env: Record<string, string>, options: ServerOptions = {}): Promise<RealServer> {
  const fullEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', CLAUDE_ASYNC_PORT: '0', CLAUDE_ASYNC_LOG_LEVEL: 'info', CLAUDE_ASYNC_TOKEN: TOKEN, ...env };
  const { umask, ...spawnOptions } = options;
  const child = umask === undefined
    ? spawn(process.execPath, [BIN, 'serve'], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions })
    : spawn('/bin/sh', ['-c', `umask ${umask.toString(8).padStart(3, '0')} && exec "$0" "$1" serve`, process.execPath, BIN], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`the server exited during start-up:\n${out}`);
    return /"url":"(http:[^"]+)"/.exec(out)?.[1];
  }, 30_000, 'the server to listen');
  const rest: RealServer['rest'] = async (route, init = {}) => {
    const res = await fetch(`${url}${route}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { Authorization: `Bearer ${TOKEN}`, ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...init.headers },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { text };
    }
    return { status: res.status, body, headers: res.headers };
  };
  return {
    child, url, rest, logs: () => out,
    stop: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A job's runner.json once claude has started (its pid recorded). */
export async function runnerOf(jobsDir: string, jobId: string, timeoutMs = 20_000): Promise<{ runnerPid: number; claudePid: number }> {
  return waitFor(() => {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(jobsDir, jobId, 'runner.json'), 'utf8')) as { runnerPid: number; claudePid?: number };
      return r.claudePid ? { runnerPid: r.runnerPid, claudePid: r.claudePid } : undefined;
    } catch {
      return undefined;
    }
  }, timeoutMs, `claude of ${jobId} to start`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (killed, not yet reaped by its parent) is gone for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return process.platform !== 'linux';
  }
}

/** Ends the servers, then every runner and claude group recorded under the data dir, then removes it. */
export function cleanupAll(servers: RealServer[], dataDir: string, extraDirs: string[] = []): () => Promise<void> {
  return async () => {
    for (const s of servers) await s.stop('SIGKILL').catch(() => {});
    cleanupJobs(configFor({ dataDir }));
    for (const dir of extraDirs) fs.rmSync(dir, { recursive: true, force: true });
  };
}

export interface Tmpfs {
  dir: string;
  /** Fills the file system but `leaveBytes`; returns the filler's path (remove it to free the space). */
  fill(leaveBytes: number): string;
  freeBytes(): number;
  unmount(): Promise<void>;
}

/** A small tmpfs of its own (root only); null, with the reason, where mounting is impossible. */
export function mountTmpfs(sizeBytes: number): Tmpfs | { skip: string } {
  if (process.platform !== 'linux') return { skip: 'a tmpfs needs Linux' };
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root (CI runs as root)' };
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ca-tmpfs-')));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { skip: `mount -t tmpfs failed: ${(mounted.stderr || mounted.error?.message || '').trim()}` };
  }
  const freeBytes = () => {
    const s = fs.statfsSync(dir);
    return s.bavail * s.bsize;
  };
  return {
    dir,
    freeBytes,
    fill(leaveBytes) {
      const filler = path.join(dir, `filler-${randomUUID()}`);
      const fd = fs.openSync(filler, 'w');
      const block = Buffer.alloc(64 * 1024, 1);
      try {
        while (freeBytes() > leaveBytes) {
          const want = Math.min(block.length, freeBytes() - leaveBytes);
          if (want <= 0) break;
          fs.writeSync(fd, block, 0, want);
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        fs.closeSync(fd);
      }
      return filler;
    },
    async unmount() {
      // Processes killed a moment ago may still hold the mount; try a while, then detach it lazily.
      for (let i = 0; i < 50; i++) {
        if (spawnSync('umount', [dir]).status === 0) break;
        await new Promise((r) => setTimeout(r, 100));
        if (i === 49) spawnSync('umount', ['-l', dir]);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function specFor(jobId: string, cwd: string, createdAt: number): JobSpecRecord {
  return {
    version: 1, jobId, owner: 'default', createdAt, cwd, permissionMode: 'acceptEdits', promptBytes: 10, claudeBin: FAKE_CLAUDE,
    args: ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits'],
    timeoutMs: 60_000, killGraceMs: 1000, resultWatchdogMs: 1500, maxLogBytes: 10 * 1024 * 1024, title: `seeded ${jobId.slice(-4)}`,
  };
}

/** A finished job, written the way the server and runner would have written it. */
export function writeFinished(jobsDir: string, jobId: string, cwd: string, createdAt: number): void {
  const dir = path.join(jobsDir, jobId);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, 'prompt.txt'), 'seeded');
  fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(specFor(jobId, cwd, createdAt)));
  fs.writeFileSync(path.join(dir, 'runner.json'), JSON.stringify({ runnerPid: 999_999, runnerStartTime: null, startedAt: createdAt + 10 }));
  fs.writeFileSync(path.join(dir, 'out.jsonl'), `${JSON.stringify({ type: 'system', subtype: 'init', session_id: 's' })}\n${JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'ok', session_id: 's' })}\n`);
  const exit: ExitRecord = { reason: 'exited', exitCode: 0, signal: null, startedAt: createdAt + 10, endedAt: createdAt + 20, logCapped: false, watchdog: false, result: { result: 'ok', sessionId: 's', isError: false, subtype: 'success', costUsd: 0, numTurns: 1, durationMs: 10 } };
  fs.writeFileSync(path.join(dir, 'exit.json'), JSON.stringify(exit));
}

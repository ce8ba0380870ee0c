// What the fault tests need to hurt the server: a server on a data dir the test made, the pids of a
// job's runner and claude, a small tmpfs for a full disk, and finished jobs written the way the
// runner writes them. cleanupAll ends everything started by pid and removes the dirs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { configFor } from '../../src/config.js';
import type { ExitRecord, JobSpecRecord } from '../../src/jobs/records.js';
import { FAKE_CLAUDE, cleanupJobs, tempDir, waitFor } from './helpers.js';
import { SERVER_BIN, spawnServer, type RealServer, type ServerOptions } from './server-process.js';

export const TOKEN = `cas_faults_${randomUUID().replace(/-/g, '')}`;

/** A fresh data dir with its work folder (the job cwd); the jobs folder is left to the server. */
export function faultDirs(prefix: string): { dataDir: string; work: string; jobsDir: string } {
  const dataDir = tempDir(prefix);
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work);
  return { dataDir, work, jobsDir: path.join(dataDir, 'jobs') };
}

/** A server on a data dir the test made (and removes with cleanupAll), answering REST with TOKEN. */
export function faultServer(dataDir: string, work: string, env: Record<string, string> = {}, options: Omit<ServerOptions, 'env' | 'dataDir' | 'work'> = {}): Promise<RealServer> {
  return spawnServer({ ...options, dataDir, work, env: { CLAUDE_ASYNC_TOKEN: TOKEN, ...env } });
}

/** The uid and gid of `nobody`, which the tests run a server as, so that permission bits bind even under root. */
export const NOBODY = { uid: 65534, gid: 65534 };

/** Whether `nobody` can read the compiled server of this checkout (not when it lies under a private home). */
export function nobodyCanRunServer(): boolean {
  return spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(SERVER_BIN)}, require('fs').constants.R_OK)`], { ...NOBODY, cwd: '/' }).status === 0;
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

/** Ends the servers, then every runner and claude group recorded under the data dir, then removes it. */
export function cleanupAll(servers: RealServer[], dataDir: string, extraDirs: string[] = []): () => Promise<void> {
  return async () => {
    for (const s of servers) await s.kill('SIGKILL').catch(() => {});
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

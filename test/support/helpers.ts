// Shared test scaffolding: a temp data dir per test, a Config pointing at the fake CLI, polling
// helpers, and cleanup that ends every process a test's jobs started (by pid and process group).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFor, type Config } from '../../src/config.js';
import { claimForServer } from '../../src/jobs/claim.js';
import { isJobId } from '../../src/jobs/ids.js';
import { jobPaths } from '../../src/jobs/layout.js';
import { JobService, type ServiceOptions } from '../../src/jobs/service.js';
import type { Viewer } from '../../src/jobs/records.js';

// Compiled to .test-build/test/support/helpers.js: three levels below the repository root.
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// On Windows a .mjs cannot be started by itself: the tests go through a cmd-shim, as claude.cmd does.
export const FAKE_CLAUDE = path.join(REPO_ROOT, 'test', 'fixtures', process.platform === 'win32' ? 'fake-claude.cmd' : 'fake-claude.mjs');
export const ALICE: Viewer = { id: 'alice', admin: false };
export const BOB: Viewer = { id: 'bob', admin: false };
export const ADMIN: Viewer = { id: 'root', admin: true };

/** A file of this repository as text, by its path from the root. */
export const readRepoFile = (relative: string) => fs.readFileSync(path.join(REPO_ROOT, relative), 'utf8');

export function tempDir(prefix = 'ca-test-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  const dataDir = overrides.dataDir ?? tempDir();
  const work = path.join(dataDir, 'work');
  fs.mkdirSync(work, { recursive: true });
  return configFor({
    claudeBin: FAKE_CLAUDE,
    defaultCwd: work,
    allowedRoots: [work],
    killGraceMs: 1000,
    resultWatchdogMs: 1500,
    maxStartsPerMinute: 10_000,
    retentionMs: 0,
    ...overrides,
    dataDir,
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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

/** Ends every runner and claude group recorded under jobsDir, then removes the data dir. */
export function cleanupJobs(config: Config): void {
  let names: string[] = [];
  try {
    names = fs.readdirSync(config.jobsDir);
  } catch {
    // nothing was created
  }
  for (const name of names) {
    // A runner launched a moment ago may not have claimed its job yet (a busy box starts it late):
    // claim it first, as a cancel does, so it leaves quietly instead of running into the removal.
    if (isJobId(name)) claimForServer(jobPaths(config.jobsDir, name), 'cancel');
    try {
      const runner = JSON.parse(fs.readFileSync(path.join(config.jobsDir, name, 'runner.json'), 'utf8')) as { runnerPid?: number; claudePid?: number; claimedBy?: string };
      if (runner.claudePid) killQuietly(-runner.claudePid);
      if (runner.runnerPid && !runner.claimedBy) killQuietly(runner.runnerPid);
    } catch {
      // no runner.json: never started
    }
  }
  // A process just sent SIGKILL may still finish a write in progress (a busy box runs it late), so a
  // folder can gain a file while it is being removed (ENOTEMPTY), and so can a late runner failing
  // its claim (a moment's temp file): rmSync tries again, for up to ~5 s.
  fs.rmSync(config.dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Opens a service on a fresh temp dir and registers cleanup with the test context. */
export async function openService(t: { after: (fn: () => unknown) => void }, overrides: Partial<Config> = {}, serverEnv?: Record<string, string | undefined>, options: ServiceOptions = {}) {
  const config = testConfig(overrides);
  const service = await JobService.open(config, { ...options, ...(serverEnv ? { serverEnv } : {}) });
  t.after(async () => {
    await service.close();
    cleanupJobs(config);
  });
  return { config, service };
}

/** A port free on 127.0.0.1 right now, for a server that must know its port before it starts (its public URL). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

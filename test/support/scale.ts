// Processes for the shared-backend tests: `claude-async worker` processes on a real Redis (each a
// "host" with its own data dir and roots), a claude that counts its runs (a wrapper around the fake
// CLI that appends one line per run to a file, so "ran exactly once" can be counted), a job spec as
// a front builds it, and the pids of a worker's runners and claudes to kill a whole "host".
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { claudeArgs } from '../../src/jobs/claude-args.js';
import { newJobId } from '../../src/jobs/ids.js';
import { jobPaths } from '../../src/jobs/layout.js';
import type { JobSpecRecord, RunnerRecord } from '../../src/jobs/records.js';
import { FAKE_CLAUDE, REPO_ROOT, tempDir, waitFor } from './helpers.js';
import { TOKEN } from './faults.js';
import { RedisServer, type RedisServerOptions } from './redis.js';
import { serverEnv, spawnServer, type RealServer } from './server-process.js';

const BIN = path.join(REPO_ROOT, '.test-build', 'src', 'index.js');

export interface WorkerProcess {
  child: ChildProcess;
  workerId: string;
  dataDir: string;
  jobsDir: string;
  logs: () => string;
  /** Ends the worker process only (its runners keep running, as on a restart). */
  kill: (signal?: NodeJS.Signals) => Promise<void>;
}

/**
 * A claude that appends its cwd to `runsFile` each time it starts (one line per run), then is the
 * fake CLI. `lean`: instead of the fake CLI, a few shell builtins print what the fake prints for
 * "<first prompt line>\n#fake tick 2 <ms>" in stream-json (init, two ticks, "Echo: <first line>",
 * the result), without the ticks' pauses: for tests that run hundreds of jobs, where a Node process
 * per job would be most of each job's CPU. The runner, which is what such tests are about, is the same.
 */
export function countingClaude(dir: string, options: { lean?: boolean } = {}): { bin: string; runsFile: string; runs: () => number; runsIn: (cwd: string) => number } {
  const runsFile = path.join(dir, 'claude-runs.txt');
  const bin = path.join(dir, 'claude-counting.sh');
  fs.writeFileSync(bin, `#!/bin/sh\npwd >> '${runsFile}'\n${options.lean ? LEAN_CLAUDE : `exec '${process.execPath}' '${FAKE_CLAUDE}' "$@"\n`}`, { mode: 0o755 });
  const lines = () => (fs.existsSync(runsFile) ? fs.readFileSync(runsFile, 'utf8').split('\n').filter(Boolean) : []);
  return { bin, runsFile, runs: () => lines().length, runsIn: (cwd: string) => lines().filter((line) => line === cwd).length };
}

// Plain ASCII prompts and paths only (nothing is JSON-escaped); stdin is read to its end, as claude does.
const LEAN_CLAUDE = `IFS= read -r first
while IFS= read -r rest; do :; done
sid="lean-$$"
say() { printf '{"type":"assistant","message":{"type":"message","role":"assistant","content":[{"type":"text","text":"%s"}]},"session_id":"%s"}\\n' "$1" "$sid"; }
printf '{"type":"system","subtype":"init","cwd":"%s","session_id":"%s"}\\n' "$PWD" "$sid"
say 'tick 1'
say 'tick 2'
say "Echo: $first"
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"Echo: %s","session_id":"%s"}\\n' "$first" "$sid"
`;

export interface WorkerSetup {
  redisUrl: string;
  workerId: string;
  dataDir: string;
  roots: string[];
  claudeBin: string;
  slots?: number;
  ttl?: string;
  labels?: string[];
  extraEnv?: Record<string, string>;
}

export async function spawnWorker(setup: WorkerSetup): Promise<WorkerProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: setup.dataDir,
    CLAUDE_ASYNC_REDIS_URL: setup.redisUrl,
    CLAUDE_ASYNC_WORKER_ID: setup.workerId,
    CLAUDE_ASYNC_DATA_DIR: setup.dataDir,
    CLAUDE_ASYNC_ALLOWED_ROOTS: setup.roots.join(','),
    CLAUDE_ASYNC_DEFAULT_CWD: setup.roots[0]!,
    CLAUDE_ASYNC_CLAUDE_BIN: setup.claudeBin,
    CLAUDE_ASYNC_MAX_CONCURRENT: String(setup.slots ?? 4),
    CLAUDE_ASYNC_WORKER_TTL: setup.ttl ?? '3s',
    CLAUDE_ASYNC_KILL_GRACE: '1s',
    CLAUDE_ASYNC_LOG_LEVEL: 'info',
    ...(setup.labels ? { CLAUDE_ASYNC_WORKER_LABELS: setup.labels.join(',') } : {}),
    ...setup.extraEnv,
  };
  const child = spawn(process.execPath, [BIN, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`the worker exited during start-up:\n${out}`);
    return out.includes('"worker ready"');
  }, 60_000, `worker ${setup.workerId} to be ready`);
  return {
    child, workerId: setup.workerId, dataDir: setup.dataDir, jobsDir: path.join(setup.dataDir, 'jobs'), logs: () => out,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A spec as a front's JobService builds it (fake CLI flags, short grace periods). */
export function specFor(cwd: string, prompt: string, owner = 'token:alice'): JobSpecRecord {
  return {
    version: 1, jobId: newJobId(), owner, createdAt: Date.now(), cwd, permissionMode: 'acceptEdits',
    promptBytes: Buffer.byteLength(prompt), claudeBin: 'claude', args: claudeArgs({ permissionMode: 'acceptEdits' }),
    timeoutMs: 120_000, killGraceMs: 1000, resultWatchdogMs: 1500, maxLogBytes: 64 * 1024 ** 2, maxLineBytes: 16 * 1024 ** 2,
  };
}

/** The runner and claude process groups of every job folder under a worker's jobs dir. */
export function jobGroups(jobsDir: string): number[] {
  const groups: number[] = [];
  for (const name of fs.existsSync(jobsDir) ? fs.readdirSync(jobsDir) : []) {
    try {
      const runner = JSON.parse(fs.readFileSync(jobPaths(jobsDir, name).runner, 'utf8')) as RunnerRecord;
      groups.push(runner.runnerPid);
      if (runner.claudePid) groups.push(runner.claudePid);
    } catch {
      // not a job folder, or not started
    }
  }
  return groups;
}

/** SIGKILLs process groups (and the processes themselves), ignoring those already gone. */
export function killGroups(pids: number[]): void {
  for (const pid of pids) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/**
 * The pieces of a shared-backend deployment on this machine, ended and removed when the test ends:
 * a real redis-server, a temp dir, a counting claude, and the workers ("hosts") and fronts a test
 * starts with worker() and front() (fronts answer REST with TOKEN).
 */
export interface Cluster {
  redis: RedisServer;
  dir: string;
  claude: ReturnType<typeof countingClaude>;
  workers: WorkerProcess[];
  fronts: RealServer[];
  worker(id: string, roots: string[], extra?: Partial<WorkerSetup>): Promise<WorkerProcess>;
  /** A front whose default cwd is `defaultCwd` (a folder some worker holds); `extraEnv` adds settings. */
  front(name: string, defaultCwd: string, extraEnv?: Record<string, string>): Promise<RealServer>;
}

/** `redis`: how its redis-server runs (the outage tests want its append-only file); `leanClaude`: the shell counting claude (no Node per job). */
export async function startCluster(t: { after: (fn: () => unknown) => void }, prefix: string, options: { redis?: RedisServerOptions; leanClaude?: boolean } = {}): Promise<Cluster> {
  const redis = await RedisServer.start(options.redis);
  const dir = tempDir(prefix);
  const workers: WorkerProcess[] = [];
  const fronts: RealServer[] = [];
  t.after(async () => {
    for (const f of fronts) await f.stop();
    for (const w of workers) {
      await w.kill();
      killGroups(jobGroups(w.jobsDir));
    }
    await redis.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const claude = countingClaude(dir, { lean: options.leanClaude ?? false });
  return {
    redis, dir, claude, workers, fronts,
    async worker(id, roots, extra = {}) {
      const worker = await spawnWorker({ redisUrl: redis.url, workerId: id, dataDir: path.join(dir, id), roots, claudeBin: claude.bin, ...extra });
      workers.push(worker);
      return worker;
    },
    async front(name, defaultCwd, extraEnv = {}) {
      const front = await spawnServer({ env: serverEnv(path.join(dir, name), defaultCwd, { CLAUDE_ASYNC_REDIS_URL: redis.url, CLAUDE_ASYNC_TOKEN: TOKEN, ...extraEnv }) });
      fronts.push(front);
      return front;
    },
  };
}

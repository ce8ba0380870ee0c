// Part of `npm run bench`: the shared backend (CLAUDE_ASYNC_REDIS_URL) next to the file store. It
// starts its own redis-server (Debian's, AOF with `appendfsync always` as compose.scale.yaml runs it)
// in a temp dir on a free loopback port, then real fronts (`serve`) and workers (`worker`) with the
// fake CLI as claude, and measures:
// - claude_start / claude_check / claude_jobs latency through one front and one worker, the starts
//   queued behind sleeping jobs (as the file-store "slots full" figure) so no runner boots meanwhile;
// - jobs per second end to end (REST start → completed, from each job's endedAt) through one front
//   and one worker, then through two fronts and two workers, for the ratio.
// Without redis-server it says why and measures nothing. Every process it starts is ended by pid.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';

const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
const LATENCY_CALLS = 200;
const WARMUP_CALLS = 30;
const THROUGHPUT_JOBS = Number(process.env.BENCH_SCALE_JOBS ?? 40);
const SLOTS_PER_WORKER = 4;
/** Starts in flight at once during the throughput runs, spread over the fronts. */
const STARTS_IN_FLIGHT = 8;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Why the shared-backend section cannot run here, or null. */
export function redisServerMissing() {
  const probe = spawnSync(REDIS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? `${REDIS_SERVER_BIN} is not installed (apt-get install redis-server)` : null;
}

/** A redis-server for the bench: resolves once it answers PING; stop() SIGKILLs it by pid. */
async function startRedis(dir, port) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--logfile', ''];
  const child = spawn(REDIS_SERVER_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (d) => { log = (log + d.toString()).slice(-4000); });
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited during start-up:\n${log}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => {});
    const up = await probe.connect().then(() => probe.ping(), () => null).catch(() => null);
    probe.disconnect();
    if (up === 'PONG') return { url, pid: child.pid, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer PING within 15 s:\n${log}`);
    }
    await sleep(50);
  }
}

/**
 * @param tools the bench's own helpers: bootServer, stopServer, connect, call, timeCalls, freePort,
 *   endJobProcesses, rssMb, and the token every front accepts
 * @param root a temp dir of the bench (removed by it)
 */
export async function measureSharedBackend(tools, root) {
  const missing = redisServerMissing();
  if (missing) return { skipped: missing };
  const { bootServer, stopServer, connect, call, timeCalls, freePort, endJobProcesses, rssMb, token } = tools;
  const redisDir = path.join(root, 'redis');
  fs.mkdirSync(redisDir);
  const redis = await startRedis(redisDir, await freePort());
  const started = [];
  const boot = async (name, env, command) => {
    const dataDir = path.join(root, name);
    const server = await bootServer(dataDir, env.CLAUDE_ASYNC_DEFAULT_CWD, { CLAUDE_ASYNC_REDIS_URL: redis.url, ...env }, command);
    started.push({ server, jobsDir: path.join(dataDir, 'jobs') });
    return server;
  };
  const front = (name, cwd) => boot(name, { CLAUDE_ASYNC_DEFAULT_CWD: cwd, CLAUDE_ASYNC_FRONT_ID: name }, 'serve');
  const worker = (name, cwd, slots) => boot(name, {
    CLAUDE_ASYNC_DEFAULT_CWD: cwd, CLAUDE_ASYNC_ALLOWED_ROOTS: cwd, CLAUDE_ASYNC_WORKER_ID: name,
    CLAUDE_ASYNC_MAX_CONCURRENT: String(slots), CLAUDE_ASYNC_LOG_LEVEL: 'info',
  }, 'worker');
  // Each phase has its own root, so no start of one phase can be routed to the other's workers.
  const latencyRoot = path.join(root, 'scale-latency');
  const throughputRoot = path.join(root, 'scale-throughput');
  for (const dir of [latencyRoot, throughputRoot]) fs.mkdirSync(dir);
  try {
    // Booted side by side (each is a Node process that takes a few seconds of CPU to start).
    const [latencyFront, , throughputFront] = await Promise.all([
      front('front1', latencyRoot), worker('lat1', latencyRoot, 2), front('front2', throughputRoot), worker('tp1', throughputRoot, SLOTS_PER_WORKER),
    ]);
    const latency = await latencyThroughOneFront({ front: latencyFront, connect, call, timeCalls });
    const one = await jobsPerSecond([throughputFront], throughputRoot, THROUGHPUT_JOBS, token);
    const [secondFront] = await Promise.all([front('front3', throughputRoot), worker('tp2', throughputRoot, SLOTS_PER_WORKER)]);
    const two = await jobsPerSecond([throughputFront, secondFront], throughputRoot, THROUGHPUT_JOBS, token);
    return { ...latency, one, two, slotsPerWorker: SLOTS_PER_WORKER, redisRssMb: rssMb(redis.pid) };
  } finally {
    for (const { server } of started) await stopServer(server);
    for (const { jobsDir } of started) endJobProcesses(jobsDir);
    await redis.stop();
  }
}

/**
 * Start (queued behind two sleeping jobs that hold the worker's slots), check (a finished job, from
 * Redis) and list (a page of 50) through one front and one worker, as the file-store figures are taken.
 */
async function latencyThroughOneFront({ front, connect, call, timeCalls }) {
  const client = await connect(front.url);
  try {
    const done = await call(client, 'claude_start', { prompt: 'a finished job to check' });
    for (let i = 0; i < 2; i++) await call(client, 'claude_start', { prompt: '#fake sleep 120000\nholds a slot' });
    for (;;) {
      const { jobs } = await call(client, 'claude_jobs', { limit: 10 });
      if (jobs.find((j) => j.jobId === done.jobId)?.status === 'completed' && jobs.filter((j) => j.status === 'running').length === 2) break;
      await sleep(100);
    }
    await sleep(1000); // let the sleeping jobs' runner and claude finish booting before measuring
    await timeCalls(WARMUP_CALLS, (i) => call(client, 'claude_start', { prompt: `warm ${i}` }));
    const start = await timeCalls(LATENCY_CALLS, (i) => call(client, 'claude_start', { prompt: `queued ${i}` }));
    await timeCalls(WARMUP_CALLS, () => call(client, 'claude_check', { jobId: done.jobId }));
    const check = await timeCalls(LATENCY_CALLS, () => call(client, 'claude_check', { jobId: done.jobId }));
    await timeCalls(WARMUP_CALLS, () => call(client, 'claude_jobs', { limit: 50 }));
    const list = await timeCalls(LATENCY_CALLS, () => call(client, 'claude_jobs', { limit: 50 }));
    return { start, check, list, jobsInRedis: 3 + WARMUP_CALLS + LATENCY_CALLS };
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * `jobs` REST starts spread over `fronts` (STARTS_IN_FLIGHT at a time); jobs per second from the
 * first start sent to the last job's endedAt (read from the list, so polling adds no delay).
 */
async function jobsPerSecond(fronts, cwd, jobs, token) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const ids = new Set();
  const begin = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: STARTS_IN_FLIGHT }, async () => {
    while (next < jobs) {
      const i = next++;
      const res = await fetch(`${fronts[i % fronts.length].url}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify({ prompt: `throughput ${i}`, cwd }) });
      if (res.status !== 201) throw new Error(`a start answered ${res.status}: ${await res.text()}`);
      ids.add((await res.json()).jobId);
    }
  }));
  const acknowledgedSeconds = (Date.now() - begin) / 1000;
  const ended = new Map();
  const deadline = Date.now() + 300_000;
  while (ended.size < ids.size) {
    if (Date.now() > deadline) throw new Error(`${ids.size - ended.size} of ${ids.size} jobs did not end within 300 s`);
    await sleep(250);
    // Newest first: this run's jobs are on the first pages.
    for (let cursor, page = 0; page < 10; page++) {
      const res = await fetch(`${fronts[0].url}/v1/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`, { headers });
      const body = await res.json();
      for (const job of body.jobs) if (ids.has(job.jobId) && job.endedAt) ended.set(job.jobId, job);
      cursor = body.nextCursor;
      if (!cursor || body.jobs.every((job) => !ids.has(job.jobId))) break;
    }
  }
  const seconds = (Math.max(...[...ended.values()].map((j) => j.endedAt)) - begin) / 1000;
  const completed = [...ended.values()].filter((j) => j.status === 'completed').length;
  return { jobs: ids.size, fronts: fronts.length, seconds, jobsPerSecond: ids.size / seconds, acknowledgedSeconds, completed };
}

#!/usr/bin/env node
// `npm run bench`: starts the real server (node dist/index.js serve) on a free loopback port with the
// fake claude CLI, measures what users feel (start, check, list over MCP/HTTP with the SDK client),
// and prints a table, then one last line of JSON. Bounded loops, loopback only; every process it
// started is ended by pid and every temp dir removed, also on failure.
//
// Phases: (1) a server over 100 finished jobs → list latency; (2) a server over 10,000 finished jobs
// written straight to disk (it rebuilds its index from them) → list, check (1 KB vs 100 MB log),
// RSS, the naive folder-scan list for comparison, runner RSS, sequential starts, 200 concurrent
// starts from 20 sessions; (3) a server over 12,000 jobs past their retention → how soon it listens
// and how long the sweep behind it takes; (4) one 80 MB stream-json line → runner time and memory;
// (5) the shared backend on its own redis-server (bench-scale.mjs): start/check/list through a front
// and a worker beside the file store's figures, and jobs per second through 1 + 1 and 2 + 2 of them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { measureStreams } from './bench-streams.mjs';
import { measureSharedBackend } from './bench-scale.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(REPO, 'dist', 'index.js');
const FAKE = path.join(REPO, 'test', 'fixtures', 'fake-claude.mjs');
const TOKEN = `cas_bench_${randomUUID().replace(/-/g, '')}`;
const OWNER = 'token:default'; // the principal of CLAUDE_ASYNC_TOKEN

const N_BIG_STORE = 10_000;
const N_SMALL_STORE = 100;
const N_EXPIRED = 12_000;
const HUGE_LINE_BYTES = 80 * 1024 * 1024;
const LIST_CALLS = 200;
const CHECK_CALLS = 200;
const SEQ_STARTS = 200;
const CONC_STARTS = 200;
const CONC_SESSIONS = 20;
const SEED_SCAN_RUNS = 3;
const BIG_LOG_BYTES = 100 * 1024 * 1024;
const DRAIN_LIMIT_MS = 40_000;
const WARMUP_CALLS = 30;
const MAX_CONCURRENT = 16;
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
const LOAD_WORKERS = 16;

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const started = performance.now();
const children = new Set();
const tempDirs = [];

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (n, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A job id of the server's format (ULID layout, lowercase Crockford base32) for a given time. */
function jobIdAt(ms) {
  let time = '';
  for (let i = 0, t = ms; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[Math.floor(Math.random() * (i === 0 ? 16 : 32))];
  return time + rand;
}

function tempDir(prefix) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

const assistantLine = (text, sessionId) => JSON.stringify({
  type: 'assistant',
  message: { id: randomUUID(), type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [{ type: 'text', text }], stop_reason: null, usage: { input_tokens: 1, output_tokens: 1 } },
  parent_tool_use_id: null, session_id: sessionId,
});
const initLine = (sessionId, cwd) => JSON.stringify({ type: 'system', subtype: 'init', cwd, session_id: sessionId, tools: ['Bash', 'Edit', 'Read', 'Write'], mcp_servers: [], model: 'claude-sonnet-4-5', permissionMode: 'acceptEdits', uuid: randomUUID() });
const resultLine = (sessionId, text) => JSON.stringify({ type: 'result', subtype: 'success', is_error: false, duration_ms: 1200, duration_api_ms: 0, num_turns: 1, result: text, session_id: sessionId, total_cost_usd: 0.0123, usage: { input_tokens: 10, output_tokens: 20 }, permission_denials: [], uuid: randomUUID() });

/**
 * Writes a finished job folder the way the server and runner would have (records.ts shapes):
 * spec.json, prompt.txt, runner.json, out.jsonl, exit.json. `bigLogBytes` makes out.jsonl that big.
 */
function writeFinishedJob(jobsDir, jobId, createdAt, cwd, { bigLogBytes = 0 } = {}) {
  const dir = path.join(jobsDir, jobId);
  fs.mkdirSync(dir, { mode: 0o700 });
  const sessionId = randomUUID();
  const spec = {
    version: 1, jobId, owner: OWNER, createdAt, cwd, permissionMode: 'acceptEdits', promptBytes: 24, claudeBin: FAKE,
    args: ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits'],
    timeoutMs: 4 * 3_600_000, killGraceMs: 10_000, resultWatchdogMs: 60_000, maxLogBytes: 512 * 1024 ** 2,
    title: `bench job ${jobId.slice(-6)}`,
  };
  fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'prompt.txt'), 'summarize the repository\n', { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'runner.json'), JSON.stringify({ runnerPid: 999_999, runnerStartTime: null, startedAt: createdAt + 20, claudePid: 999_998, claudeStartTime: null }), { mode: 0o600 });
  const head = `${initLine(sessionId, cwd)}\n`;
  // ~1 KB of output: init, a few assistant lines, the result.
  let body = `${assistantLine('Looking at the repository layout and the README first.', sessionId)}\n`;
  body += `${assistantLine('The project is a TypeScript MCP server; src/jobs holds the engine.', sessionId)}\n`;
  const tailLine = `${resultLine(sessionId, 'The repository is an MCP server that runs Claude Code jobs.')}\n`;
  if (bigLogBytes > 0) {
    const line = `${assistantLine(`filler ${'x'.repeat(900)}`, sessionId)}\n`;
    const chunk = Buffer.from(line.repeat(Math.floor((1024 * 1024) / line.length)));
    const fd = fs.openSync(path.join(dir, 'out.jsonl'), 'w', 0o600);
    fs.writeSync(fd, head);
    let written = head.length;
    while (written + chunk.length < bigLogBytes) {
      fs.writeSync(fd, chunk);
      written += chunk.length;
    }
    fs.writeSync(fd, body + tailLine);
    fs.closeSync(fd);
  } else {
    fs.writeFileSync(path.join(dir, 'out.jsonl'), head + body + tailLine, { mode: 0o600 });
  }
  const exit = {
    reason: 'exited', exitCode: 0, signal: null, startedAt: createdAt + 20, endedAt: createdAt + 1500, logCapped: false, watchdog: false,
    result: { result: 'The repository is an MCP server that runs Claude Code jobs.', sessionId, isError: false, subtype: 'success', costUsd: 0.0123, numTurns: 1, durationMs: 1200 },
  };
  fs.writeFileSync(path.join(dir, 'exit.json'), JSON.stringify(exit), { mode: 0o600 });
  return dir;
}

/** n finished jobs, one a second up to a minute ago (inside any retention window). */
function seedStore(jobsDir, cwd, n, ageMs = 60_000) {
  fs.mkdirSync(jobsDir, { recursive: true, mode: 0o700 });
  const base = Date.now() - ageMs - n * 1000;
  const ids = [];
  for (let i = 0; i < n; i++) {
    const createdAt = base + i * 1000;
    const jobId = jobIdAt(createdAt);
    writeFinishedJob(jobsDir, jobId, createdAt, cwd);
    ids.push(jobId);
  }
  return ids;
}

/** The seed's way of listing: every folder's spec.json + exit.json on each call, sort, take 50. */
async function seedScanList(jobsDir, limit = 50) {
  const names = await fs.promises.readdir(jobsDir);
  const jobs = await Promise.all(names.map(async (jobId) => {
    const dir = path.join(jobsDir, jobId);
    let spec;
    try {
      spec = JSON.parse(await fs.promises.readFile(path.join(dir, 'spec.json'), 'utf8'));
    } catch {
      return null;
    }
    let status = 'running';
    try {
      const exit = JSON.parse(await fs.promises.readFile(path.join(dir, 'exit.json'), 'utf8'));
      status = exit.exitCode === 0 ? 'completed' : 'failed';
    } catch {
      // not ended
    }
    return { jobId, status, owner: spec.owner, cwd: spec.cwd, createdAt: spec.createdAt, title: spec.title };
  }));
  return jobs.filter((j) => j && j.owner === OWNER).sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
}

// ---------------------------------------------------------------- server and clients

/**
 * Starts `node dist/index.js <command>` and resolves once it answers: a server (`serve`) on /healthz,
 * a worker (`worker`, which has no HTTP) once it logs "worker ready".
 */
async function bootServer(dataDir, cwd, envOverrides = {}, command = 'serve') {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG ?? 'C.UTF-8',
    CLAUDE_ASYNC_DATA_DIR: dataDir,
    CLAUDE_ASYNC_CLAUDE_BIN: FAKE,
    CLAUDE_ASYNC_DEFAULT_CWD: cwd,
    CLAUDE_ASYNC_TOKEN: TOKEN,
    CLAUDE_ASYNC_HOST: '127.0.0.1',
    CLAUDE_ASYNC_PORT: String(port),
    CLAUDE_ASYNC_LOG_LEVEL: 'warn',
    CLAUDE_ASYNC_MAX_STARTS_PER_MINUTE: '1000000',
    CLAUDE_ASYNC_MAX_CONCURRENT: String(MAX_CONCURRENT),
    CLAUDE_ASYNC_RETENTION: '0',
    CLAUDE_ASYNC_MAX_SESSIONS: '1000',
    ...envOverrides,
  };
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let log = '';
  child.stdout.on('data', (d) => { log = (log + d.toString()).slice(-20_000); });
  child.stderr.on('data', (d) => { log = (log + d.toString()).slice(-20_000); });
  let url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited during start-up:\n${log}`);
    const logged = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)?.[1];
    if (logged) url = logged;
    if (command === 'worker') {
      if (log.includes('"worker ready"')) break;
    } else {
      try {
        const res = await fetch(`${url}/healthz`);
        if (res.ok) break;
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) throw new Error(`${command} was not ready within 60 s:\n${log}`);
    await sleep(25);
  }
  return { child, url, pid: child.pid, bootMs: performance.now() - t0, startedAt: t0, log: () => log };
}

async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  process.kill(server.pid, 'SIGKILL');
  await Promise.race([exited, sleep(5000)]);
}

async function connect(url) {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
  await client.connect(transport);
  return client;
}

async function call(client, name, args) {
  const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  if (res.isError) throw new Error(`${name} failed: ${JSON.stringify(res.content).slice(0, 300)}`);
  return res.structuredContent;
}

async function timeCalls(n, fn) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  return times;
}

/** Ends the runner and claude group of every job that was really started under jobsDir. */
function endJobProcesses(jobsDir) {
  let names = [];
  try {
    names = fs.readdirSync(jobsDir);
  } catch {
    return;
  }
  for (const name of names) {
    try {
      const runner = JSON.parse(fs.readFileSync(path.join(jobsDir, name, 'runner.json'), 'utf8'));
      if (runner.runnerPid === 999_999 || runner.claimedBy) continue; // a seeded record, or a server claim
      if (fs.existsSync(path.join(jobsDir, name, 'exit.json'))) continue;
      for (const pid of [runner.claudePid && -runner.claudePid, runner.runnerPid]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // never started
    }
  }
}

function countUnended(jobsDir, ids) {
  return ids.filter((id) => !fs.existsSync(path.join(jobsDir, id, 'exit.json'))).length;
}

// ---------------------------------------------------------------- the run

async function main() {
  const machine = {
    cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version,
    platform: `${os.platform()} ${os.release()}`, memGb: round(os.totalmem() / 1024 ** 3, 1),
    loadAvgAtStart: os.loadavg().map((n) => round(n, 1)),
  };
  console.log(`machine: ${machine.cpus} cpu(s) (${machine.cpuModel}), ${machine.memGb} GB, node ${machine.node}, ${machine.platform}, load ${machine.loadAvgAtStart.join(' ')}`);
  if (machine.loadAvgAtStart[0] > machine.cpus) console.log('warning: the machine is already busy; latencies will be inflated');
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);

  const root = tempDir('ca-bench-');
  const cwd = path.join(root, 'work');
  fs.mkdirSync(cwd);

  const inProcess = await inProcessStarts(path.join(root, 'inproc'), cwd);

  // Phase 1: 100 jobs.
  const smallData = path.join(root, 'small');
  seedStore(path.join(smallData, 'jobs'), cwd, N_SMALL_STORE);
  const small = await bootServer(smallData, cwd);
  const c1 = await connect(small.url);
  await timeCalls(WARMUP_CALLS, () => call(c1, 'claude_jobs', { limit: 50 })); // JIT warm-up
  const list100 = await timeCalls(LIST_CALLS, () => call(c1, 'claude_jobs', { limit: 50 }));
  await c1.close();
  await stopServer(small);

  // Phase 1b: a thousand idle event streams on four running jobs (each job is followed once).
  const streamServer = await bootServer(smallData, cwd, { CLAUDE_ASYNC_MAX_STREAMS_PER_PRINCIPAL: '5000' });
  const streams = await measureStreams({ url: streamServer.url, pid: streamServer.pid, token: TOKEN, streams: 1000, jobs: 4 });
  await stopServer(streamServer);
  endJobProcesses(path.join(smallData, 'jobs'));

  // Phase 2: 10,000 jobs written straight to disk, plus a 1 KB and a 100 MB log.
  const bigData = path.join(root, 'big');
  const jobsDir = path.join(bigData, 'jobs');
  let t = performance.now();
  seedStore(jobsDir, cwd, N_BIG_STORE - 2);
  const smallLogId = jobIdAt(Date.now() - 50_000);
  writeFinishedJob(jobsDir, smallLogId, Date.now() - 50_000, cwd);
  const bigLogId = jobIdAt(Date.now() - 40_000);
  writeFinishedJob(jobsDir, bigLogId, Date.now() - 40_000, cwd, { bigLogBytes: BIG_LOG_BYTES });
  const seedWriteMs = performance.now() - t;
  const smallLogBytes = fs.statSync(path.join(jobsDir, smallLogId, 'out.jsonl')).size;
  const bigLogBytes = fs.statSync(path.join(jobsDir, bigLogId, 'out.jsonl')).size;

  const big = await bootServer(bigData, cwd);
  const client = await connect(big.url);
  // Served from the folders while the index is still being rebuilt in the background.
  t = performance.now();
  const first = await call(client, 'claude_jobs', { limit: 50 });
  const firstListMs = performance.now() - t;
  if (first.jobs.length !== 50) throw new Error(`expected 50 jobs on the first page, got ${first.jobs.length}`);
  let health = await (await fetch(`${big.url}/healthz`)).json();
  while (health.jobs < N_BIG_STORE && performance.now() - big.startedAt < 120_000) {
    await sleep(25);
    health = await (await fetch(`${big.url}/healthz`)).json();
  }
  const indexCompleteMs = performance.now() - big.startedAt;

  await timeCalls(WARMUP_CALLS, () => call(client, 'claude_jobs', { limit: 50 }));
  const list10k = await timeCalls(LIST_CALLS, () => call(client, 'claude_jobs', { limit: 50 }));
  await timeCalls(WARMUP_CALLS, () => call(client, 'claude_check', { jobId: smallLogId }));
  const checkSmall = await timeCalls(CHECK_CALLS, () => call(client, 'claude_check', { jobId: smallLogId }));
  await call(client, 'claude_check', { jobId: bigLogId });
  const checkBig = await timeCalls(CHECK_CALLS, () => call(client, 'claude_check', { jobId: bigLogId }));
  const serverRssMb10k = rssMb(big.pid);

  // The naive list over the same 10k folders, in this process (page cache warm, as for the server).
  const seedPage = await seedScanList(jobsDir);
  if (seedPage[0]?.jobId !== first.jobs[0].jobId) throw new Error('the seed-style scan and claude_jobs disagree on the newest job');
  const seedScan = await timeCalls(SEED_SCAN_RUNS, () => seedScanList(jobsDir));

  // One runner's RSS while its job runs.
  const probe = await call(client, 'claude_start', { prompt: '#fake sleep 3000\nrss probe' });
  const runnerFile = path.join(jobsDir, probe.jobId, 'runner.json');
  let runnerRssMb = null;
  let claudeRssMb = null;
  const probeDeadline = Date.now() + 10_000;
  while (Date.now() < probeDeadline) {
    try {
      const runner = JSON.parse(fs.readFileSync(runnerFile, 'utf8'));
      if (runner.claudePid) {
        await sleep(700); // let both settle after start-up
        runnerRssMb = rssMb(runner.runnerPid);
        claudeRssMb = rssMb(runner.claudePid);
        break;
      }
    } catch {
      // not claimed yet
    }
    await sleep(50);
  }

  // The server's own cost of a start: every slot is held by a sleeping job, so the starts below
  // are queued and no runner or claude boots while they are measured (on 2 cores each boot costs
  // ~0.3 s of CPU, which the sequential figure after this one includes).
  const blockers = [];
  for (let i = 0; i < MAX_CONCURRENT - 1; i++) blockers.push((await call(client, 'claude_start', { prompt: '#fake sleep 60000\nblocker' })).jobId);
  await sleep(3000); // let the blockers boot before measuring
  const queuedIds = [];
  await timeCalls(WARMUP_CALLS, async (i) => queuedIds.push((await call(client, 'claude_start', { prompt: `warm ${i}` })).jobId));
  const startQueuedTimes = await timeCalls(SEQ_STARTS, async (i) => queuedIds.push((await call(client, 'claude_start', { prompt: `queued ${i}` })).jobId));
  for (const jobId of [...queuedIds, ...blockers]) await call(client, 'claude_cancel', { jobId });

  // Sequential starts with a prompt the fake finishes at once; queueing past MAX_CONCURRENT is accepted.
  const startedIds = [probe.jobId];
  const startTimes = await timeCalls(SEQ_STARTS, async (i) => {
    const s = await call(client, 'claude_start', { prompt: `bench start ${i}` });
    startedIds.push(s.jobId);
  });

  // 200 concurrent starts from 20 sessions.
  const sessions = await Promise.all(Array.from({ length: CONC_SESSIONS }, () => connect(big.url)));
  const concIds = [];
  const errorSamples = [];
  let errors = 0;
  t = performance.now();
  await Promise.all(sessions.flatMap((session, s) =>
    Array.from({ length: CONC_STARTS / CONC_SESSIONS }, async (_, k) => {
      try {
        const r = await call(session, 'claude_start', { prompt: `concurrent ${s}.${k}` });
        concIds.push(r.jobId);
      } catch (error) {
        errors++;
        if (errorSamples.length < 3) errorSamples.push(String(error.message ?? error).slice(0, 200));
      }
    })));
  const concSeconds = (performance.now() - t) / 1000;
  startedIds.push(...concIds);
  const listed = new Set();
  let cursor;
  for (let page = 0; page < 200; page++) {
    const r = await call(client, 'claude_jobs', { limit: 200, ...(cursor ? { cursor } : {}) });
    for (const j of r.jobs) listed.add(j.jobId);
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  const recorded = concIds.filter((id) => listed.has(id)).length;
  const serverRssMbAfterStarts = rssMb(big.pid);

  // Let the queue drain (bounded), so the figures below describe a finished run.
  t = performance.now();
  while (countUnended(jobsDir, startedIds) > 0 && performance.now() - t < DRAIN_LIMIT_MS) await sleep(250);
  const drainSeconds = (performance.now() - t) / 1000;
  const unfinished = countUnended(jobsDir, startedIds);
  const completed = startedIds.filter((id) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(jobsDir, id, 'exit.json'), 'utf8')).exitCode === 0;
    } catch {
      return false;
    }
  }).length;

  // Sustained load: claude_check and claude_jobs from many sessions at once while jobs write output.
  const writers = [];
  for (let i = 0; i < 4; i++) writers.push((await call(client, 'claude_start', { prompt: `#fake tick ${LOAD_SECONDS * 10 + 50} 100\nwriter ${i}` })).jobId);
  await sleep(1500);
  const rssBeforeLoad = rssMb(big.pid);
  const load = await sustainedLoad(sessions.slice(0, LOAD_WORKERS), [...writers, smallLogId], LOAD_SECONDS * 1000);
  const rssAfterLoad = rssMb(big.pid);
  for (const jobId of writers) await call(client, 'claude_cancel', { jobId });

  await Promise.all([client, ...sessions].map((c) => c.close().catch(() => {})));
  await stopServer(big);
  endJobProcesses(jobsDir);

  const expiredBoot = await bootOverExpired(path.join(root, 'expired'), cwd);
  const hugeLine = await hugeLineRun(path.join(root, 'huge'), cwd);
  const scale = await measureSharedBackend({ bootServer, stopServer, connect, call, timeCalls, freePort, endJobProcesses, rssMb, token: TOKEN }, root);

  const figures = {
    startP50: round(pct(startTimes, 50)),
    startP99: round(pct(startTimes, 99)),
    startQueuedP50: round(pct(startQueuedTimes, 50)),
    startQueuedP99: round(pct(startQueuedTimes, 99)),
    startInProcessP50: inProcess.p50,
    startInProcessP99: inProcess.p99,
    checkP50Small: round(pct(checkSmall, 50)),
    checkP50Big: round(pct(checkBig, 50)),
    listP50Jobs100: round(pct(list100, 50)),
    listP50Jobs10k: round(pct(list10k, 50)),
    concurrentStarts: { requested: CONC_STARTS, recorded, errors, seconds: round(concSeconds) },
    serverRssMb10k,
    runnerRssMb,
    seedScanListMs: round(pct(seedScan, 50)),
    streams,
    sharedBackend: scale.skipped ? { skipped: scale.skipped } : {
      startP50: round(pct(scale.start, 50)), startP95: round(pct(scale.start, 95)),
      checkP50: round(pct(scale.check, 50)), checkP95: round(pct(scale.check, 95)),
      listP50: round(pct(scale.list, 50)), listP95: round(pct(scale.list, 95)),
      jobsPerSecondOneFrontOneWorker: round(scale.one.jobsPerSecond), jobsPerSecondTwoFrontsTwoWorkers: round(scale.two.jobsPerSecond),
      ratio: round(scale.two.jobsPerSecond / scale.one.jobsPerSecond),
    },
    load: { seconds: LOAD_SECONDS, workers: LOAD_WORKERS, calls: load.calls, callsPerSecond: round(load.calls / LOAD_SECONDS, 0), errors: load.errors, p50: round(pct(load.times, 50)), p99: round(pct(load.times, 99)), rssMbBefore: rssBeforeLoad, rssMbAfter: rssAfterLoad },
  };
  const extra = {
    machine,
    bootMs10k: round(big.bootMs, 0),
    indexCompleteMs10k: round(indexCompleteMs, 0),
    firstListDuringRebuildMs: round(firstListMs, 1),
    expiredBoot,
    hugeLine,
    seedWriteMs: round(seedWriteMs, 0),
    jobsInIndex: health.jobs,
    checkP99Small: round(pct(checkSmall, 99)),
    checkP99Big: round(pct(checkBig, 99)),
    listP99Jobs10k: round(pct(list10k, 99)),
    claudeFakeRssMb: claudeRssMb,
    serverRssMbAfterStarts,
    startedJobs: startedIds.length,
    completedJobs: completed,
    unfinishedAfterDrain: unfinished,
    drainSeconds: round(drainSeconds, 1),
    maxConcurrent: MAX_CONCURRENT,
    smallLogBytes,
    bigLogBytes,
    errorSamples,
    loadAvgAtEnd: os.loadavg().map((n) => round(n, 1)),
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };

  const rows = [
    ['claude_start p50 / p99 (10k in store, sequential)', `${figures.startP50} / ${figures.startP99} ms`, `${SEQ_STARTS} calls, each boots a runner + claude`],
    ['claude_start p50 / p99 (slots full: no boots)', `${figures.startQueuedP50} / ${figures.startQueuedP99} ms`, `${SEQ_STARTS} calls over HTTP`],
    ['service.start p50 / p99 in-process', `${figures.startInProcessP50} / ${figures.startInProcessP99} ms`, `${SEQ_STARTS} calls, returns before the runner starts`],
    ['claude_check p50 (1 KB log)', `${figures.checkP50Small} ms`, `p99 ${extra.checkP99Small} ms`],
    ['claude_check p50 (100 MB log)', `${figures.checkP50Big} ms`, `p99 ${extra.checkP99Big} ms`],
    ['claude_jobs p50, page of 50, 100 jobs', `${figures.listP50Jobs100} ms`, `${LIST_CALLS} calls`],
    ['claude_jobs p50, page of 50, 10k jobs', `${figures.listP50Jobs10k} ms`, `p99 ${extra.listP99Jobs10k} ms`],
    ['naive list (read 10k spec+exit, sort, 50)', `${figures.seedScanListMs} ms`, `x${round(figures.seedScanListMs / figures.listP50Jobs10k, 0)} the index`],
    ['200 concurrent starts, 20 sessions', `${concSeconds.toFixed(2)} s`, `recorded ${recorded}, errors ${errors}`],
    ['server RSS with 10k jobs', `${serverRssMb10k} MB`, `${serverRssMbAfterStarts} MB after starts`],
    ['runner RSS (one running job)', `${runnerRssMb} MB`, `fake claude ${claudeRssMb} MB`],
    ['server boot with 10k folders (no db.json): listening', `${extra.bootMs10k} ms`, `first list (from the folders) ${extra.firstListDuringRebuildMs} ms`],
    ['  … index rebuilt in the background', `${extra.indexCompleteMs10k} ms`, `index holds ${health.jobs}`],
    [`server boot over ${N_EXPIRED} expired jobs: listening`, `${expiredBoot.listenMs} ms`, `a list during the sweep ${expiredBoot.listDuringSweepMs} ms`],
    ['  … all swept in the background', `${expiredBoot.sweptMs} ms`, `${expiredBoot.left} folders left`],
    [`one ${HUGE_LINE_BYTES / 1024 / 1024} MB stream-json line through the runner`, `${hugeLine.seconds} s`, `runner peak RSS ${hugeLine.runnerPeakRssMb} MB, stored as a ${hugeLine.markerBytes}-byte marker`],
    [`${LOAD_SECONDS} s of check + jobs, ${LOAD_WORKERS} sessions`, `${figures.load.callsPerSecond} calls/s`, `p50 ${figures.load.p50} ms, p99 ${figures.load.p99} ms, errors ${figures.load.errors}, RSS ${rssBeforeLoad} → ${rssAfterLoad} MB`],
    [`${streams.streams} idle event streams on ${streams.jobs} running jobs`, `${streams.cpuPerSecondWith} CPU s/s`, `${streams.cpuPerSecondBefore} without them; RSS ${streams.rssBeforeMb} → ${streams.rssWithMb} MB; GET /v1/jobs p50 ${streams.listP50BeforeMs} → ${streams.listP50WithMs} ms; ${streams.followedJobs} followers`],
    ['queue drain after starts', `${extra.drainSeconds} s`, `${completed}/${startedIds.length} completed, MAX_CONCURRENT ${MAX_CONCURRENT}`],
  ];
  printTable(rows);
  printSharedBackend(scale, { start: startQueuedTimes, check: checkSmall, list: list100 });
  console.log(`\nextra: ${JSON.stringify(extra)}`);
  console.log(JSON.stringify(figures));
}

function printTable(rows, header = ['measure', 'value', 'note']) {
  const widths = header.slice(0, -1).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i]) : c)).join('  ');
  console.log(`\n${line(header)}`);
  console.log(line([...widths.map((w) => '-'.repeat(w)), '-'.repeat(30)]));
  for (const row of rows) console.log(line(row));
}

/** The shared backend's figures beside the file store's of the same run (p50 / p95, ms). */
function printSharedBackend(scale, fileStore) {
  console.log('\nshared backend (Redis + BullMQ, one front + one worker) next to the file store (one server)');
  if (scale.skipped) {
    console.log(`  the shared-backend section is skipped: ${scale.skipped}`);
    return;
  }
  const both = (name) => [`${round(pct(fileStore[name], 50))} / ${round(pct(fileStore[name], 95))} ms`, `${round(pct(scale[name], 50))} / ${round(pct(scale[name], 95))} ms`, `x${round(pct(scale[name], 50) / pct(fileStore[name], 50), 1)}`];
  const { one, two } = scale;
  const perSecond = (run) => `${round(run.jobsPerSecond)} jobs/s`;
  const ran = (run) => `${run.completed}/${run.jobs} completed in ${round(run.seconds, 1)} s, all acknowledged after ${round(run.acknowledgedSeconds, 1)} s`;
  printTable([
    ['claude_start, slots full (no boots)', ...both('start')],
    ['claude_check, 1 KB log', ...both('check')],
    [`claude_jobs, page of 50 (file: 100 jobs; Redis: ${scale.jobsInRedis})`, ...both('list')],
  ], ['p50 / p95', 'file store', 'Redis', 'Redis p50 / file p50']);
  printTable([
    [`${one.jobs} jobs start → completed, 1 front + 1 worker`, perSecond(one), ran(one)],
    [`${two.jobs} jobs start → completed, 2 fronts + 2 workers`, perSecond(two), `${ran(two)}; x${round(two.jobsPerSecond / one.jobsPerSecond)} the 1 + 1 figure`],
    ['', '', `${scale.slotsPerWorker} slots per worker; redis-server RSS ${scale.redisRssMb} MB`],
  ]);
}

/** A server over N_EXPIRED jobs past their retention: how soon it listens, how long the sweep takes behind it. */
async function bootOverExpired(dataDir, cwd) {
  const jobsDir = path.join(dataDir, 'jobs');
  seedStore(jobsDir, cwd, N_EXPIRED, 30 * 86_400_000);
  const server = await bootServer(dataDir, cwd, { CLAUDE_ASYNC_RETENTION: '7d' });
  try {
    const client = await connect(server.url);
    const t = performance.now();
    await call(client, 'claude_jobs', { limit: 20 });
    const listDuringSweepMs = performance.now() - t;
    await client.close();
    const count = () => fs.readdirSync(jobsDir).filter((n) => /^[0-9a-z]{26}$/.test(n)).length;
    while (count() > 0 && performance.now() - server.startedAt < 300_000) await sleep(50);
    return { listenMs: round(server.bootMs, 0), sweptMs: round(performance.now() - server.startedAt, 0), left: count(), listDuringSweepMs: round(listDuringSweepMs, 1) };
  } finally {
    await stopServer(server);
  }
}

/** One HUGE_LINE_BYTES line from the fake: wall time through the runner and the runner's peak memory. */
async function hugeLineRun(dataDir, cwd) {
  const jobsDir = path.join(dataDir, 'jobs');
  const server = await bootServer(dataDir, cwd);
  const go = path.join(dataDir, 'go');
  try {
    const client = await connect(server.url);
    const { jobId } = await call(client, 'claude_start', { prompt: `#fake huge-line ${HUGE_LINE_BYTES}\n#fake wait-file ${go}\nhuge` });
    await client.close();
    const dir = path.join(jobsDir, jobId);
    let runner;
    while (!runner?.claudePid) {
      try {
        runner = JSON.parse(fs.readFileSync(path.join(dir, 'runner.json'), 'utf8'));
      } catch {
        // not claimed yet
      }
      await sleep(10);
    }
    const t = performance.now();
    const deadline = t + 600_000;
    let marker;
    while (!marker && performance.now() < deadline) {
      const text = fs.existsSync(path.join(dir, 'out.jsonl')) ? fs.readFileSync(path.join(dir, 'out.jsonl'), 'utf8') : '';
      marker = text.split('\n').find((l) => l.includes('"line_truncated"'));
      if (!marker) await sleep(20);
    }
    const seconds = round((performance.now() - t) / 1000, 2);
    const status = fs.readFileSync(`/proc/${runner.runnerPid}/status`, 'utf8');
    const runnerPeakRssMb = round(Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024, 1);
    fs.writeFileSync(go, '');
    return { seconds, runnerPeakRssMb, markerBytes: marker ? Buffer.byteLength(marker) : null };
  } finally {
    await stopServer(server);
    endJobProcesses(jobsDir);
  }
}

/** Each worker loops claude_check (with an offset, as a poller would) and claude_jobs until time is up. */
async function sustainedLoad(clients, jobIds, ms) {
  const times = [];
  let calls = 0;
  let errors = 0;
  const until = performance.now() + ms;
  await Promise.all(clients.map(async (c, w) => {
    for (let i = 0; performance.now() < until; i++) {
      const t = performance.now();
      try {
        if (i % 2 === 0) await call(c, 'claude_check', { jobId: jobIds[(w + i) % jobIds.length], tailBytes: 2000 });
        else await call(c, 'claude_jobs', { limit: 20 });
      } catch {
        errors++;
      }
      times.push(performance.now() - t);
      calls++;
    }
  }));
  return { times, calls, errors };
}

/** service.start in this process: the engine's own latency, with the runner spawned off its path. */
async function inProcessStarts(dataDir, cwd) {
  const { JobService } = await import(path.join(REPO, 'dist', 'jobs', 'service.js'));
  const { configFor } = await import(path.join(REPO, 'dist', 'config.js'));
  const config = configFor({ dataDir, claudeBin: FAKE, defaultCwd: cwd, allowedRoots: [cwd], maxConcurrent: 1, maxStartsPerMinute: 1_000_000, retentionMs: 0 });
  const service = await JobService.open(config);
  const me = { id: OWNER, admin: false };
  try {
    // One sleeping job holds the only slot: the measured starts queue and spawn nothing.
    const blocker = await service.start({ prompt: '#fake sleep 60000' }, me);
    await sleep(1500);
    const ids = [];
    await timeCalls(WARMUP_CALLS, async () => ids.push((await service.start({ prompt: 'warm' }, me)).jobId));
    const times = await timeCalls(SEQ_STARTS, async (i) => ids.push((await service.start({ prompt: `in-process ${i}` }, me)).jobId));
    for (const jobId of [blocker.jobId, ...ids]) await service.cancel(jobId, me);
    return { p50: round(pct(times, 50)), p99: round(pct(times, 99)) };
  } finally {
    await service.close();
    endJobProcesses(config.jobsDir);
  }
}

async function cleanup() {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const dir of tempDirs) {
    for (const sub of ['small', 'big', 'inproc', 'expired', 'huge']) endJobProcesses(path.join(dir, sub, 'jobs'));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`bench failed: ${error?.stack ?? error}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);

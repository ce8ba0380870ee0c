// Redis failing under a running shared backend (issue #17), with a real redis-server (append-only
// file, appendfsync always), real fronts and real workers: frozen (SIGSTOP) or killed (SIGKILL, then
// restarted from its AOF on the same dir and port) while jobs run and end. Fronts answer 503 +
// Retry-After meanwhile; afterwards every acknowledged job is there, each end is recorded (status,
// exit code, whole output) and nothing ran twice. A worker cut off from Redis past its TTL gets its
// still-running jobs back from `orphaned`. And the jobs that waited in a vanished worker's queue run
// on another worker that holds their cwd, once each, in order, or fail naming the cwd.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { newJobId } from '../src/jobs/ids.js';
import { keys } from '../src/scale/keys.js';
import { CLAIM } from '../src/scale/worker.js';
import { waitFor } from './support/helpers.js';
import { rawSession, type RawSession } from './support/raw-mcp.js';
import { RedisServer, redisMissing } from './support/redis.js';
import { startCluster, jobGroups, killGroups, type Cluster, type WorkerProcess } from './support/scale.js';
import type { RealServer } from './support/server-process.js';
import { TOKEN } from './support/faults.js';
import { tcpGate } from './support/tcp-gate.js';

const missing = redisMissing();
const AOF = { appendonly: true, appendfsync: 'always' } as const;

/** A folder under a root for one job (the counting claude records each run's cwd). */
function jobDir(root: string, name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function reposRoot(cluster: Cluster, name = 'repos'): string {
  const root = path.join(cluster.dir, name);
  fs.mkdirSync(root, { recursive: true });
  return root;
}

/** A REST start that must be acknowledged (201). */
async function start(front: RealServer, cwd: string, prompt: string): Promise<string> {
  const answer = await front.rest('/v1/jobs', { body: { prompt, cwd } });
  assert.equal(answer.status, 201, `the start was acknowledged: ${answer.text}`);
  return String(answer.body.jobId);
}

/** The job as a front answers it; undefined while the front cannot answer. */
async function view(front: RealServer, jobId: string): Promise<Record<string, any> | undefined> {
  const answer = await front.rest(`/v1/jobs/${jobId}`).catch(() => null);
  return answer?.status === 200 ? answer.body : undefined;
}

/** A job whose prompt waits for `gate`, then prints two ticks and its result. */
const gatedPrompt = (name: string, gate: string) => `${name}\n#fake wait-file ${gate}\n#fake tick 2 20`;

/** The job's whole log through a front: init, the echoed prompt and 2 ticks, the result. */
async function assertWholeOutput(front: RealServer, jobId: string): Promise<void> {
  const page = await front.call(`/v1/jobs/${jobId}/output?format=jsonl&limit=1000000`);
  assert.equal(page.status, 200);
  const lines = (await page.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string });
  assert.deepEqual([lines[0]?.type, lines.filter((l) => l.type === 'assistant').length, lines[lines.length - 1]?.type], ['system', 3, 'result'], `job ${jobId}'s output is whole`);
}

/** Every job reads completed with exit code 0 and its whole output, from every front. */
async function assertCompleted(fronts: RealServer[], jobIds: string[]): Promise<void> {
  for (const front of fronts) {
    for (const jobId of jobIds) {
      const job = await view(front, jobId);
      assert.equal(job?.status, 'completed', `job ${jobId} through ${front.url}: ${JSON.stringify(job)}`);
      assert.equal(job?.exitCode, 0);
      await assertWholeOutput(front, jobId);
    }
  }
}

/** Waits until every job reads `status` through `front` (the worker logs in the failure message). */
async function waitStatus(front: RealServer, jobIds: string[], status: string, workers: WorkerProcess[], timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => {
    for (const jobId of jobIds) if ((await view(front, jobId))?.status !== status) return false;
    return true;
  }, timeoutMs, `jobs ${jobIds.join(', ')} to read ${status}`).catch(async (error: unknown) => {
    const seen = await Promise.all(jobIds.map(async (id) => `${id}: ${(await view(front, id))?.status}`));
    throw new Error(`${(error as Error).message} (${seen.join(', ')})\n${workers.map((w) => w.logs().slice(-4000)).join('\n---\n')}`);
  });
}

/** The jobs' runners have written their exit records on the worker's disk: they ended. */
const endedOnDisk = (worker: WorkerProcess, jobIds: string[]) => jobIds.every((id) => fs.existsSync(path.join(worker.jobsDir, id, 'exit.json')));

/** While Redis does not answer: REST start and check, MCP tool calls and initialize get 503 + Retry-After. */
async function assertUnavailable(front: RealServer, session: RawSession, cwd: string, jobId: string, label: string): Promise<void> {
  const startAnswer = await front.rest('/v1/jobs', { body: { prompt: 'never', cwd }, headers: { 'Idempotency-Key': `during-${label}` } });
  assert.equal(startAnswer.status, 503, `${label}: REST start`);
  assert.equal(startAnswer.headers.get('retry-after'), '5');
  const check = await front.rest(`/v1/jobs/${jobId}`);
  assert.equal(check.status, 503, `${label}: REST check`);
  assert.equal(check.headers.get('retry-after'), '5');
  const tool = await session.post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'claude_check', arguments: { jobId } } });
  const toolText = await tool.text();
  assert.equal(tool.status, 503, `${label}: MCP claude_check: ${toolText}`);
  assert.equal(tool.headers.get('retry-after'), '5');
  assert.match(toolText, /Redis\) did not answer/);
  const init = await fetch(`${front.url}/mcp`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  await init.text();
  assert.equal(init.status, 503, `${label}: MCP initialize`);
  assert.equal(init.headers.get('retry-after'), '5');
}

/**
 * Redis with its AOF, one worker with `slots` and a TTL longer than any outage here (these cases are
 * about the ends; the TTL has its own case), two fronts, and a gate file the jobs wait for.
 */
async function twoFrontsOneWorker(t: { after: (fn: () => unknown) => void }, prefix: string, slots: number) {
  const cluster = await startCluster(t, prefix, { redis: AOF });
  const root = reposRoot(cluster);
  const worker = await cluster.worker('host-a', [root], { slots, ttl: '30s' });
  const [front1, front2] = [await cluster.front('front-1', root), await cluster.front('front-2', root)];
  return { cluster, root, gate: path.join(cluster.dir, 'gate'), worker, front1, front2 };
}

describe('shared backend: Redis outages', { skip: missing ?? false, concurrency: false }, () => {
  it('Redis frozen (SIGSTOP) while jobs run and end: 503s meanwhile; after SIGCONT the jobs read completed, whole, from any front', async (t) => {
    const { cluster, root, gate, worker, front1, front2 } = await twoFrontsOneWorker(t, 'ca-outage-stop-', 4);
    const jobs = [await start(front1, jobDir(root, 'one'), gatedPrompt('one', gate)), await start(front2, jobDir(root, 'two'), gatedPrompt('two', gate))];
    await waitStatus(front1, jobs, 'running', cluster.workers);
    const session = await rawSession(front1.url, { token: TOKEN });

    cluster.redis.pause();
    try {
      fs.writeFileSync(gate, '');
      await waitFor(() => endedOnDisk(worker, jobs), 30_000, 'both jobs to end on the worker while Redis is frozen');
      await assertUnavailable(front1, session, root, jobs[0]!, 'frozen');
    } finally {
      cluster.redis.resume();
    }
    await waitStatus(front2, jobs, 'completed', cluster.workers);
    await assertCompleted(cluster.fronts, jobs);
    assert.equal(cluster.claude.runs(), 2, 'each job ran once');
    assert.equal((await front1.rest('/v1/jobs?limit=50')).body.jobs.length, 2, 'the refused start made no job');
  });

  it('Redis killed (SIGKILL) while jobs run and end, restarted from its AOF: every acknowledged job is there, its end recorded, none ran twice', async (t) => {
    const { cluster, root, gate, worker, front1, front2 } = await twoFrontsOneWorker(t, 'ca-outage-kill-', 3);
    const running: string[] = [];
    for (const name of ['one', 'two', 'three']) running.push(await start(front1, jobDir(root, name), gatedPrompt(name, gate)));
    await waitStatus(front1, running, 'running', cluster.workers);
    // Acknowledged while every slot is busy: it waits in the worker's queue through the outage.
    const queued = await start(front2, jobDir(root, 'four'), gatedPrompt('four', gate));
    assert.equal((await view(front2, queued))?.status, 'queued');
    const session = await rawSession(front2.url, { token: TOKEN });

    await cluster.redis.kill();
    fs.writeFileSync(gate, '');
    await waitFor(() => endedOnDisk(worker, running), 30_000, 'the running jobs to end on the worker while Redis is dead');
    await assertUnavailable(front2, session, root, running[0]!, 'killed');
    await cluster.redis.restart();

    const all = [...running, queued];
    await waitStatus(front1, all, 'completed', cluster.workers);
    await assertCompleted(cluster.fronts, all);
    for (const name of ['one', 'two', 'three', 'four']) assert.equal(cluster.claude.runsIn(path.join(root, name)), 1, `job ${name} ran exactly once`);
    assert.equal(cluster.claude.runs(), 4);
    const listed = (await front2.rest('/v1/jobs?limit=50')).body.jobs as Array<{ jobId: string }>;
    assert.deepEqual(new Set(listed.map((j) => j.jobId)), new Set(all), 'the acknowledged jobs, and no other');
  });

  it('Redis killed and restarted while a worker stays cut off past its TTL: its running job reads orphaned, then running again once the worker is back, then completed', async (t) => {
    const cluster = await startCluster(t, 'ca-outage-ttl-', { redis: AOF });
    const root = reposRoot(cluster);
    const [keepGate, endGate] = [path.join(cluster.dir, 'keep'), path.join(cluster.dir, 'end')];
    // The worker reaches Redis through a relay that the test cuts: it comes back later than the fronts.
    const link = await tcpGate(cluster.redis.port);
    t.after(() => link.close());
    const worker = await cluster.worker('host-a', [root], { slots: 4, ttl: '2s', redisUrl: `redis://127.0.0.1:${link.port}` });
    const front = await cluster.front('front-1', root);
    const keeps = await start(front, jobDir(root, 'keeps'), gatedPrompt('keeps', keepGate));
    const ends = await start(front, jobDir(root, 'ends'), gatedPrompt('ends', endGate));
    await waitStatus(front, [keeps, ends], 'running', cluster.workers);

    link.cut();
    await cluster.redis.kill();
    fs.writeFileSync(endGate, '');
    await waitFor(() => endedOnDisk(worker, [ends]), 30_000, 'one job to end on the worker while Redis is dead');
    await cluster.redis.restart();
    // The fronts are back; the worker is not, and its heartbeat expires: a reaper marks its jobs orphaned.
    await waitStatus(front, [keeps, ends], 'orphaned', cluster.workers, 30_000);
    assert.match(String((await view(front, keeps))?.statusReason), /host-a/);

    link.heal();
    await waitStatus(front, [keeps], 'running', cluster.workers, 30_000);
    await waitStatus(front, [ends], 'completed', cluster.workers, 30_000);
    assert.match(worker.logs(), /this worker's again/);
    fs.writeFileSync(keepGate, '');
    await waitStatus(front, [keeps], 'completed', cluster.workers);
    await assertCompleted([front], [keeps, ends]);
    assert.equal(cluster.claude.runs(), 2, 'each job ran once');
  });
});

describe('shared backend: a claim across a cut connection', { skip: missing ?? false }, () => {
  it('a claim Redis ran but whose answer was lost is still the take\'s own when the client sends it again; another take is refused', async (t) => {
    const redis = await RedisServer.start();
    t.after(() => redis.dispose());
    const link = await tcpGate(redis.port);
    t.after(() => link.close());
    // As the worker's connection: commands wait through a reconnect and unanswered ones are sent again.
    const worker = new Redis(`redis://127.0.0.1:${link.port}`, { maxRetriesPerRequest: null });
    worker.on('error', () => {}); // the cut, on purpose
    const direct = new Redis(redis.url);
    t.after(() => {
      worker.disconnect();
      direct.disconnect();
    });
    const jobId = newJobId();
    await direct.hset(keys.job(jobId), 'entry', '{}');
    await worker.ping();
    const claim = (token: string) => worker.eval(CLAIM, 2, keys.job(jobId), keys.workerJobs('host-a'), 'worker:host-a', jobId, token);

    link.loseAnswers();
    const first = claim('take-1');
    await waitFor(async () => (await direct.hget(keys.job(jobId), 'claimedBy')) === 'worker:host-a', 10_000, 'Redis to run the claim');
    link.cut();
    link.heal();
    assert.equal(await first, 1, 'the claim sent again after the reconnect is the same take\'s');
    assert.equal(await claim('take-2'), 0, 'a second take of the job is refused');
    assert.deepEqual(await direct.smembers(keys.workerJobs('host-a')), [jobId]);
  });
});

describe('shared backend: a vanished worker\'s queued jobs', { skip: missing ?? false, concurrency: false }, () => {
  it('run on another live worker that holds their cwd, in order, each exactly once', async (t) => {
    const cluster = await startCluster(t, 'ca-reroute-');
    const root = reposRoot(cluster);
    const gate = path.join(cluster.dir, 'gate');
    const a = await cluster.worker('host-a', [root], { slots: 1, ttl: '2s' });
    const front = await cluster.front('front-1', root);
    // Only host A is up: one job takes its slot, three wait in its queue.
    const busy = await start(front, jobDir(root, 'busy'), gatedPrompt('busy', gate));
    await waitStatus(front, [busy], 'running', cluster.workers);
    const names = ['q1', 'q2', 'q3'];
    const queued: string[] = [];
    for (const name of names) queued.push(await start(front, jobDir(root, name), `${name}\n#fake tick 2 20`));
    assert.equal((await view(front, queued[0]!))?.status, 'queued');
    const b = await cluster.worker('host-b', [root], { slots: 1, ttl: '2s' });

    // The whole host A goes: its worker and its runner.
    await a.kill('SIGKILL');
    killGroups(jobGroups(a.jobsDir));
    await waitStatus(front, queued, 'completed', cluster.workers);
    for (const jobId of queued) {
      assert.ok(fs.existsSync(path.join(b.jobsDir, jobId, 'exit.json')), `job ${jobId} ran on host B`);
      await assertWholeOutput(front, jobId);
    }
    for (const name of names) assert.equal(cluster.claude.runsIn(path.join(root, name)), 1, `job ${name} ran exactly once`);
    const order = fs.readFileSync(cluster.claude.runsFile, 'utf8').split('\n').filter(Boolean).map((cwd) => path.basename(cwd));
    assert.deepEqual(order, ['busy', ...names], 'host B ran them in the order they were queued');
    await waitStatus(front, [busy], 'orphaned', cluster.workers);
    assert.equal(cluster.claude.runs(), 4, 'no other run happened');
  });

  it('fail with a reason naming their cwd when no live worker holds it, and never run', async (t) => {
    const cluster = await startCluster(t, 'ca-reroute-none-');
    const rootA = reposRoot(cluster, 'repos-a');
    const rootB = reposRoot(cluster, 'repos-b');
    const gate = path.join(cluster.dir, 'gate');
    const a = await cluster.worker('host-a', [rootA], { slots: 1, ttl: '2s' });
    await cluster.worker('host-b', [rootB], { slots: 1, ttl: '2s' });
    const front = await cluster.front('front-1', rootA);
    const busy = await start(front, jobDir(rootA, 'busy'), gatedPrompt('busy', gate));
    await waitStatus(front, [busy], 'running', cluster.workers);
    const strandedCwd = jobDir(rootA, 'stranded');
    const stranded = await start(front, strandedCwd, 'stranded\n#fake tick 2 20');
    assert.equal((await view(front, stranded))?.status, 'queued');

    await a.kill('SIGKILL');
    killGroups(jobGroups(a.jobsDir));
    await waitStatus(front, [stranded], 'failed', cluster.workers);
    const job = await view(front, stranded);
    assert.ok(String(job?.statusReason).includes(strandedCwd), `the reason names the cwd: ${job?.statusReason}`);
    assert.match(String(job?.statusReason), /no live worker holds/);
    assert.equal(cluster.claude.runsIn(strandedCwd), 0, 'it never ran');
    // Host A back (same id, same disk): the failed job stays failed and does not run.
    const back = await cluster.worker('host-a', [rootA], { slots: 1, ttl: '2s' });
    const after = await start(front, jobDir(rootA, 'after'), 'after\n#fake tick 2 20');
    await waitStatus(front, [after], 'completed', cluster.workers);
    assert.ok(fs.existsSync(path.join(back.jobsDir, after)));
    assert.equal(cluster.claude.runsIn(strandedCwd), 0, 'it still never ran');
    assert.equal((await view(front, stranded))?.status, 'failed');
  });
});

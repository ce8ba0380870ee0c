// The shared backend's workers against a real redis-server: jobs go to the worker whose roots hold
// their cwd; a cwd no live worker holds is refused at once; a restarted worker leaves its jobs
// running, adopts them and they end `completed`, never run twice; a whole host killed (worker and
// runners) turns its jobs `orphaned` within the TTL and touches no other job. The front here is the
// RedisBackend in the test process; the workers and runners are real processes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { Queue } from 'bullmq';
import { configFor } from '../src/config.js';
import { InvalidInput } from '../src/jobs/errors.js';
import type { LogLine } from '../src/jobs/follower.js';
import { RedisBackend } from '../src/scale/backend.js';
import { openFrontRedis } from '../src/scale/front-redis.js';
import { keys } from '../src/scale/keys.js';
import { CLAIM } from '../src/scale/worker.js';
import { jobPaths } from '../src/jobs/layout.js';
import { isAlive, tempDir, waitFor } from './support/helpers.js';
import { RedisServer, frontClient, redisMissing } from './support/redis.js';
import { countingClaude, jobGroups, killGroups, specFor, spawnWorker, type WorkerProcess } from './support/scale.js';

const missing = redisMissing();

interface Rig {
  redis: RedisServer;
  front: RedisBackend;
  dir: string;
  claude: ReturnType<typeof countingClaude>;
  root: (name: string) => string;
  worker: (id: string, roots: string[], extra?: { slots?: number; labels?: string[]; ttl?: string }) => Promise<WorkerProcess>;
  status: (jobId: string) => Promise<string | undefined>;
}

async function rig(t: TestContext): Promise<Rig> {
  const redis = await RedisServer.start();
  const dir = tempDir('ca-scale-');
  const claude = countingClaude(dir);
  const client = openFrontRedis(redis.url);
  const front = new RedisBackend(client, configFor({ dataDir: path.join(dir, 'front') }), pino({ level: 'silent' }));
  const workers: WorkerProcess[] = [];
  t.after(async () => {
    await front.close();
    client.disconnect();
    for (const w of workers) {
      await w.kill();
      killGroups(jobGroups(w.jobsDir));
    }
    await redis.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(async () => (await client.ping().catch(() => null)) === 'PONG', 15_000, 'the front to reach redis');
  return {
    redis, front, dir, claude,
    root: (name) => {
      const root = path.join(dir, name);
      fs.mkdirSync(root, { recursive: true });
      return root;
    },
    worker: async (id, roots, extra = {}) => {
      const w = await spawnWorker({ redisUrl: redis.url, workerId: id, dataDir: path.join(dir, `host-${id}`), roots, claudeBin: claude.bin, ...extra });
      workers.push(w);
      return w;
    },
    status: async (jobId) => (await front.read(jobId))?.entry.status,
  };
}

async function start(front: RedisBackend, cwd: string, prompt: string): Promise<string> {
  const spec = specFor(await front.resolveCwd(cwd), prompt);
  await front.create(spec, prompt);
  return spec.jobId;
}

describe('shared backend: workers', { skip: missing ?? false, concurrency: false }, () => {
  it('routes each job to the worker whose roots hold its cwd and refuses a cwd no live worker holds, at once', async (t) => {
    const r = await rig(t);
    const rootA = r.root('repos-a');
    const rootB = r.root('repos-b');
    fs.mkdirSync(path.join(rootB, 'proj'));
    const a = await r.worker('host-a', [rootA]);
    const b = await r.worker('host-b', [rootB]);

    const onA = await start(r.front, rootA, 'hello from a\n#fake cwd');
    const onB = await start(r.front, path.join(rootB, 'proj'), 'hello from b\n#fake cwd');
    await waitFor(async () => (await r.status(onA)) === 'completed' && (await r.status(onB)) === 'completed', 30_000, 'both jobs to complete');
    assert.ok(fs.existsSync(path.join(a.jobsDir, onA, 'exit.json')), 'job A ran in host A\'s job folder');
    assert.ok(!fs.existsSync(path.join(b.jobsDir, onA)), 'and not on host B');
    assert.ok(fs.existsSync(path.join(b.jobsDir, onB, 'exit.json')));
    assert.ok(!fs.existsSync(path.join(a.jobsDir, onB)));
    const tailB = await r.front.tail(onB, { tailBytes: 4000 });
    assert.match(tailB.tail, /hello from b/);
    assert.ok(tailB.tail.includes(path.join(rootB, 'proj')), `the job ran in its cwd on host B: ${tailB.tail}`);
    assert.equal((await r.front.read(onA))?.entry.status, 'completed');
    assert.equal(r.claude.runs(), 2);

    const elsewhere = r.root('nobody-holds-this');
    const startedAt = Date.now();
    await assert.rejects(r.front.resolveCwd(elsewhere), (error: unknown) => {
      assert.ok(error instanceof InvalidInput);
      assert.equal(error.field, 'cwd');
      assert.ok(error.message.includes(elsewhere), error.message);
      assert.match(error.message, /no live worker/);
      return true;
    });
    assert.ok(Date.now() - startedAt < 5000, 'refused at once, not queued');
    const list = await r.front.list(10, undefined, () => true);
    assert.deepEqual(new Set(list.entries.map((e) => e.jobId)), new Set([onA, onB]));
  });

  it('follows a running job\'s lines live from Redis and ends with its status', async (t) => {
    const r = await rig(t);
    const root = r.root('repo');
    await r.worker('host-a', [root]);
    const jobId = await start(r.front, root, '#fake tick 5 100');
    const lines: LogLine[] = [];
    const ended = await new Promise<{ status: string; end: number }>((resolve, reject) => {
      r.front.follow(jobId, 0, {
        status: async () => (await r.front.read(jobId))!.entry,
        deliver: (batch) => void lines.push(...batch),
        ended: (job, end) => resolve({ status: job.status, end }),
        failed: reject,
      });
    });
    assert.equal(ended.status, 'completed');
    assert.ok(lines.some((l) => l.text.includes('"type":"result"')), 'the result line came through');
    assert.equal(lines.filter((l) => l.text.includes('"type":"assistant"')).length >= 5, true);
    const state = await r.front.read(jobId);
    assert.equal(ended.end, state!.outputBytes, 'the follow ends at the end of the log');
    const raw = await r.front.readOutput(jobId, 0, state!.outputBytes);
    assert.equal(raw.toString('utf8').split('\n').filter(Boolean).length, lines.length, 'the raw log (from the worker\'s disk) has the same lines');
  });

  it('a worker restarted while its jobs run leaves them running; they complete, read completed and never run twice', async (t) => {
    const r = await rig(t);
    const root = r.root('repo');
    const gate = path.join(r.dir, 'gate');
    let a = await r.worker('host-a', [root], { slots: 3 });
    const jobs = [await start(r.front, root, `#fake wait-file ${gate}`), await start(r.front, root, `#fake wait-file ${gate}`)];
    await waitFor(async () => (await Promise.all(jobs.map(r.status))).every((s) => s === 'running'), 30_000, 'both jobs to run');
    const runnerPids = await waitFor(() => { const g = jobGroups(a.jobsDir); return g.length === 4 && g; }, 15_000, 'both claudes to start');

    await a.kill('SIGKILL');
    // At most once, even if the queue hands the same job out again (a lost lock, a stalled job).
    const queue = new Queue(keys.queueName('host-a'), { connection: { host: '127.0.0.1', port: r.redis.port }, prefix: keys.bullPrefix });
    t.after(() => queue.close());
    await queue.add('job', { jobId: jobs[0] }, { jobId: `${jobs[0]}-again`, attempts: 1 });
    a = await r.worker('host-a', [root], { slots: 3 });
    assert.deepEqual(jobGroups(a.jobsDir), runnerPids, 'the runners are the same ones');
    assert.ok(runnerPids.every((pid) => isAlive(pid)), 'and kept running while the worker was down');
    await waitFor(async () => (await queue.getJobCounts('wait')).wait === 0, 15_000, 'the worker to take the repeated queue entry');
    fs.writeFileSync(gate, '');
    await waitFor(async () => (await Promise.all(jobs.map(r.status))).every((s) => s === 'completed'), 30_000, 'both jobs to complete');
    assert.equal(r.claude.runs(), 2, 'each job ran exactly once');
    assert.match(a.logs(), /already claimed/);
    for (const jobId of jobs) {
      const state = await r.front.read(jobId);
      assert.equal(state!.entry.status, 'completed');
      assert.ok(state!.exit, 'its exit record was published');
      assert.match((await r.front.tail(jobId, { tailBytes: 2000 })).tail, /\[result\]/);
    }
  });

  it('a worker killed while writing a job\'s folder queues the job again when it restarts: it runs once and completes', async (t) => {
    const r = await rig(t);
    const root = r.root('repo');
    // A long TTL: the killed worker's heartbeat outlives it, so the job is routed to it and waits in its queue.
    const a = await r.worker('host-a', [root], { ttl: '60s' });
    await a.kill('SIGKILL');
    const jobId = await start(r.front, root, 'hello');
    // What the worker had done when it died: claimed the job and begun its folder (the prompt, no spec.json yet).
    const client = await frontClient(r.redis.url);
    t.after(() => client.disconnect());
    assert.equal(await client.eval(CLAIM, 2, keys.job(jobId), keys.workerJobs('host-a'), 'worker:host-a', jobId, 'the-dead-take'), 1);
    const paths = jobPaths(a.jobsDir, jobId);
    fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(paths.prompt, 'hello');

    await r.worker('host-a', [root], { ttl: '60s' });
    await waitFor(async () => (await r.status(jobId)) === 'completed', 30_000, 'the half-written job to run after all');
    assert.equal(r.claude.runs(), 1, 'it ran once');
    assert.ok(fs.existsSync(paths.spec), 'its folder was written anew');
    assert.match((await r.front.tail(jobId, { tailBytes: 2000 })).tail, /\[result\]/);
  });

  it('a whole host killed (worker and runners) turns its running jobs orphaned within the TTL; other jobs are untouched', async (t) => {
    const r = await rig(t);
    const rootA = r.root('repo-a');
    const rootB = r.root('repo-b');
    const gate = path.join(r.dir, 'gate');
    const a = await r.worker('host-a', [rootA]);
    await r.worker('host-b', [rootB]);
    const onA = await start(r.front, rootA, `#fake wait-file ${gate}`);
    const onB = await start(r.front, rootB, `#fake wait-file ${gate}`);
    await waitFor(async () => (await r.status(onA)) === 'running' && (await r.status(onB)) === 'running', 30_000, 'both jobs to run');

    const killedAt = Date.now();
    await a.kill('SIGKILL');
    killGroups(jobGroups(a.jobsDir));
    await waitFor(async () => (await r.status(onA)) === 'orphaned', 15_000, 'the job of the killed host to read orphaned');
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs < 3000 + 3000, `orphaned within the TTL (3 s) and a little: took ${tookMs} ms`);
    const orphan = await r.front.read(onA);
    assert.match(orphan!.entry.statusReason ?? '', /host-a/);
    assert.equal(await r.status(onB), 'running', 'the other host\'s job still runs');
    fs.writeFileSync(gate, '');
    await waitFor(async () => (await r.status(onB)) === 'completed', 30_000, 'the other job to complete');
    assert.equal(await r.status(onA), 'orphaned');
  });
});

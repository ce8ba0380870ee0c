// What the API says stays true when processes die, stop or share a data dir, against the real server
// process with the fake CLI: a killed runner, a cancel that cannot reach its target, a folder removed
// by another server, two servers under one MAX_CONCURRENT, a retried start after kill -9.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isAlive, waitFor } from './support/helpers.js';
import { cleanupAll, faultDirs, faultServer, runnerOf, TOKEN } from './support/faults.js';
import { type RealServer } from './support/server-process.js';
import { needsLinux, needsPosix } from './support/platform.js';

type Job = { jobId: string; status: string; statusReason?: string; result?: { result: string; isError: boolean } | null; tail?: string };

function setup(t: { after: (fn: () => unknown) => void }) {
  const { dataDir, work } = faultDirs('ca-truth-');
  const servers: RealServer[] = [];
  t.after(cleanupAll(servers, dataDir));
  const jobsDir = path.join(dataDir, 'jobs');
  const start = async (env: Record<string, string> = {}) => {
    const server = await faultServer(dataDir, work, env);
    servers.push(server);
    return server;
  };
  return { dataDir, work, jobsDir, servers, start };
}

async function startJob(server: RealServer, prompt: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await server.rest('/v1/jobs', { body: { prompt, ...extra } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return String(res.body.jobId);
}

const job = async (server: RealServer, jobId: string) => (await server.rest(`/v1/jobs/${jobId}`)).body as Job;

async function until(server: RealServer, jobId: string, ok: (j: Job) => boolean, what: string, timeoutMs = 30_000): Promise<Job> {
  return waitFor(async () => {
    const j = await job(server, jobId);
    return ok(j) ? j : undefined;
  }, timeoutMs, `${jobId} ${what}`);
}

/** Claude processes of these jobs alive now (their runner.json names them). */
function liveClaudes(jobsDir: string): number {
  let n = 0;
  for (const id of fs.readdirSync(jobsDir).filter((x) => /^[0-9a-z]{26}$/.test(x))) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(jobsDir, id, 'runner.json'), 'utf8')) as { claudePid?: number };
      if (r.claudePid && isAlive(r.claudePid)) n++;
    } catch {
      // not started
    }
  }
  return n;
}

/**
 * Counts live claudes under jobsDir every few ms; stop() gives the most seen at once. Not every turn
 * of the event loop: that pegged a core of a 2-core box, and starved the very jobs it watched (a
 * claude let through early would overlap for a whole job's start, far longer than a few ms).
 */
function watchLiveClaudes(jobsDir: string): { stop(): Promise<number> } {
  let most = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      most = Math.max(most, liveClaudes(jobsDir));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      watching = false;
      await watcher;
      return most;
    },
  };
}

describe('a runner killed while claude runs', { skip: needsPosix('SIGSTOP and SIGKILL of runners and claude') }, () => {
  it('the job stays running and holds its slot while claude lives; the server ends claude; then orphaned with the output whole', async (t) => {
    const { jobsDir, start } = setup(t);
    const server = await start({ CLAUDE_ASYNC_MAX_CONCURRENT: '2' });
    const victim = await startJob(server, '#fake tick 3 50\n#fake sleep 600000\nvictim');
    const other = await startJob(server, '#fake sleep 600000\nother');
    const queued = await startJob(server, 'third');
    const pids = await runnerOf(jobsDir, victim);
    await runnerOf(jobsDir, other);
    await waitFor(() => fs.readFileSync(path.join(jobsDir, victim, 'out.jsonl'), 'utf8').includes('tick 3'), 20_000, 'the victim to print');

    const peak = watchLiveClaudes(jobsDir);
    process.kill(pids.runnerPid, 'SIGKILL');
    // Every answer is true: `orphaned` only once claude is gone; until then `running`.
    const seen: string[] = [];
    const final = await waitFor(async () => {
      const j = await job(server, victim);
      seen.push(j.status);
      if (j.status === 'orphaned') {
        assert.equal(isAlive(pids.claudePid), false, 'orphaned while claude still ran');
        return j;
      }
      assert.equal(j.status, 'running', `after the runner died: ${JSON.stringify(j)}`);
      return undefined;
    }, 30_000, 'the victim to become orphaned');
    assert.match(String(final.statusReason), /runner process is gone/);
    // The queued job only started once the victim's claude was gone.
    const third = await until(server, queued, (j) => j.status === 'completed', 'to complete', 60_000);
    assert.equal(third.status, 'completed');
    const maxClaudes = await peak.stop();
    assert.ok(maxClaudes <= 2, `${maxClaudes} claude processes ran at once with MAX_CONCURRENT=2`);
    const log = fs.readFileSync(path.join(jobsDir, victim, 'out.jsonl'), 'utf8');
    assert.ok(log.endsWith('\n') && log.includes('tick 3'), 'the output is whole');
    t.diagnostic(`statuses seen: ${[...new Set(seen)].join(', ')}`);
  });

  it('a runner killed after claude printed a successful result: the job is judged by that result', async (t) => {
    const { jobsDir, start } = setup(t);
    const server = await start({ CLAUDE_ASYNC_RESULT_WATCHDOG: '10m' });
    const jobId = await startJob(server, '#fake hang-after-result\nanswered');
    const pids = await runnerOf(jobsDir, jobId);
    await waitFor(() => fs.readFileSync(path.join(jobsDir, jobId, 'out.jsonl'), 'utf8').includes('"type":"result"'), 20_000, 'the result line');
    process.kill(pids.runnerPid, 'SIGKILL');
    const done = await until(server, jobId, (j) => j.status !== 'running', 'to end');
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.result?.result, 'Echo: answered');
    assert.match(String(done.statusReason), /judged by the result line/);
    assert.equal(isAlive(pids.claudePid), false, 'the hung claude was ended');
  });
});

describe('cancel says what it did', { skip: needsPosix('SIGSTOP and SIGKILL of runners and claude') }, () => {
  it('with runner.json unreadable, cancel finds the runner and claude by their job folder and ends them', { skip: needsLinux('claude is found by the prompt file on its stdin through /proc') }, async (t) => {
    const { jobsDir, start } = setup(t);
    const server = await start();
    const jobId = await startJob(server, '#fake sleep 600000\nstubborn');
    const pids = await runnerOf(jobsDir, jobId);
    await until(server, jobId, (j) => j.status === 'running', 'to run');
    fs.writeFileSync(path.join(jobsDir, jobId, 'runner.json'), '{"runnerPid": 12');
    const res = await server.rest(`/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.status, res.body.cancelled], ['cancelled', true], JSON.stringify(res.body));
    await waitFor(() => !isAlive(pids.runnerPid) && !isAlive(pids.claudePid), 20_000, 'runner and claude to be gone');
    assert.equal((await job(server, jobId)).status, 'cancelled');
  });

  it('a cancel while the runner is stopped (SIGSTOP) answers that it has not taken effect; the job runs until the runner resumes', async (t) => {
    const { jobsDir, start } = setup(t);
    const server = await start();
    const jobId = await startJob(server, '#fake sleep 600000\nfrozen');
    const pids = await runnerOf(jobsDir, jobId);
    await until(server, jobId, (j) => j.status === 'running', 'to run');
    process.kill(pids.runnerPid, 'SIGSTOP');
    t.after(() => {
      try {
        process.kill(pids.runnerPid, 'SIGCONT');
      } catch {
        // gone
      }
    });
    const res = await server.rest(`/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(res.body.cancelled, false, JSON.stringify(res.body));
    assert.equal(res.body.status, 'running');
    assert.match(String(res.body.detail), /stopped \(SIGSTOP\)/);
    assert.ok(isAlive(pids.claudePid));
    assert.equal((await job(server, jobId)).status, 'running', 'the status must not say cancelled while the job runs');
    process.kill(pids.runnerPid, 'SIGCONT');
    const done = await until(server, jobId, (j) => j.status !== 'running', 'to end after SIGCONT');
    assert.equal(done.status, 'cancelled');
    await waitFor(() => !isAlive(pids.claudePid), 20_000, 'claude to be gone');
  });
});

describe('two servers on one data dir', { skip: needsPosix('SIGSTOP and SIGKILL of runners and claude') }, () => {
  it('a job removed through the other server is a 404 at once: its stream ends, the list and the dispatcher drop it', async (t) => {
    const { jobsDir, start } = setup(t);
    const one = await start({ CLAUDE_ASYNC_MAX_CONCURRENT: '1' });
    const two = await start({ CLAUDE_ASYNC_MAX_CONCURRENT: '1' });
    const blocker = await startJob(one, '#fake sleep 600000\nblocker');
    await runnerOf(jobsDir, blocker);
    const doomed = await startJob(one, 'doomed');
    assert.equal((await job(one, doomed)).status, 'queued');
    const stream = await fetch(`${one.url}/v1/jobs/${doomed}/events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(stream.status, 200);
    const body = stream.text();

    assert.equal((await two.rest(`/v1/jobs/${doomed}/cancel`, { method: 'POST' })).body.cancelled, true);
    assert.equal((await two.rest(`/v1/jobs/${doomed}`, { method: 'DELETE' })).status, 200);
    assert.equal(fs.existsSync(path.join(jobsDir, doomed)), false);

    assert.equal((await one.rest(`/v1/jobs/${doomed}`)).status, 404);
    const ended = await Promise.race([body, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
    assert.notEqual(ended, null, 'the /events stream did not end');
    // The follower may see the cancel before the removal (its status poll falls between the two
    // requests on a busy box): the stream then ends with the cancelled status instead.
    assert.match(String(ended), /not.found|No such job|event: status\ndata: \{"jobId":"[0-9a-z]+","status":"cancelled"/i);
    const listed = (await one.rest('/v1/jobs')).body.jobs as Job[];
    assert.ok(!listed.some((j) => j.jobId === doomed), 'the list still shows the removed job');
    // The dispatcher of the first server never tries to launch it.
    await (await one.rest(`/v1/jobs/${blocker}/cancel`, { method: 'POST' })).body;
    const after = await startJob(one, 'after');
    await until(one, after, (j) => j.status === 'completed', 'to complete');
    assert.doesNotMatch(one.logs(), new RegExp(`${doomed}.*(could not launch|job launched)`));
  });

  it('MAX_CONCURRENT holds across both servers: slots are claimed on disk', async (t) => {
    const { jobsDir, start } = setup(t);
    const one = await start({ CLAUDE_ASYNC_MAX_CONCURRENT: '2' });
    const two = await start({ CLAUDE_ASYNC_MAX_CONCURRENT: '2' });
    const peak = watchLiveClaudes(jobsDir);
    const ids = await Promise.all([one, two, one, two, one, two].map((s, i) => startJob(s, `#fake sleep 1500\njob ${i}`)));
    for (const [i, id] of ids.entries()) await until(i % 2 ? two : one, id, (j) => j.status === 'completed', 'to complete', 60_000);
    const maxClaudes = await peak.stop();
    assert.ok(maxClaudes >= 1 && maxClaudes <= 2, `${maxClaudes} claude processes ran at once with MAX_CONCURRENT=2 on both servers`);
  });
});

describe('a retried start after a crash', { skip: needsPosix('SIGSTOP and SIGKILL of runners and claude') }, () => {
  it('a POST retried with its Idempotency-Key after kill -9 of the server returns the first job', async (t) => {
    const { jobsDir, start } = setup(t);
    const first = await start();
    const body = { prompt: 'exactly once' };
    const a = await first.rest('/v1/jobs', { body, headers: { 'Idempotency-Key': 'crash-1' } });
    assert.equal(a.status, 201);
    await first.kill('SIGKILL');
    const second = await start();
    const b = await second.rest('/v1/jobs', { body, headers: { 'Idempotency-Key': 'crash-1' } });
    assert.equal(b.status, 201);
    assert.equal(b.body.jobId, a.body.jobId);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    const other = await second.rest('/v1/jobs', { body: { prompt: 'another body' }, headers: { 'Idempotency-Key': 'crash-1' } });
    assert.equal(other.status, 422);
    assert.deepEqual(fs.readdirSync(jobsDir).filter((x) => /^[0-9a-z]{26}$/.test(x)), [a.body.jobId]);
  });
});

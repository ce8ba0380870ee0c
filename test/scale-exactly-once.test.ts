// 500 jobs through two real fronts and two real workers on a real redis-server, with one front and
// one worker killed (-9) midway: every acknowledged start ends `completed`, each ran exactly once
// (the counting claude records each run's cwd, one cwd per job), and each output is whole and its
// own. Clients retry a start whose front died on the other front with the same Idempotency-Key, as
// they should; the killed worker is restarted at once, as a supervisor would. The claude is the lean
// one (shell builtins, no Node): a Node process per job would be most of this test's CPU.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TOKEN } from './support/faults.js';
import { waitFor } from './support/helpers.js';
import { redisMissing } from './support/redis.js';
import { startCluster, type Cluster } from './support/scale.js';

const missing = redisMissing();
const JOBS = 500;
const IN_FLIGHT = 6;
/** Long enough that the killed worker is back before its heartbeat expires on a busy box: this test is about a restart; a vanished host is another (scale-worker). */
const WORKER_TTL = '30s';

/** Every job the survivor lists, by id (pages of 200: one call per page, not one per job). */
async function listedStatuses(front: Cluster['fronts'][number]): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  for (let cursor = ''; ;) {
    const page = await front.rest(`/v1/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    for (const job of page.body.jobs as Array<{ jobId: string; status: string }>) seen.set(job.jobId, job.status);
    cursor = String(page.body.nextCursor ?? '');
    if (!cursor) return seen;
  }
}

describe('shared backend: exactly once under kills', { skip: missing ?? false }, () => {
  it(`${JOBS} jobs, a front and a worker kill -9'd midway: every acknowledged job ends once, output whole`, async (t) => {
    const cluster = await startCluster(t, 'ca-scale-once-', { leanClaude: true });
    const { dir, claude, workers, fronts } = cluster;
    const root = path.join(dir, 'repos');
    fs.mkdirSync(root);
    await cluster.worker('host-a', [root], { slots: 3, ttl: WORKER_TTL });
    await cluster.worker('host-b', [root], { slots: 3, ttl: WORKER_TTL });
    for (const name of ['front-1', 'front-2']) await cluster.front(name, root);

    const acknowledged = new Map<string, string>(); // jobId → cwd
    let killed = false;
    const startOne = async (i: number) => {
      const cwd = path.join(root, `job-${i}`);
      fs.mkdirSync(cwd);
      const body = JSON.stringify({ prompt: `job ${i}\n#fake tick 2 20`, cwd });
      for (let attempt = 0; attempt < 4; attempt++) {
        const front = fronts[(i + attempt) % 2]!;
        const res = await fetch(`${front.url}/v1/jobs`, {
          method: 'POST', body,
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Idempotency-Key': `start-${i}` },
        }).catch(() => null);
        if (res?.status === 201) {
          acknowledged.set(String(((await res.json()) as { jobId: string }).jobId), cwd);
          return;
        }
        await res?.text();
      }
      throw new Error(`job ${i} was never acknowledged`);
    };
    let next = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < JOBS) {
        const i = next++;
        if (!killed && i >= JOBS / 2) {
          killed = true;
          await fronts[0]!.kill('SIGKILL');
          await workers[0]!.kill('SIGKILL');
          // Back with the same id and disk: it adopts what it ran and takes what waited for it.
          await cluster.worker('host-a', [root], { slots: 3, ttl: WORKER_TTL });
        }
        await startOne(i);
      }
    }));
    assert.equal(acknowledged.size, JOBS);
    const survivor = fronts[1]!;
    const notCompleted = async () => {
      const seen = await listedStatuses(survivor);
      return [...acknowledged.keys()].map((jobId) => [jobId, seen.get(jobId) ?? 'missing']).filter(([, status]) => status !== 'completed');
    };
    // Listing 500 jobs costs the front far more than a job does: the runs file says when to start looking.
    await waitFor(() => claude.runs() >= JOBS, 300_000, `${JOBS} runs of claude`).catch(() => {});
    await waitFor(async () => (await notCompleted()).length === 0, 60_000, 'every acknowledged job to complete').catch(async (error: unknown) => {
      // What each host knows of each job left: the files of its folder and every log line naming it.
      const left = await notCompleted();
      const traces = left.map(([jobId]) => workers.map((w) => {
        const folder = path.join(w.jobsDir, jobId!);
        const files = fs.existsSync(folder) ? fs.readdirSync(folder).join(',') : 'no folder';
        return `${w.workerId} (${files}):\n${w.logs().split('\n').filter((line) => line.includes(jobId!)).join('\n')}`;
      }).join('\n')).join('\n---\n');
      throw new Error(`${(error as Error).message}: ${JSON.stringify(left)}\n${traces}\n${workers.map((w) => w.logs().slice(-3000)).join('\n---\n')}`);
    });

    for (const [jobId, cwd] of acknowledged) {
      assert.equal(claude.runsIn(cwd), 1, `job ${jobId} (${cwd}) ran exactly once`);
      const page = await fetch(`${survivor.url}/v1/jobs/${jobId}/output?format=jsonl&limit=1000000`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const lines = (await page.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; message?: { content: Array<{ text: string }> } });
      const said = lines.filter((l) => l.type === 'assistant').map((l) => l.message!.content[0]!.text);
      assert.deepEqual([lines[0]?.type, said, lines[lines.length - 1]?.type], ['system', ['tick 1', 'tick 2', `Echo: ${path.basename(cwd).replace('-', ' ')}`], 'result'], `job ${jobId}'s output is whole and its own (init, 2 ticks, its echoed prompt, result)`);
    }
    assert.equal(claude.runs(), JOBS, 'no other run happened');
    assert.equal((await listedStatuses(survivor)).size, JOBS, 'no job was made twice');
  });
});

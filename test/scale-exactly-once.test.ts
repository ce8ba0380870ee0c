// Many jobs through two real fronts and two real workers on a real redis-server, with one front and
// one worker killed (-9) midway: every acknowledged start ends `completed`, each ran exactly once
// (the counting claude records each run's cwd, one cwd per job), and each output is whole. Clients
// retry a start whose front died on the other front with the same Idempotency-Key, as they should.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TOKEN } from './support/faults.js';
import { waitFor } from './support/helpers.js';
import { redisMissing } from './support/redis.js';
import { startCluster } from './support/scale.js';

const missing = redisMissing();
const JOBS = 60;
const IN_FLIGHT = 6;

describe('shared backend: exactly once under kills', { skip: missing ?? false }, () => {
  it(`${JOBS} jobs, a front and a worker kill -9'd midway: every acknowledged job ends once, output whole`, async (t) => {
    const cluster = await startCluster(t, 'ca-scale-once-');
    const { dir, claude, workers, fronts } = cluster;
    const root = path.join(dir, 'repos');
    fs.mkdirSync(root);
    await cluster.worker('host-a', [root], { slots: 3 });
    await cluster.worker('host-b', [root], { slots: 3 });
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
        }
        await startOne(i);
      }
    }));
    assert.equal(acknowledged.size, JOBS);
    // The killed worker comes back (same id, same disk): it adopts what it ran and takes what waited for it.
    await cluster.worker('host-a', [root], { slots: 3 });
    const survivor = fronts[1]!;
    const statuses = async () => {
      const seen: Record<string, string> = {};
      for (const jobId of acknowledged.keys()) seen[jobId] = String((await survivor.rest(`/v1/jobs/${jobId}`)).body.status);
      return seen;
    };
    await waitFor(async () => Object.values(await statuses()).every((s) => s === 'completed'), 180_000, 'every acknowledged job to complete').catch(async (error: unknown) => {
      const left = Object.entries(await statuses()).filter(([, s]) => s !== 'completed');
      throw new Error(`${(error as Error).message}: ${JSON.stringify(left)}\n${workers.map((w) => w.logs().slice(-3000)).join('\n---\n')}`);
    });

    for (const [jobId, cwd] of acknowledged) {
      assert.equal(claude.runsIn(cwd), 1, `job ${jobId} (${cwd}) ran exactly once`);
      const page = await fetch(`${survivor.url}/v1/jobs/${jobId}/output?format=jsonl&limit=1000000`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      const lines = (await page.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string });
      assert.deepEqual([lines[0]?.type, lines.filter((l) => l.type === 'assistant').length, lines[lines.length - 1]?.type], ['system', 3, 'result'], `job ${jobId}'s output is whole (init, the echoed prompt, 2 ticks, result)`);
    }
    assert.equal(claude.runs(), JOBS, 'no other run happened');
    const listed = await survivor.rest('/v1/jobs?limit=200');
    assert.equal((listed.body.jobs as unknown[]).length, JOBS, 'no job was made twice');
  });
});

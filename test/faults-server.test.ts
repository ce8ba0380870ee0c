// Faults of the real server process: kill -9 mid-run, a corrupted index, half-made job folders, a
// jobs folder the server may not write. Each test ends every process it started (server by pid,
// runners and claude groups from runner.json) and removes its temp dirs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pino from 'pino';
import { startServer } from '../src/server.js';
import { newJobId } from '../src/jobs/ids.js';
import type { ExitRecord } from '../src/jobs/records.js';
import { cleanupJobs, tempDir, testConfig, waitFor } from './support/helpers.js';
import { cleanupAll, faultDirs, faultServer, NOBODY, nobodyCanRunServer, specFor, TOKEN, writeFinished } from './support/faults.js';
import { connect as connectWith } from './support/mcp-client.js';
import type { RealServer } from './support/server-process.js';
import { needsPosix } from './support/platform.js';

type Structured = Record<string, unknown>;
type Job = { jobId: string; status: string; statusReason?: string };

const connect = async (url: string) => (await connectWith(url, TOKEN)).client;

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<Structured> {
  const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 });
  if (res.isError) throw new Error(`${name}: ${JSON.stringify(res.content)}`);
  return res.structuredContent as Structured;
}

async function listAll(client: Client): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const r = await tool(client, 'claude_jobs', { limit: 200, ...(cursor ? { cursor } : {}) });
    jobs.push(...(r.jobs as Job[]));
    cursor = r.nextCursor as string | undefined;
    if (!cursor) break;
  }
  return jobs;
}

const countLines = (text: string, needle: string) => text.split('\n').filter((l) => l.includes(needle)).length;
const idFolders = (jobsDir: string) => fs.readdirSync(jobsDir).filter((n) => /^[0-9a-z]{26}$/.test(n)).sort();

describe('a kill -9 of the server loses nothing and runs nothing twice', { skip: needsPosix('kill -9 of the server, process groups and chmod') }, () => {
  it('20 running + 20 queued jobs all finish exactly once after a restart, and the index agrees with the folders', async (t) => {
    const { dataDir, work, jobsDir } = faultDirs('ca-kill9-');
    const env = { CLAUDE_ASYNC_MAX_CONCURRENT: '20' };
    const servers: RealServer[] = [];
    t.after(cleanupAll(servers, dataDir));

    const first = await faultServer(dataDir, work, env);
    servers.push(first);
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect(first.url)));
    // Every job waits for a release file, so none can end before the kill however slow the box is.
    const release = path.join(dataDir, 'release');
    const started = await Promise.all(Array.from({ length: 40 }, (_, i) => tool(clients[i % 4]!, 'claude_start', { prompt: `#fake wait-file ${release}\njob ${i}` })));
    const ids = started.map((s) => String(s.jobId));
    assert.equal(new Set(ids).size, 40);

    // Kill once all 20 slots hold a running job: the other 20 are still queued folders.
    const has = (id: string, file: string) => fs.existsSync(path.join(jobsDir, id, file));
    const state = () => {
      const claimed = ids.filter((id) => has(id, 'runner.json'));
      const running = claimed.filter((id) => !has(id, 'exit.json')).length;
      return { running, queued: 40 - claimed.length, ended: ids.filter((id) => has(id, 'exit.json')).length };
    };
    const atKill = await waitFor(() => { const now = state(); return now.running === 20 ? now : undefined; }, 120_000, '20 running jobs');
    await first.kill('SIGKILL');
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    t.diagnostic(`at the kill: ${JSON.stringify(atKill)}`);
    assert.deepEqual(atKill, { running: 20, queued: 20, ended: 0 });

    const second = await faultServer(dataDir, work, env);
    servers.push(second);
    fs.writeFileSync(release, '');
    await waitFor(() => ids.every((id) => fs.existsSync(path.join(jobsDir, id, 'exit.json'))), 120_000, 'every job to finish after the restart');

    for (const id of ids) {
      const dir = path.join(jobsDir, id);
      const exit = JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8')) as ExitRecord;
      assert.equal(exit.exitCode, 0, `${id}: ${JSON.stringify(exit)}`);
      assert.equal(exit.reason, 'exited');
      assert.equal(exit.result?.isError, false);
      const runner = JSON.parse(fs.readFileSync(path.join(dir, 'runner.json'), 'utf8')) as { claimedBy?: string; claudePid?: number };
      assert.equal(runner.claimedBy, undefined, `${id} was claimed by the server, not run`);
      assert.ok(runner.claudePid, `${id}: runner.json has no claude pid`);
      const out = fs.readFileSync(path.join(dir, 'out.jsonl'), 'utf8');
      assert.equal(countLines(out, '"subtype":"init"'), 1, `${id} ran claude more than once (or never)`);
      assert.equal(countLines(out, '"type":"result"'), 1, `${id} has ${countLines(out, '"type":"result"')} result lines`);
      const leftovers = fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
      assert.deepEqual(leftovers, [], `${id} has temp files left: ${leftovers.join(', ')}`);
    }

    const client = await connect(second.url);
    const listed = await listAll(client);
    await client.close();
    assert.deepEqual(listed.map((j) => j.jobId).sort(), [...ids].sort());
    assert.deepEqual([...new Set(listed.map((j) => j.status))], ['completed']);

    await second.kill('SIGTERM'); // graceful: the index is flushed to db.json
    const db = JSON.parse(fs.readFileSync(path.join(dataDir, 'db.json'), 'utf8')) as { jobs: Record<string, Job> };
    assert.deepEqual(Object.keys(db.jobs).sort(), idFolders(jobsDir));
    for (const id of ids) assert.equal(db.jobs[id]!.status, 'completed', `db.json says ${id} is ${db.jobs[id]!.status}`);
  });
});

describe('a damaged index or half-made job folders never stop the server', { skip: needsPosix('kill -9 of the server, process groups and chmod') }, () => {
  /** Five finished jobs, one queued job, and four kinds of damage; returns what each should become. */
  function seedDamage(jobsDir: string, work: string) {
    fs.mkdirSync(jobsDir, { recursive: true, mode: 0o700 });
    const base = Date.now() - 120_000;
    const finished = Array.from({ length: 5 }, (_, i) => {
      const id = newJobId(base + i * 1000);
      writeFinished(jobsDir, id, work, base + i * 1000);
      return id;
    });
    const queued = newJobId(base + 10_000);
    fs.mkdirSync(path.join(jobsDir, queued));
    fs.writeFileSync(path.join(jobsDir, queued, 'prompt.txt'), '#fake lines 2\nqueued before the crash');
    fs.writeFileSync(path.join(jobsDir, queued, 'spec.json'), JSON.stringify(specFor(queued, work, base + 10_000)));
    const specOnly = newJobId(base + 11_000);
    fs.mkdirSync(path.join(jobsDir, specOnly));
    fs.writeFileSync(path.join(jobsDir, specOnly, 'spec.json'), JSON.stringify(specFor(specOnly, work, base + 11_000)));
    const empty = newJobId(base + 12_000);
    fs.mkdirSync(path.join(jobsDir, empty));
    const garbageSpec = newJobId(base + 13_000);
    fs.mkdirSync(path.join(jobsDir, garbageSpec));
    fs.writeFileSync(path.join(jobsDir, garbageSpec, 'spec.json'), '{"version":1,"jobId":"tru');
    const garbageExit = newJobId(base + 14_000);
    writeFinished(jobsDir, garbageExit, work, base + 14_000);
    fs.writeFileSync(path.join(jobsDir, garbageExit, 'exit.json'), '\u0000\u0000garbage');
    // Not jobs at all: must be ignored, not listed, not touched.
    fs.mkdirSync(path.join(jobsDir, 'not-a-job'));
    fs.writeFileSync(path.join(jobsDir, 'README'), 'hello');
    return { finished, queued, specOnly, empty, garbageSpec, garbageExit };
  }

  async function assertEverythingVisible(client: Client, seeded: ReturnType<typeof seedDamage>) {
    const all = [...seeded.finished, seeded.queued, seeded.specOnly, seeded.empty, seeded.garbageSpec, seeded.garbageExit];
    const listed = await listAll(client);
    assert.deepEqual(listed.map((j) => j.jobId).sort(), [...all].sort(), 'the list lost or invented jobs');
    const byId = new Map(listed.map((j) => [j.jobId, j]));
    for (const id of seeded.finished) assert.equal(byId.get(id)!.status, 'completed');
    for (const id of [seeded.empty, seeded.garbageSpec, seeded.garbageExit]) {
      const check = await tool(client, 'claude_check', { jobId: id });
      assert.equal(check.status, 'unknown', `${id}: ${JSON.stringify(check)}`);
      assert.match(String(check.statusReason), /spec\.json|exit\.json/, 'an unknown status must say why');
    }
    // A spec without its prompt: queued, or (once a runner tried it) failed with a reason; never a crash.
    const specOnly = await tool(client, 'claude_check', { jobId: seeded.specOnly });
    assert.ok(['queued', 'running', 'failed', 'unknown'].includes(String(specOnly.status)), JSON.stringify(specOnly));
    if (specOnly.status !== 'queued' && specOnly.status !== 'running') assert.ok(String(specOnly.statusReason ?? '').length > 0, JSON.stringify(specOnly));
    // The queued job survives the damage and runs.
    const done = await tool(client, 'claude_wait', { jobId: seeded.queued, timeoutSeconds: 30 });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.match(String(done.tail), /queued before the crash/);
  }

  it('a truncated db.json: the real server starts, warns in its log, rebuilds and loses nothing', async (t) => {
    const { dataDir, work, jobsDir } = faultDirs('ca-dbtrunc-');
    const seeded = seedDamage(jobsDir, work);
    // A real index, cut in the middle as a crash mid-write (without an atomic rename) would leave it.
    const full = JSON.stringify({ version: 1, jobs: Object.fromEntries(seeded.finished.map((id) => [id, { jobId: id, status: 'completed', owner: 'default', cwd: work, createdAt: 1 }])) });
    fs.writeFileSync(path.join(dataDir, 'db.json'), full.slice(0, Math.floor(full.length / 2)));
    const servers: RealServer[] = [];
    t.after(cleanupAll(servers, dataDir));
    const server = await faultServer(dataDir, work);
    servers.push(server);
    const warning = server.logs().split('\n').find((l) => l.includes('db.json') && l.includes('unreadable'));
    assert.ok(warning, `no warning about the unreadable index in the log:\n${server.logs()}`);
    assert.equal((JSON.parse(warning) as { level: number }).level, 40, 'the rebuild should be logged at warn level');

    const client = await connect(server.url);
    await assertEverythingVisible(client, seeded);
    await client.close();
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    await server.kill('SIGTERM');
    const db = JSON.parse(fs.readFileSync(path.join(dataDir, 'db.json'), 'utf8')) as { version: number; jobs: Record<string, Job> };
    assert.equal(db.version, 1);
    assert.deepEqual(Object.keys(db.jobs).sort(), idFolders(jobsDir));
    assert.ok(fs.existsSync(path.join(jobsDir, 'not-a-job')) && fs.existsSync(path.join(jobsDir, 'README')), 'foreign entries were touched');
  });

  for (const [name, content] of [
    ['binary garbage', '\u0000\u00ff\u0013not json at all'],
    ['an empty file', ''],
    ['a JSON array', '[]'],
    ['a null jobs map', '{"version":1,"jobs":null}'],
    ['another version', '{"version":2,"jobs":{}}'],
    ['valid JSON with broken entries', 'BROKEN_ENTRIES'],
    ['a stale index (a job it lacks, a job that is gone)', 'STALE'],
  ] as const) {
    it(`db.json holding ${name}: the server starts, lists every folder, and answers for each`, async (t) => {
      const config = testConfig({ port: 0, token: TOKEN, auth: 'token' });
      const seeded = seedDamage(config.jobsDir, config.defaultCwd);
      const gone = newJobId(Date.now() - 500_000);
      let text: string = content;
      if (content === 'STALE') {
        const entries = [...seeded.finished.slice(1), gone].map((id) => [id, { jobId: id, status: 'running', owner: 'default', cwd: config.defaultCwd, createdAt: 1 }]);
        text = JSON.stringify({ version: 1, jobs: Object.fromEntries(entries) });
      } else if (content === 'BROKEN_ENTRIES') {
        text = JSON.stringify({ version: 1, jobs: { [seeded.finished[0]!]: 42, [seeded.finished[1]!]: null, [seeded.finished[2]!]: { jobId: '../../etc', status: 'completed' }, 'not-an-id': {} } });
      }
      fs.writeFileSync(path.join(config.dataDir, 'db.json'), text);
      let logged = '';
      const log = pino({ level: 'warn' }, { write: (s: string) => { logged += s; } });
      const server = await startServer(config, log);
      t.after(async () => {
        await server.close();
        cleanupJobs(config);
      });
      const client = await connect(server.url);
      t.after(() => client.close());
      await assertEverythingVisible(client, seeded);
      const missing = await client.callTool({ name: 'claude_check', arguments: { jobId: gone } });
      assert.equal(missing.isError, true, 'a job whose folder is gone must read as not found');
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      if (content !== 'STALE') assert.match(logged, /unreadable|rebuild/i, 'no warning was logged');
    });
  }
});

describe('a jobs folder the server may not write', { skip: needsPosix('kill -9 of the server, process groups and chmod') }, () => {
  it('claude_start answers a clear storage error, leaves nothing half-made, and works again once writable', async (t) => {
    const dataDir = tempDir('ca-readonly-');
    const work = path.join(dataDir, 'work');
    const jobsDir = path.join(dataDir, 'jobs');
    fs.mkdirSync(work);
    fs.mkdirSync(jobsDir, { mode: 0o700 });
    fs.chmodSync(dataDir, 0o755);
    // chmod does not stop root. As root, run the server as `nobody` (it owns the data dir), so the
    // permission bits mean what they say; otherwise run it as ourselves.
    const asRoot = process.getuid?.() === 0;
    const ids: { uid?: number; gid?: number } = asRoot ? NOBODY : {};
    if (asRoot) {
      if (!nobodyCanRunServer()) {
        fs.rmSync(dataDir, { recursive: true, force: true });
        t.skip('running as root and the uid nobody (65534) cannot run node on this checkout, so a read-only folder cannot be simulated');
        return;
      }
      for (const p of [dataDir, work, jobsDir]) fs.chownSync(p, 65534, 65534);
    }
    const servers: RealServer[] = [];
    t.after(async () => {
      fs.chmodSync(jobsDir, 0o700);
      await cleanupAll(servers, dataDir)();
    });
    const server = await faultServer(dataDir, work, {}, ids);
    servers.push(server);
    const client = await connect(server.url);
    t.after(() => client.close());

    const ok = await tool(client, 'claude_start', { prompt: 'before the folder turned read-only' });
    await tool(client, 'claude_wait', { jobId: ok.jobId, timeoutSeconds: 30 });
    const before = fs.readdirSync(jobsDir).sort();

    fs.chmodSync(jobsDir, 0o500);
    const refused = await client.callTool({ name: 'claude_start', arguments: { prompt: 'while read-only' } });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /Could not create the job on disk \(EACCES\).*writable/);
    const rest = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'while read-only' }) });
    assert.equal(rest.status, 503);
    assert.match(((await rest.json()) as { type: string }).type, /storage-unavailable/);
    assert.deepEqual(fs.readdirSync(jobsDir).sort(), before, 'something half-made was left in the jobs folder');
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 503, 'healthz should report the unwritable jobs folder');
    // Reads still work while writes are refused.
    assert.equal((await tool(client, 'claude_check', { jobId: ok.jobId })).status, 'completed');
    assert.equal(((await tool(client, 'claude_jobs', {})).jobs as Job[]).length, 1);

    fs.chmodSync(jobsDir, 0o700);
    const again = await tool(client, 'claude_start', { prompt: 'writable again' });
    assert.equal((await tool(client, 'claude_wait', { jobId: again.jobId, timeoutSeconds: 30 })).status, 'completed');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });
});

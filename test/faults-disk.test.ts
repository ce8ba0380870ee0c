// A full or unwritable disk, against the real server process with the fake CLI: the data dir sits on
// a small tmpfs of the test's own (CI runs as root; where mounting is impossible these skip and say
// why). Running jobs stay truthful (never `orphaned`), logs end at whole lines, new starts are 503,
// and everything recovers by itself once there is space again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { newJobId } from '../src/jobs/ids.js';
import type { ExitRecord } from '../src/jobs/records.js';
import { isAlive, tempDir, waitFor } from './support/helpers.js';
import { NOBODY, cleanupAll, mountTmpfs, nobodyCanRunServer, runnerOf, faultServer, writeFinished } from './support/faults.js';
import { type RealServer } from './support/server-process.js';
import { needsLinux } from './support/platform.js';

type Job = { jobId: string; status: string; statusReason?: string; result?: { result: string; isError: boolean }; tail?: string };

/**
 * A tmpfs of `sizeBytes` for the data dir, a work dir beside it, and the servers the test starts on
 * them, all ended and removed with the test; null when no tmpfs can be mounted here (the test is skipped).
 */
function smallDisk(t: { skip: (message: string) => void; after: (fn: () => unknown) => void }, sizeBytes: number) {
  const tmpfs = mountTmpfs(sizeBytes);
  if ('skip' in tmpfs) {
    t.skip(`cannot test a full disk: ${tmpfs.skip}`);
    return null;
  }
  const dataDir = path.join(tmpfs.dir, 'data');
  const work = tempDir('ca-diskfull-work-');
  const servers: RealServer[] = [];
  t.after(async () => {
    await cleanupAll(servers, dataDir, [work])();
    await tmpfs.unmount();
  });
  return { tmpfs, dataDir, jobsDir: path.join(dataDir, 'jobs'), work, servers };
}

describe('a full disk', { skip: needsLinux('fills a tmpfs of its own') }, () => {
  it('running jobs stay running (never orphaned), logs stop at a whole line with the reason, starts get 503, and exit.json is written once there is space', async (t) => {
    const disk = smallDisk(t, 4 * 1024 * 1024);
    if (!disk) return;
    const { tmpfs: fs2, dataDir, jobsDir, work, servers } = disk;
    const server = await faultServer(dataDir, work, { CLAUDE_ASYNC_MAX_CONCURRENT: '4' });
    servers.push(server);

    // Quiet: prints nothing until space is back. Noisy: prints ~1.5 MB into a disk with ~300 KB left.
    const quiet = await server.rest('/v1/jobs', { body: { prompt: '#fake sleep 600000\nquiet' } });
    assert.equal(quiet.status, 201, JSON.stringify(quiet.body));
    const quietId = String(quiet.body.jobId);
    const quietPids = await runnerOf(jobsDir, quietId);
    const fillers = [fs2.fill(300 * 1024)];
    const go = path.join(work, 'go');
    const noisy = await server.rest('/v1/jobs', { body: { prompt: `#fake bytes 1500000\n#fake wait-file ${go}\nnoisy` } });
    assert.equal(noisy.status, 201, JSON.stringify(noisy.body));
    const noisyId = String(noisy.body.jobId);
    const noisyPids = await runnerOf(jobsDir, noisyId);

    // The log runs into the full disk; then the little room a cut-back write left is taken too, and
    // claude (still printing, then finishing) meets a disk with no room at all.
    await waitFor(() => fs2.freeBytes() < 100 * 1024, 60_000, 'the log to fill the disk');
    fillers.push(fs2.fill(0));
    fs.writeFileSync(go, '');
    await waitFor(() => !isAlive(noisyPids.claudePid), 60_000, 'the noisy claude to finish');
    assert.ok(isAlive(noisyPids.runnerPid), 'the runner must outlive a full disk (it waits to write exit.json)');
    assert.equal(fs.existsSync(path.join(jobsDir, noisyId, 'exit.json')), false);

    for (const id of [quietId, noisyId]) {
      const job = await server.rest(`/v1/jobs/${id}`);
      assert.equal(job.status, 200);
      assert.equal(job.body.status, 'running', `${id} while the disk is full: ${JSON.stringify(job.body)}`);
    }
    assert.ok(isAlive(quietPids.claudePid), 'claude keeps running on a full disk');
    const log = fs.readFileSync(path.join(jobsDir, noisyId, 'out.jsonl'), 'utf8');
    assert.ok(log.length > 0 && log.endsWith('\n'), 'the log must end at a whole line');
    for (const line of log.split('\n').filter(Boolean)) JSON.parse(line);

    const refused = await server.rest('/v1/jobs', { body: { prompt: 'no room' } });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body.detail), /ENOSPC|space|full/i);

    // Space again: the runner writes exit.json by itself; the quiet job is then stopped by a cancel.
    for (const filler of fillers) fs.rmSync(filler);
    const done = await waitFor(async () => {
      const job = await server.rest(`/v1/jobs/${noisyId}`);
      return job.body.status !== 'running' ? job.body as Job : undefined;
    }, 30_000, 'the noisy job to end once there is space');
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.match(String(done.statusReason), /disk full/);
    assert.equal(done.result?.result, 'Echo: noisy', 'the result is kept even though its line could not be logged');
    const exit = JSON.parse(fs.readFileSync(path.join(jobsDir, noisyId, 'exit.json'), 'utf8')) as ExitRecord;
    assert.equal(exit.logStopped?.reason, 'disk full');
    assert.equal(exit.logStopped?.atBytes, fs.statSync(path.join(jobsDir, noisyId, 'out.jsonl')).size, 'the log ends where exit.json says it stopped');

    const cancelled = await server.rest(`/v1/jobs/${quietId}/cancel`, { method: 'POST' });
    assert.deepEqual([cancelled.body.status, cancelled.body.cancelled], ['cancelled', true]);
    const again = await server.rest('/v1/jobs', { body: { prompt: 'room again' } });
    assert.equal(again.status, 201, 'starts work again once there is space');
  });

  it('the server starts on a full disk, answers lists and checks, refuses starts with the reason, and recovers by itself', async (t) => {
    const disk = smallDisk(t, 2 * 1024 * 1024);
    if (!disk) return;
    const { tmpfs: fs2, dataDir, jobsDir, work, servers } = disk;
    const ids = Array.from({ length: 5 }, (_, i) => newJobId(Date.now() - 60_000 + i * 1000));
    for (const [i, id] of ids.entries()) writeFinished(jobsDir, id, work, Date.now() - 60_000 + i * 1000);
    const filler = fs2.fill(0);
    assert.equal(fs2.freeBytes(), 0);
    const server = await faultServer(dataDir, work);
    servers.push(server);
    // The boot rebuild tries to write db.json and says why it cannot.
    await waitFor(() => /db\.json cannot be written \(the disk is full\)/.test(server.logs()), 20_000, 'the read-only warning');

    const list = await server.rest('/v1/jobs?limit=50');
    assert.equal(list.status, 200);
    assert.deepEqual((list.body.jobs as Job[]).map((j) => j.jobId).sort(), [...ids].sort());
    assert.equal((await server.rest(`/v1/jobs/${ids[0]}`)).body.status, 'completed');
    const refused = await server.rest('/v1/jobs', { body: { prompt: 'no room' } });
    assert.equal(refused.status, 503);
    assert.match(String(refused.body.detail), /db\.json cannot be written \(the disk is full\)/);
    assert.ok(!fs.existsSync(path.join(dataDir, 'db.json')));

    fs.rmSync(filler);
    // Nobody touches the server: its retry writes db.json once there is room.
    await waitFor(() => fs.existsSync(path.join(dataDir, 'db.json')), 20_000, 'db.json to be written after space came back');
    const started = await server.rest('/v1/jobs', { body: { prompt: 'room again' } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const done = await waitFor(async () => {
      const job = await server.rest(`/v1/jobs/${String(started.body.jobId)}`);
      return job.body.status === 'completed' ? job.body : undefined;
    }, 30_000, 'the job started after recovery to complete');
    assert.equal((done.result as { result: string }).result, 'Echo: room again');
  });

  it('the server starts with an index it may not write (EACCES), refuses starts naming db.json, and recovers once it can write', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to run the server as another user (chmod does not stop root)');
      return;
    }
    if (!nobodyCanRunServer()) {
      t.skip('the uid nobody (65534) cannot run node on this checkout, so an unwritable index cannot be simulated');
      return;
    }
    const root = tempDir('ca-ro-index-');
    fs.chmodSync(root, 0o755);
    const dataDir = path.join(root, 'data');
    const work = path.join(root, 'work');
    const jobsDir = path.join(dataDir, 'jobs');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.mkdirSync(work);
    fs.mkdirSync(jobsDir, { mode: 0o700 });
    for (const p of [work, jobsDir]) fs.chownSync(p, 65534, 65534);
    fs.chmodSync(dataDir, 0o755); // owned by root: nobody cannot write db.json here
    const servers: RealServer[] = [];
    t.after(cleanupAll(servers, dataDir, [root]));
    const server = await faultServer(dataDir, work, { HOME: work }, { ...NOBODY, cwd: work });
    servers.push(server);
    await waitFor(() => /db\.json cannot be written \(EACCES\)/.test(server.logs()), 20_000, 'the read-only warning');
    // Its data dir is someone else's and 0755: it says so, since it cannot make it private.
    assert.match(server.logs(), /could not be made 0700/);
    assert.equal((await server.rest('/v1/jobs')).status, 200);
    const refused = await server.rest('/v1/jobs', { body: { prompt: 'not yet' } });
    assert.equal(refused.status, 503);
    assert.match(String(refused.body.detail), /db\.json cannot be written \(EACCES\)/);

    fs.chownSync(dataDir, 65534, 65534);
    const started = await waitFor(async () => {
      const r = await server.rest('/v1/jobs', { body: { prompt: 'writable again' } });
      return r.status === 201 ? r : undefined;
    }, 20_000, 'starts to work again');
    const done = await waitFor(async () => {
      const job = await server.rest(`/v1/jobs/${String(started.body.jobId)}`);
      return job.body.status === 'completed' ? job.body : undefined;
    }, 30_000, 'the job to complete');
    assert.equal(done.status, 'completed');
  });
});

// Booting the real server over many job folders, and the modes of what it writes: it listens before
// it has read the folders (answering lists from them meanwhile) and before the retention sweep, and
// every file it keeps is private whatever the umask.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { newJobId } from '../src/jobs/ids.js';
import { tempDir, waitFor } from './support/helpers.js';
import { cleanupAll, faultDirs, faultServer, writeFinished } from './support/faults.js';
import { type RealServer } from './support/server-process.js';
import { needsPosix } from './support/platform.js';

type Job = { jobId: string; status: string };


describe('boot over many job folders', { skip: needsPosix('umask and POSIX file modes; SIGTERM to the server') }, () => {
  it('listens before reading 8,000 folders and before sweeping 6,000 expired ones; lists answer from the folders meanwhile', async (t) => {
    const { dataDir, work, jobsDir } = faultDirs('ca-boot-');
    const now = Date.now();
    const expired = Array.from({ length: 6000 }, (_, i) => newJobId(now - 30 * 86_400_000 + i * 1000));
    const recent = Array.from({ length: 2000 }, (_, i) => newJobId(now - 3_600_000 + i * 1000));
    for (const [i, id] of expired.entries()) writeFinished(jobsDir, id, work, now - 30 * 86_400_000 + i * 1000);
    for (const [i, id] of recent.entries()) writeFinished(jobsDir, id, work, now - 3_600_000 + i * 1000);
    const servers: RealServer[] = [];
    t.after(cleanupAll(servers, dataDir));

    const server = await faultServer(dataDir, work, { CLAUDE_ASYNC_RETENTION: '7d' });
    servers.push(server);
    const first = await server.rest('/v1/jobs?limit=20');
    const rebuiltWhenAnswered = /job index rebuilt/.test(server.logs());
    t.diagnostic(`the first list was answered ${rebuiltWhenAnswered ? 'after' : 'before'} the rebuild finished`);
    assert.equal(first.status, 200);
    assert.deepEqual((first.body.jobs as Job[]).map((j) => j.jobId), [...recent].reverse().slice(0, 20));
    assert.deepEqual([...new Set((first.body.jobs as Job[]).map((j) => j.status))], ['completed']);

    await waitFor(() => /retention sweep removed/.test(server.logs()), 120_000, 'the retention sweep');
    const lines = server.logs().split('\n');
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    assert.ok(at('claude-async listening') >= 0 && at('claude-async listening') < at('job index rebuilt'), 'it listened only after reading the folders');
    assert.ok(at('job index rebuilt') < at('retention sweep removed'), 'the sweep ran before the rebuild');
    assert.equal(fs.readdirSync(jobsDir).filter((n) => /^[0-9a-z]{26}$/.test(n)).length, 2000);
    let listed = 0;
    let cursor: string | undefined;
    do {
      const page = await server.rest(`/v1/jobs?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      listed += (page.body.jobs as Job[]).length;
      cursor = page.body.nextCursor as string | undefined;
    } while (cursor);
    assert.equal(listed, 2000);
  });
});

describe('private files whatever the umask', { skip: needsPosix('umask and POSIX file modes; SIGTERM to the server') }, () => {
  it('under umask 000, with a data dir made 0755 beforehand, every state file is 0600 and every folder 0700', async (t) => {
    if (process.platform === 'win32') {
      t.skip('POSIX modes');
      return;
    }
    const dataDir = tempDir('ca-modes-');
    const work = tempDir('ca-modes-work-');
    fs.chmodSync(dataDir, 0o755);
    fs.mkdirSync(path.join(dataDir, 'jobs'), { mode: 0o755 });
    fs.chmodSync(path.join(dataDir, 'jobs'), 0o755);
    fs.writeFileSync(path.join(dataDir, 'db.json'), '{"version":1,"jobs":{}}', { mode: 0o644 });
    fs.chmodSync(path.join(dataDir, 'db.json'), 0o644);
    const servers: RealServer[] = [];
    t.after(cleanupAll(servers, dataDir, [work]));
    const server = await faultServer(dataDir, work, {}, { umask: 0 });
    servers.push(server);
    const started = await server.rest('/v1/jobs', { body: { prompt: '#fake stderr noise\nprivate' }, headers: { 'Idempotency-Key': 'modes' } });
    assert.equal(started.status, 201);
    await waitFor(async () => (await server.rest(`/v1/jobs/${String(started.body.jobId)}`)).body.status === 'completed', 30_000, 'the job to complete');
    await server.kill('SIGTERM'); // flushes db.json

    const loose: string[] = [];
    const walk = (dir: string) => {
      for (const name of fs.readdirSync(dir)) {
        const file = path.join(dir, name);
        const stat = fs.lstatSync(file);
        const mode = stat.mode & 0o777;
        if (stat.isDirectory()) {
          if (mode !== 0o700) loose.push(`${file} ${mode.toString(8)}`);
          walk(file);
        } else if (mode & 0o077) {
          loose.push(`${file} ${mode.toString(8)}`);
        }
      }
    };
    assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700, 'the data dir was not made 0700');
    walk(dataDir);
    assert.deepEqual(loose, [], 'files or folders others can read');
    for (const expected of ['db.json', 'idempotency', path.join('jobs', String(started.body.jobId), 'out.jsonl'), path.join('jobs', String(started.body.jobId), 'err.log')]) {
      assert.ok(fs.existsSync(path.join(dataDir, expected)), `${expected} was not written, so its mode was not checked`);
    }
  });
});

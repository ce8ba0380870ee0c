// What the runner does with what claude gives it, against the real server process with the fake CLI:
// a huge stream-json line, the real CLI's error result for an unknown session, a cwd swapped for a
// link after the job was accepted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { REPO_ROOT, tempDir, waitFor } from './support/helpers.js';
import { cleanupAll, faultDirs, faultServer, runnerOf } from './support/faults.js';
import { type RealServer } from './support/server-process.js';
import { needsPosix } from './support/platform.js';

type Job = { jobId: string; status: string; statusReason?: string; result?: { result: string; isError: boolean }; tail?: string; exitCode?: number | null };

async function setup(t: { after: (fn: () => unknown) => void }, env: Record<string, string> = {}) {
  const { dataDir, work } = faultDirs('ca-runner-');
  const servers: RealServer[] = [];
  const extra: string[] = [];
  t.after(cleanupAll(servers, dataDir, extra));
  const server = await faultServer(dataDir, work, env);
  servers.push(server);
  return { server, work, extra, jobsDir: path.join(dataDir, 'jobs') };
}

async function ended(server: RealServer, jobId: string, timeoutMs = 60_000): Promise<Job> {
  return waitFor(async () => {
    const j = (await server.rest(`/v1/jobs/${jobId}`)).body as Job;
    return ['queued', 'running'].includes(j.status) ? undefined : j;
  }, timeoutMs, `${jobId} to end`);
}

/** Peak resident memory of a live process, in bytes. */
function peakRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('huge stream-json lines', { skip: needsPosix('kills runners and process groups with signals') }, () => {
  it('a 64 MB line is stored as a marker over the line cap, never held whole: the runner stays small and the job completes', async (t) => {
    if (process.platform !== 'linux') {
      t.skip('reads the runner\'s peak memory from /proc');
      return;
    }
    const { server, work, jobsDir } = await setup(t, { CLAUDE_ASYNC_MAX_LINE_BYTES: '1MB' });
    const go = path.join(work, 'go');
    const res = await server.rest('/v1/jobs', { body: { prompt: `#fake huge-line 67108864\n#fake lines 2\n#fake wait-file ${go}\nafter the huge line` } });
    assert.equal(res.status, 201);
    const jobId = String(res.body.jobId);
    const { runnerPid } = await runnerOf(jobsDir, jobId);
    const out = path.join(jobsDir, jobId, 'out.jsonl');
    await waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('"line 2"'), 120_000, 'the lines after the huge one');
    // The runner is still alive (claude waits for the file): its peak memory tells whether it held the line.
    const peak = peakRss(runnerPid);
    t.diagnostic(`runner peak RSS after a 64 MB line: ${(peak / 1024 / 1024).toFixed(1)} MB`);
    // Holding the line would take 64 MB for it alone, plus a copy while joining it (and node itself);
    // what stays above node's own ~45 MB is read-and-dropped pipe chunks the GC has not returned yet.
    assert.ok(peak < 120 * 1024 * 1024, `the runner peaked at ${(peak / 1024 / 1024).toFixed(1)} MB: it held the line`);
    fs.writeFileSync(go, '');
    const done = await ended(server, jobId);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.result?.result, 'Echo: after the huge line');

    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    assert.ok(lines.every((l) => Buffer.byteLength(l) <= 1024 * 1024), 'a line over the cap was stored');
    const marker = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.subtype === 'line_truncated');
    assert.ok(marker, 'no marker for the huge line');
    assert.ok(Number(marker.bytes) >= 64 * 1024 * 1024, JSON.stringify({ ...marker, head: undefined }));
    assert.match(String(marker.head), /^\{"type":"assistant"/);
    const check = await server.rest(`/v1/jobs/${jobId}/output?format=text`);
    assert.equal(check.status, 200);
    assert.match(check.text, /line cap/);
  });
});

describe('failure reasons from the real CLI', { skip: needsPosix('kills runners and process groups with signals') }, () => {
  it('resuming an unknown session fails with the CLI\'s own words (errors[]), in the reason and the tail', async (t) => {
    // The fake prints exactly what the real CLI printed (test/fixtures/observed/resume-unknown-session.*).
    const observed = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'observed', 'resume-unknown-session.stream.jsonl'), 'utf8')) as Record<string, unknown>;
    assert.equal(observed.result, undefined);
    assert.match(String((observed.errors as string[])[0]), /^No conversation found with session ID: /);

    const { server } = await setup(t);
    const sessionId = randomUUID();
    const res = await server.rest('/v1/jobs', { body: { prompt: '#fake unknown-session\ncontinue', resumeSessionId: sessionId } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const done = await ended(server, String(res.body.jobId));
    assert.equal(done.status, 'failed');
    assert.equal(done.statusReason, `claude reported an error: No conversation found with session ID: ${sessionId}`);
    assert.equal(done.result?.result, `No conversation found with session ID: ${sessionId}`);
    const mcpLike = await server.rest(`/v1/jobs/${String(res.body.jobId)}/output?format=text`);
    assert.match(mcpLike.text, /No conversation found with session ID/);
  });

  it('a failure with nothing in the result nor errors[] is explained by claude\'s stderr', async (t) => {
    const { server } = await setup(t);
    const res = await server.rest('/v1/jobs', { body: { prompt: '#fake stderr API Error: 529 overloaded\n#fake no-result\n#fake exit 1\nx' } });
    const done = await ended(server, String(res.body.jobId));
    assert.equal(done.status, 'failed');
    assert.equal(done.statusReason, 'claude exited with code 1: API Error: 529 overloaded');
  });
});

describe('a cwd swapped after the job was accepted', { skip: needsPosix('kills runners and process groups with signals') }, () => {
  it('a queued job whose cwd became a link outside the roots fails with a clear reason and never runs claude', async (t) => {
    const { server, work, extra, jobsDir } = await setup(t, { CLAUDE_ASYNC_MAX_CONCURRENT: '1' });
    const outside = tempDir('ca-outside-');
    extra.push(outside);
    const sub = path.join(work, 'repo');
    fs.mkdirSync(sub);
    const go = path.join(work, 'go');
    const blocker = await server.rest('/v1/jobs', { body: { prompt: `#fake wait-file ${go}\nblocker` } });
    await runnerOf(jobsDir, String(blocker.body.jobId));
    const swapped = await server.rest('/v1/jobs', { body: { prompt: '#fake cwd\nswapped', cwd: sub } });
    assert.equal(swapped.status, 201);
    const jobId = String(swapped.body.jobId);
    assert.equal((await server.rest(`/v1/jobs/${jobId}`)).body.status, 'queued');
    fs.rmSync(sub, { recursive: true });
    fs.symlinkSync(outside, sub);
    fs.writeFileSync(go, '');

    const done = await ended(server, jobId);
    assert.equal(done.status, 'failed');
    assert.match(String(done.statusReason), /leads outside the allowed roots; the job was not run/);
    assert.doesNotMatch(String(done.statusReason), new RegExp(outside), 'the reason must not show where the link leads');
    assert.equal(fs.existsSync(path.join(jobsDir, jobId, 'out.jsonl')), false, 'claude ran');

    // A link that stays inside the roots runs, in the resolved folder.
    const real = path.join(work, 'real');
    fs.mkdirSync(real);
    fs.rmSync(sub);
    fs.symlinkSync(real, sub);
    const inside = await server.rest('/v1/jobs', { body: { prompt: '#fake cwd\ninside', cwd: sub } });
    const ok = await ended(server, String(inside.body.jobId));
    assert.equal(ok.status, 'completed');
    const log = fs.readFileSync(path.join(jobsDir, String(inside.body.jobId), 'out.jsonl'), 'utf8');
    assert.ok(log.includes(`cwd ${real}`), 'claude must run in the resolved path');
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { ALICE, BOB, ADMIN, openService, tempDir, waitFor, isAlive, FAKE_CLAUDE, testConfig, cleanupJobs } from './helpers.js';
import { JobService } from '../src/jobs/service.js';
import { parseInput, startInputSchema } from '../src/jobs/schemas.js';
import { InvalidInput, JobConflict, JobNotFound, LimitExceeded } from '../src/jobs/errors.js';
import { jobPaths } from '../src/jobs/layout.js';
import type { RunnerRecord } from '../src/jobs/records.js';
import { needsPosix } from './support/platform.js';

const readRunner = (jobsDir: string, jobId: string) =>
  JSON.parse(fs.readFileSync(jobPaths(jobsDir, jobId).runner, 'utf8')) as RunnerRecord;

describe('bad input is refused before it touches anything', { skip: needsPosix('signals process groups (kill -pgid) and checks POSIX file modes') }, () => {
  it('an unknown job id is a clear "no such job" error', async (t) => {
    const { service } = await openService(t);
    await assert.rejects(service.check('01jabcdefghjkmnpqrstvwxyz0', ALICE), (e: unknown) => e instanceof JobNotFound && /No such job/.test((e as Error).message));
  });

  it('path-like ids are rejected as invalid, never looked up', async (t) => {
    const { service, config } = await openService(t);
    fs.writeFileSync(path.join(config.dataDir, 'secret.json'), '{}');
    for (const jobId of ['../secret', 'a/b', '..', `01jabcdefghjkmnpqrstvwx\0z0`, '01JABCDEFGHJKMNPQRSTVWXYZ0', '', '/etc/passwd']) {
      await assert.rejects(service.check(jobId, ALICE), InvalidInput, `accepted ${JSON.stringify(jobId)}`);
      await assert.rejects(service.cancel(jobId, ALICE), InvalidInput);
      await assert.rejects(service.remove(jobId, ALICE), InvalidInput);
    }
    assert.ok(fs.existsSync(path.join(config.dataDir, 'secret.json')));
  });

  it('a cwd outside the allowed roots, or a symlink escaping them, is rejected', async (t) => {
    const { service, config } = await openService(t);
    const outside = tempDir('ca-outside-');
    t.after(() => fs.rmSync(outside, { recursive: true, force: true }));
    const link = path.join(config.defaultCwd, 'escape');
    fs.symlinkSync(outside, link);
    for (const cwd of [outside, link, path.join(config.defaultCwd, '..'), 'relative/dir', path.join(config.defaultCwd, 'missing')]) {
      await assert.rejects(service.start({ prompt: 'hi', cwd }, ALICE), (e: unknown) => e instanceof InvalidInput && e.field === 'cwd', cwd);
    }
    assert.deepEqual(fs.readdirSync(config.jobsDir), []);
  });

  it('an empty, blank or oversized prompt is rejected and creates nothing', async (t) => {
    const { service, config } = await openService(t, { maxPromptBytes: 1000 });
    await assert.rejects(service.start({ prompt: '' }, ALICE), InvalidInput);
    await assert.rejects(service.start({ prompt: '   \n' }, ALICE), InvalidInput);
    await assert.rejects(service.start({ prompt: 'x'.repeat(1001) }, ALICE), LimitExceeded);
    // What every face does first: parse with the shared schema.
    const start = (input: unknown) => service.start(parseInput(startInputSchema, input), ALICE);
    await assert.rejects(async () => start({ prompt: '' }), InvalidInput);
    await assert.rejects(async () => start({ prompt: 'hi', extra: 1 }), InvalidInput);
    await assert.rejects(async () => start({ prompt: 'hi', allowedTools: ['--dangerously-skip-permissions'] }), InvalidInput);
    assert.deepEqual(fs.readdirSync(config.jobsDir), []);
  });

  it('a permission mode above the cap is refused; tailBytes above the maximum is refused', async (t) => {
    const { service } = await openService(t);
    await assert.rejects(service.start({ prompt: 'hi', permissionMode: 'bypassPermissions' }, ALICE), /above this server's maximum/);
    const { jobId } = await service.start({ prompt: 'hi', permissionMode: 'plan' }, ALICE);
    await assert.rejects(service.check(jobId, ALICE, { tailBytes: 10_000_000 }), InvalidInput);
  });

  it('starts per principal per minute are limited with a retry hint', async (t) => {
    const { service } = await openService(t, { maxStartsPerMinute: 2 });
    await service.start({ prompt: 'a' }, ALICE);
    await service.start({ prompt: 'b' }, ALICE);
    await assert.rejects(service.start({ prompt: 'c' }, ALICE), (e: unknown) => e instanceof LimitExceeded && (e.retryAfterSeconds ?? 0) > 0);
    await service.start({ prompt: 'd' }, BOB);
  });
});

describe('faults', { skip: needsPosix('signals process groups (kill -pgid) and checks POSIX file modes') }, () => {
  it('a missing claude binary makes the job failed with a reason, not a crash', async (t) => {
    const { service } = await openService(t, { claudeBin: '/nonexistent/claude' });
    const { jobId } = await service.start({ prompt: 'hi' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'failed');
    assert.match(done.statusReason ?? '', /claude CLI was not found/);
  });

  it('a runner killed with SIGKILL leaves the job orphaned', async (t) => {
    const { service, config } = await openService(t);
    const { jobId } = await service.start({ prompt: '#fake sleep 20000\nslow' }, ALICE);
    await waitFor(() => fs.existsSync(jobPaths(config.jobsDir, jobId).runner) && readRunner(config.jobsDir, jobId).claudePid, 10_000, 'running');
    const runner = readRunner(config.jobsDir, jobId);
    process.kill(runner.runnerPid, 'SIGKILL');
    process.kill(-runner.claudePid!, 'SIGKILL');
    const orphaned = await waitFor(async () => { const c = await service.check(jobId, ALICE); return c.status === 'orphaned' && c; }, 10_000, 'orphaned');
    assert.match(orphaned.statusReason ?? '', /runner process is gone/);
  });

  it('claude killed with SIGKILL makes the job failed with the signal', async (t) => {
    const { service, config } = await openService(t);
    const { jobId } = await service.start({ prompt: '#fake sleep 20000\nslow' }, ALICE);
    const pid = await waitFor(() => fs.existsSync(jobPaths(config.jobsDir, jobId).runner) && readRunner(config.jobsDir, jobId).claudePid, 10_000, 'claude pid');
    process.kill(pid, 'SIGKILL');
    const done = await service.wait(jobId, ALICE, { timeoutMs: 10_000 });
    assert.equal(done.status, 'failed');
    assert.equal(done.signal, 'SIGKILL');
    assert.match(done.statusReason ?? '', /SIGKILL/);
  });

  it('a job past its timeout is timed_out and its whole process group is gone', async (t) => {
    const { service, config } = await openService(t);
    const { jobId } = await service.start({ prompt: '#fake grandchild\n#fake ignore-sigterm\n#fake sleep 60000', timeoutSeconds: 3 }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'timed_out');
    const grandchild = Number(/grandchild pid (\d+)/.exec(done.tail)?.[1]);
    assert.ok(grandchild > 0, done.tail);
    assert.equal(isAlive(grandchild), false, 'grandchild survived the timeout');
    assert.equal(isAlive(readRunner(config.jobsDir, jobId).claudePid!), false);
  });

  it('claude hanging after its result is ended by the watchdog and the job completes by its result', async (t) => {
    const { service } = await openService(t, { resultWatchdogMs: 500 });
    const { jobId } = await service.start({ prompt: '#fake hang-after-result\nall good' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.result?.result, 'Echo: all good');
    assert.match(done.statusReason ?? '', /watchdog/);
  });

  it('an error result makes the job failed with the result text', async (t) => {
    const { service } = await openService(t);
    const { jobId } = await service.start({ prompt: '#fake fail' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'failed');
    assert.equal(done.exitCode, 1);
    assert.equal(done.result?.isError, true);
  });

  it('a not-logged-in claude reads as failed with its message', async (t) => {
    const { service } = await openService(t, {}, { ...process.env, FAKE_CLAUDE_LOGGED_OUT: '1' });
    // FAKE_CLAUDE_LOGGED_OUT is not on the allowlist: pass it the way an operator would.
    await service.close();
    const { service: s2, config } = await openService(t, { jobEnvNames: ['FAKE_CLAUDE_LOGGED_OUT'] }, { ...process.env, FAKE_CLAUDE_LOGGED_OUT: '1' });
    void config;
    const { jobId } = await s2.start({ prompt: 'hi' }, ALICE);
    const done = await s2.wait(jobId, ALICE, { timeoutMs: 15_000 });
    assert.equal(done.status, 'failed');
    assert.match(done.statusReason ?? '', /Not logged in/);
  });

  it('the log cap stops the log growing, records the cap, and the job still completes', async (t) => {
    const { service, config } = await openService(t, { maxLogBytes: 50_000 });
    const { jobId } = await service.start({ prompt: '#fake bytes 400000\nbig' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 20_000 });
    assert.equal(done.status, 'completed');
    assert.equal(done.logCapped, true);
    const size = fs.statSync(jobPaths(config.jobsDir, jobId).out).size;
    assert.ok(size <= 50_000 + 2_000, `log is ${size} bytes`);
    assert.equal(done.result?.result, 'Echo: big');
    assert.match(done.tail, /log capped/);
  });

  it('the server process killed mid-job: after a restart the job completes with its whole output', async (t) => {
    const config = testConfig();
    const script = `
      import { JobService } from ${JSON.stringify(new URL('../src/jobs/service.js', import.meta.url).href)};
      const config = JSON.parse(process.argv[1]);
      const service = await JobService.open(config);
      const { jobId } = await service.start({ prompt: '#fake tick 15 100\\nsurvivor' }, { id: 'alice', admin: false });
      console.log(jobId);
      setInterval(() => {}, 1000);`;
    const server = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const jobId = await new Promise<string>((resolve) => server.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    await waitFor(() => fs.existsSync(jobPaths(config.jobsDir, jobId).runner), 10_000, 'runner claimed');
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    const service = await JobService.open(config);
    t.after(() => service.close().then(() => cleanupJobs(config)));
    const done = await service.wait(jobId, ALICE, { timeoutMs: 20_000, tailBytes: 60_000 });
    assert.equal(done.status, 'completed');
    for (let i = 1; i <= 15; i++) assert.match(done.tail, new RegExp(`tick ${i}\\b`));
    assert.equal(done.result?.result, 'Echo: survivor');
  });

  it('50 jobs started at once: 50 distinct ids, none lost, never more than MAX_CONCURRENT running', async (t) => {
    const { service, config } = await openService(t, { maxConcurrent: 3 });
    const starts = await Promise.all(Array.from({ length: 50 }, (_, i) => service.start({ prompt: `#fake sleep 100\njob ${i}` }, ALICE)));
    assert.equal(new Set(starts.map((s) => s.jobId)).size, 50);
    let maxRunning = 0;
    await waitFor(async () => {
      let running = 0;
      for (const { jobId } of starts) {
        const p = jobPaths(config.jobsDir, jobId);
        if (fs.existsSync(p.runner) && !fs.existsSync(p.exit)) {
          const r = readRunner(config.jobsDir, jobId);
          if (isAlive(r.runnerPid)) running++;
        }
      }
      maxRunning = Math.max(maxRunning, running);
      return starts.every(({ jobId }) => fs.existsSync(jobPaths(config.jobsDir, jobId).exit));
    }, 90_000, 'all 50 jobs to end');
    assert.ok(maxRunning <= 3, `saw ${maxRunning} running`);
    for (const { jobId } of starts) assert.equal((await service.check(jobId, ALICE)).status, 'completed');
    const all = await service.list(ALICE, { limit: 200 });
    assert.equal(all.jobs.length, 50);
  });
});

describe('ownership, cancel, remove, queue', { skip: needsPosix('signals process groups (kill -pgid) and checks POSIX file modes') }, () => {
  it('a principal sees only its own jobs; another owner\'s id reads as unknown; admin sees all', async (t) => {
    const { service } = await openService(t);
    const a = await service.start({ prompt: 'a' }, ALICE);
    const b = await service.start({ prompt: 'b' }, BOB);
    await assert.rejects(service.check(a.jobId, BOB), JobNotFound);
    await assert.rejects(service.cancel(a.jobId, BOB), JobNotFound);
    assert.deepEqual((await service.list(ALICE)).jobs.map((j) => j.jobId), [a.jobId]);
    assert.deepEqual((await service.list(ADMIN)).jobs.map((j) => j.jobId), [b.jobId, a.jobId]);
  });

  it('cancel stops a running job (cancelled) and a queued one never runs', async (t) => {
    const { service, config } = await openService(t, { maxConcurrent: 1 });
    const running = await service.start({ prompt: '#fake sleep 30000' }, ALICE);
    const queued = await service.start({ prompt: 'never' }, ALICE);
    await waitFor(async () => (await service.check(running.jobId, ALICE)).status === 'running' && fs.existsSync(jobPaths(config.jobsDir, running.jobId).runner), 10_000);
    assert.equal((await service.check(queued.jobId, ALICE)).status, 'queued');
    const q = await service.cancel(queued.jobId, ALICE);
    assert.deepEqual([q.status, q.cancelled], ['cancelled', true]);
    const r = await service.cancel(running.jobId, ALICE);
    assert.deepEqual([r.status, r.cancelled], ['cancelled', true]);
    const again = await service.cancel(running.jobId, ALICE);
    assert.equal(again.cancelled, false);
    assert.equal(fs.existsSync(jobPaths(config.jobsDir, queued.jobId).out), false, 'the cancelled queued job ran');
  });

  it('remove refuses a running job and removes a finished one', async (t) => {
    const { service, config } = await openService(t);
    const slow = await service.start({ prompt: '#fake sleep 30000' }, ALICE);
    await assert.rejects(service.remove(slow.jobId, ALICE), JobConflict);
    const quick = await service.start({ prompt: 'quick' }, ALICE);
    await service.wait(quick.jobId, ALICE, { timeoutMs: 10_000 });
    await service.remove(quick.jobId, ALICE);
    assert.equal(fs.existsSync(jobPaths(config.jobsDir, quick.jobId).dir), false);
    await assert.rejects(service.check(quick.jobId, ALICE), JobNotFound);
  });

  it('queued jobs survive a restart and are dispatched on boot, in order', async (t) => {
    const config = testConfig({ maxConcurrent: 1 });
    const first = await JobService.open(config);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await first.start({ prompt: `#fake sleep 200\nq${i}` }, ALICE)).jobId);
    await first.close();
    const second = await JobService.open(config);
    t.after(() => second.close().then(() => cleanupJobs(config)));
    for (const jobId of ids) assert.equal((await second.wait(jobId, ALICE, { timeoutMs: 20_000 })).status, 'completed');
    const starts = ids.map((jobId) => readRunner(config.jobsDir, jobId).startedAt);
    assert.deepEqual([...starts].sort((a, b) => a - b), starts, 'dispatched out of order');
  });

  it('retention removes ended jobs past their age and keeps the rest', async (t) => {
    const { service } = await openService(t, { retentionMs: 60_000 });
    const { jobId } = await service.start({ prompt: 'old' }, ALICE);
    await service.wait(jobId, ALICE, { timeoutMs: 10_000 });
    assert.equal(await service.sweep(Date.now()), 0);
    assert.equal(await service.sweep(Date.now() + 120_000), 1);
    await assert.rejects(service.check(jobId, ALICE), JobNotFound);
  });
});

describe('what a job gets', { skip: needsPosix('signals process groups (kill -pgid) and checks POSIX file modes') }, () => {
  it('server secrets never reach a job; allowlisted and named variables do', async (t) => {
    const env = { ...process.env, CLAUDE_ASYNC_TOKEN: 'cas_supersecret_value', MY_DB_PASSWORD: 'hunter2', ANTHROPIC_BASE_URL: 'http://anthropic.test', TEAM_FLAG: 'on' };
    const { service } = await openService(t, { jobEnvNames: ['TEAM_FLAG'] }, env);
    const { jobId } = await service.start({ prompt: '#fake env CLAUDE_ASYNC_TOKEN\n#fake env MY_DB_PASSWORD\n#fake env ANTHROPIC_BASE_URL\n#fake env TEAM_FLAG' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 10_000 });
    assert.match(done.tail, /env CLAUDE_ASYNC_TOKEN=<unset>/);
    assert.match(done.tail, /env MY_DB_PASSWORD=<unset>/);
    assert.match(done.tail, /env ANTHROPIC_BASE_URL=http:\/\/anthropic.test/);
    assert.match(done.tail, /env TEAM_FLAG=on/);
    assert.doesNotMatch(done.tail, /supersecret|hunter2/);
  });

  it('the prompt goes to stdin, never argv; options become flags; resume keeps the session id', async (t) => {
    const { service, config } = await openService(t, { grantableTools: ['Edit', 'Bash(git log:*)'] });
    const sessionId = '3f1c2a9e-1111-4222-8333-444455556666';
    const prompt = 'SECRET-PROMPT-TEXT with --flags inside';
    const { jobId } = await service.start({ prompt, resumeSessionId: sessionId, allowedTools: ['Edit', 'Bash(git log:*)'], model: 'sonnet', effort: 'high', maxTurns: 3, appendSystemPrompt: '-starts with a dash' }, ALICE);
    const done = await service.wait(jobId, ALICE, { timeoutMs: 10_000 });
    assert.equal(done.status, 'completed', done.statusReason);
    assert.equal(done.result?.sessionId, sessionId);
    const spec = fs.readFileSync(jobPaths(config.jobsDir, jobId).spec, 'utf8');
    assert.doesNotMatch(spec, /SECRET-PROMPT-TEXT/);
    assert.equal(fs.readFileSync(jobPaths(config.jobsDir, jobId).prompt, 'utf8'), prompt);
  });

  it('job folders and files are private to the server user', async (t) => {
    const { service, config } = await openService(t);
    const { jobId } = await service.start({ prompt: 'hi' }, ALICE);
    await service.wait(jobId, ALICE, { timeoutMs: 10_000 });
    const p = jobPaths(config.jobsDir, jobId);
    assert.equal(fs.statSync(config.jobsDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(p.dir).mode & 0o777, 0o700);
    for (const f of [p.spec, p.prompt, p.runner, p.out, p.exit]) assert.equal(fs.statSync(f).mode & 0o077, 0, f);
  });
});

void FAKE_CLAUDE;

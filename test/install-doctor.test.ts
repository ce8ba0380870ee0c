import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultProbes, runDoctor, type CheckResult, type DoctorProbes } from '../src/cli/doctor.js';
import { FAKE_CLAUDE, tempDir } from './support/helpers.js';
import { SERVER_BIN } from './support/server-process.js';
import { needsPosix } from './support/platform.js';

const run = promisify(execFile);
/** A working set-up in a temp folder: the fake claude, a data dir, a work root, a token. */
function goodEnv(t: TestContext): Record<string, string> {
  const dir = tempDir('ca-doctor-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'work'));
  return {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    CLAUDE_ASYNC_DATA_DIR: path.join(dir, 'data'),
    CLAUDE_ASYNC_CLAUDE_BIN: FAKE_CLAUDE,
    CLAUDE_ASYNC_DEFAULT_CWD: path.join(dir, 'work'),
    CLAUDE_ASYNC_TOKEN: 'cas_doctor_token_0123456789',
  };
}

function probes(env: Record<string, string>, overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return { ...defaultProbes(), env, cwd: env.HOME!, uid: 1000, ...overrides };
}

const levelOf = (results: CheckResult[], name: string) => results.filter((r) => r.name === name).map((r) => r.level);
const failed = (results: CheckResult[]) => results.filter((r) => r.level === 'fail').map((r) => r.name);

describe('doctor', { skip: needsPosix('checks POSIX folder modes and runs the fake CLI by its shebang') }, () => {
  it('passes a good set-up, naming the claude version it found', async (t) => {
    const results = await runDoctor(probes(goodEnv(t)));
    assert.deepEqual(failed(results), []);
    assert.match(results.find((r) => r.name === 'claude --version')!.detail, /2\.1\.\d+ \(Claude Code\)/);
    assert.deepEqual(levelOf(results, 'auth'), ['ok']);
    assert.deepEqual(levelOf(results, 'public URL'), ['ok']);
  });

  it('fails a bad set-up and says what to fix for each problem', async (t) => {
    const env = goodEnv(t);
    fs.writeFileSync(path.join(env.HOME!, 'not-a-dir'), '');
    const results = await runDoctor(probes({
      ...env,
      CLAUDE_ASYNC_CLAUDE_BIN: path.join(env.HOME!, 'no-such-claude'),
      CLAUDE_ASYNC_DATA_DIR: path.join(env.HOME!, 'not-a-dir'),
      CLAUDE_ASYNC_ALLOWED_ROOTS: path.join(env.HOME!, 'gone'),
      CLAUDE_ASYNC_AUTH: 'none',
      CLAUDE_ASYNC_HOST: '0.0.0.0',
      CLAUDE_ASYNC_PUBLIC_URL: 'http://box.example.com',
    }));
    assert.deepEqual(failed(results).sort(), ['allowed root', 'auth', 'claude', 'data dir', 'default cwd']);
    assert.deepEqual(levelOf(results, 'public URL'), ['warn']);
    for (const r of results.filter((x) => x.level !== 'ok')) assert.ok(r.fix, `${r.name} says what to fix`);
  });

  it('fails when claude --version does not answer, and reports a bad variable by name', async (t) => {
    const env = goodEnv(t);
    const hung = await runDoctor(probes(env, { claudeVersion: () => Promise.reject(new Error('no answer within 15 s')) }));
    assert.deepEqual(failed(hung), ['claude --version']);
    const bad = await runDoctor(probes({ ...env, CLAUDE_ASYNC_PORT: 'eighty' }));
    assert.deepEqual(failed(bad), ['config']);
    assert.match(bad.find((r) => r.name === 'config')!.detail, /CLAUDE_ASYNC_PORT/);
  });

  it('warns about a data dir other users can read, and about running as root', async (t) => {
    const env = goodEnv(t);
    fs.mkdirSync(env.CLAUDE_ASYNC_DATA_DIR!, { mode: 0o755 });
    fs.chmodSync(env.CLAUDE_ASYNC_DATA_DIR!, 0o755);
    const results = await runDoctor(probes(env, { uid: 0 }));
    assert.deepEqual(levelOf(results, 'data dir'), ['warn']);
    assert.match(results.find((r) => r.name === 'data dir')!.fix!, /chmod 700/);
    assert.deepEqual(levelOf(results, 'user'), ['warn']);
  });

  it('exits 0 on a good set-up and 1 on a bad one from the command line', async (t) => {
    const env = goodEnv(t);
    const good = await run(process.execPath, [SERVER_BIN, 'doctor'], { env, cwd: env.HOME });
    assert.match(good.stdout, /^ok\s+claude --version/m);
    await assert.rejects(run(process.execPath, [SERVER_BIN, 'doctor'], { env: { ...env, CLAUDE_ASYNC_CLAUDE_BIN: 'no-such-claude-binary' }, cwd: env.HOME }), (error: { code: number; stdout: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stdout, /^fail\s+claude\s+'no-such-claude-binary' was not found on PATH/m);
      assert.match(error.stdout, /fix: install it with `npm i -g @anthropic-ai\/claude-code`/);
      return true;
    });
  });

  it('fails when claude is installed but not logged in, and says how to log in or which variable to set', async (t) => {
    const env = goodEnv(t);
    const good = await runDoctor(probes(env));
    assert.deepEqual(levelOf(good, 'claude login'), ['ok']);
    // The check asks with the environment a job gets, so the fake's switch must be passed to jobs.
    const results = await runDoctor(probes({ ...env, FAKE_CLAUDE_LOGGED_OUT: '1', CLAUDE_ASYNC_JOB_ENV: 'FAKE_CLAUDE_LOGGED_OUT' }));
    assert.deepEqual(failed(results), ['claude login']);
    const login = results.find((r) => r.name === 'claude login')!;
    assert.match(login.detail, /not logged in/);
    assert.match(login.fix!, /claude auth login/);
    assert.match(login.fix!, /ANTHROPIC_API_KEY/);
    assert.match(login.fix!, /CLAUDE_CODE_OAUTH_TOKEN/);
    const cli = await run(process.execPath, [SERVER_BIN, 'doctor'], { env: { ...env, FAKE_CLAUDE_LOGGED_OUT: '1', CLAUDE_ASYNC_JOB_ENV: 'FAKE_CLAUDE_LOGGED_OUT' }, cwd: env.HOME }).then(() => null, (e: { code: number; stdout: string }) => e);
    assert.ok(cli, 'doctor must exit 1 when claude is not logged in');
    assert.equal(cli.code, 1);
    assert.doesNotMatch(cli.stdout, /All checks passed/);
  });

  it('binding 0.0.0.0 without CLAUDE_ASYNC_PUBLIC_URL: doctor fails and serve refuses to start, naming the variable', async (t) => {
    const env: Record<string, string> = { ...goodEnv(t), CLAUDE_ASYNC_HOST: '0.0.0.0', CLAUDE_ASYNC_PORT: '0' };
    const results = await runDoctor(probes(env));
    assert.deepEqual(failed(results), ['public URL']);
    assert.match(results.find((r) => r.name === 'public URL')!.fix!, /CLAUDE_ASYNC_PUBLIC_URL/);
    const serve = await run(process.execPath, [SERVER_BIN, 'serve'], { env, cwd: env.HOME, timeout: 30_000 }).then(() => null, (e: { code: number; stdout: string; stderr: string }) => e);
    assert.ok(serve, 'serve must refuse to start');
    assert.notEqual(serve.code, 0);
    assert.match(serve.stdout + serve.stderr, /CLAUDE_ASYNC_PUBLIC_URL/);
    assert.doesNotMatch(serve.stdout + serve.stderr, /listening/);
    // With the variable set, the same bind is fine.
    const fine = await runDoctor(probes({ ...env, CLAUDE_ASYNC_PUBLIC_URL: 'https://box.example.com' }));
    assert.deepEqual(levelOf(fine, 'public URL'), ['ok']);
  });
});

// The fake CLI must behave like the real one where the engine depends on it (docs/design.md, "The CLI contract").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { FAKE_CLAUDE, REPO_ROOT } from './support/helpers.js';
import { needsPosix } from './support/platform.js';

/** Runs the fake; with `signal`, sends it once the fake has printed its init line (its handlers are set by then). */
function run(args: string[], stdin: string, opts: { signal?: NodeJS.Signals; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(FAKE_CLAUDE, args, { env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (opts.signal && !signalled && stdout.includes('"subtype":"init"')) {
        signalled = true;
        child.kill(opts.signal);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const STREAM = ['-p', '--output-format', 'stream-json', '--verbose'];

describe('the fake claude CLI keeps the real one\'s contract', { skip: needsPosix('starts the fake CLI by its shebang and signals it') }, () => {
  it('reads the prompt from stdin and prints init … result stream-json lines', async () => {
    const { code, stdout } = await run(STREAM, 'hello');
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual([lines[0]!.type, lines[0]!.subtype], ['system', 'init']);
    assert.equal(lines[lines.length - 1]!.type, 'result');
  });

  it('its result line carries every field the real CLI\'s does that the engine reads', async () => {
    const observed = fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'observed', 'not-logged-in.jsonl'), 'utf8').trim().split('\n');
    const real = JSON.parse(observed[observed.length - 1]!) as Record<string, unknown>;
    const { stdout } = await run(STREAM, 'x', { env: { ...process.env, FAKE_CLAUDE_LOGGED_OUT: '1' } });
    const fakeLines = stdout.trim().split('\n');
    const fake = JSON.parse(fakeLines[fakeLines.length - 1]!) as Record<string, unknown>;
    for (const key of ['type', 'subtype', 'is_error', 'result', 'session_id', 'total_cost_usd', 'num_turns', 'duration_ms', 'usage']) {
      assert.ok(key in real, `the real CLI no longer prints ${key}`);
      assert.equal(typeof fake[key], typeof real[key], key);
    }
    assert.equal(fake.result, real.result);
    assert.equal(fake.is_error, true);
  });

  it('stream-json without --verbose, or an unknown flag, is an error on stderr with exit 1', async () => {
    const noVerbose = await run(['-p', '--output-format', 'stream-json'], 'x');
    assert.equal(noVerbose.code, 1);
    assert.match(noVerbose.stderr, /requires --verbose/);
    const bad = await run([...STREAM, '--bogus'], 'x');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown option '--bogus'/);
  });

  it('SIGTERM ends it with 143 and nothing more printed; SIGINT gives an error_during_execution result and 0', async () => {
    const term = await run(STREAM, '#fake sleep 10000', { signal: 'SIGTERM' });
    assert.equal(term.code, 143);
    assert.doesNotMatch(term.stdout, /"type":"result"/);
    const int = await run(STREAM, '#fake sleep 10000', { signal: 'SIGINT' });
    assert.equal(int.code, 0);
    assert.match(int.stdout, /"subtype":"error_during_execution"/);
  });

  it('--resume keeps the session id; list options swallow words (which is why the prompt is on stdin)', async () => {
    const { stdout } = await run([...STREAM, '--resume', 'abc-123-def', '--allowedTools', 'Edit', 'Read'], 'go');
    assert.match(stdout, /"session_id":"abc-123-def"/);
    const swallowed = await run([...STREAM, '--allowedTools', 'Edit', 'this was meant as the prompt'], '');
    assert.equal(swallowed.code, 1);
  });

  it('resuming a session it does not know answers as the real CLI did (observed/resume-unknown-session.*)', async () => {
    const observedDir = path.join(REPO_ROOT, 'test', 'fixtures', 'observed');
    const observed = JSON.parse(fs.readFileSync(path.join(observedDir, 'resume-unknown-session.stream.jsonl'), 'utf8')) as Record<string, unknown>;
    const sessionId = '0b6c8f4e-1d2a-4f4e-9a55-3b1f2c7d9e10';
    const { code, stdout, stderr } = await run([...STREAM, '--resume', sessionId], '#fake unknown-session\ncontinue');
    assert.equal(code, 1);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1, 'the real CLI prints no init line here');
    const line = lines[0]!;
    for (const key of ['type', 'subtype', 'is_error', 'errors', 'session_id', 'num_turns']) assert.deepEqual(typeof line[key], typeof observed[key], key);
    assert.equal('result' in line, 'result' in observed);
    assert.deepEqual([line.subtype, line.is_error], [observed.subtype, observed.is_error]);
    assert.deepEqual(line.errors, [`No conversation found with session ID: ${sessionId}`]);
    const observedErr = fs.readFileSync(path.join(observedDir, 'resume-unknown-session.stderr.txt'), 'utf8');
    assert.equal(stderr.replace(sessionId, '<id>'), observedErr.replace(String(observed.session_id), '<id>'));
  });

  it('answers `auth status` like the real CLI: JSON with loggedIn, exit 1 when logged out', async () => {
    const observed = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'observed', 'auth-status-logged-out.json'), 'utf8')) as Record<string, unknown>;
    const out = await run(['auth', 'status'], '', { env: { ...process.env, FAKE_CLAUDE_LOGGED_OUT: '1' } });
    assert.equal(out.code, 1);
    const status = JSON.parse(out.stdout) as Record<string, unknown>;
    assert.deepEqual([status.loggedIn, status.authMethod], [observed.loggedIn, observed.authMethod]);
    const inside = await run(['auth', 'status'], '');
    assert.equal(inside.code, 0);
    assert.equal((JSON.parse(inside.stdout) as { loggedIn: boolean }).loggedIn, true);
  });
});

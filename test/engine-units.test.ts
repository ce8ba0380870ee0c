import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deriveStatus, type JobFacts } from '../src/jobs/status.js';
import { isJobId, jobIdTime, newJobId } from '../src/jobs/ids.js';
import { parseResultLine, readTail, renderLine } from '../src/jobs/output.js';
import { processHost } from '../src/jobs/process/index.js';
import { claudeArgs } from '../src/jobs/claude-args.js';
import { LineSplitter } from '../src/jobs/line-splitter.js';
import { jobEnvironment } from '../src/jobs/environment.js';
import type { ExitRecord, RunnerRecord } from '../src/jobs/records.js';
import { REPO_ROOT, tempDir } from './support/helpers.js';

const runner: RunnerRecord = { runnerPid: 123, runnerStartTime: '456', startedAt: 1 };
const exit = (over: Partial<ExitRecord>): ExitRecord => ({ reason: 'exited', exitCode: 0, signal: null, endedAt: 2, logCapped: false, watchdog: false, result: null, ...over });
const facts = (over: Partial<JobFacts>): JobFacts => ({ spec: 'ok', runner: null, exit: null, runnerAlive: false, ...over });
const okResult = { result: 'done', sessionId: 's', isError: false, subtype: 'success', costUsd: 0, numTurns: 1, durationMs: 5 };

describe('status derivation (pure)', () => {
  it('follows the rules in docs/design.md ("Status")', () => {
    assert.equal(deriveStatus(facts({})).status, 'queued');
    assert.equal(deriveStatus(facts({ runner, runnerAlive: true })).status, 'running');
    assert.equal(deriveStatus(facts({ runner, runnerAlive: false })).status, 'orphaned');
    assert.equal(deriveStatus(facts({ exit: exit({ result: okResult }) })).status, 'completed');
    assert.equal(deriveStatus(facts({ exit: exit({ result: { ...okResult, isError: true } }) })).status, 'failed');
    assert.equal(deriveStatus(facts({ exit: exit({ exitCode: 1 }) })).status, 'failed');
    assert.equal(deriveStatus(facts({ exit: exit({ exitCode: null, signal: 'SIGKILL' }) })).reason, 'claude was killed by SIGKILL');
    assert.equal(deriveStatus(facts({ exit: exit({ reason: 'cancelled', exitCode: 143 }) })).status, 'cancelled');
    assert.equal(deriveStatus(facts({ exit: exit({ reason: 'timed_out', exitCode: 143 }) })).status, 'timed_out');
    assert.equal(deriveStatus(facts({ exit: exit({ exitCode: 143, watchdog: true, result: okResult }) })).status, 'completed');
    assert.equal(deriveStatus(facts({ exit: exit({ exitCode: null, error: 'the claude CLI was not found' }) })).reason, 'the claude CLI was not found');
    assert.equal(deriveStatus(facts({ exit: 'unreadable' })).status, 'unknown');
    assert.equal(deriveStatus(facts({ spec: 'missing' })).status, 'unknown');
    assert.equal(deriveStatus(facts({ runner: 'unreadable' })).status, 'unknown');
  });

  it('a live pid with another start time is not our runner (pid reuse)', () => {
    const mine = processHost.startTime(process.pid);
    assert.ok(mine);
    assert.equal(processHost.isSameProcessAlive(process.pid, mine), true);
    assert.equal(processHost.isSameProcessAlive(process.pid, `${mine}0`), false);
    assert.equal(processHost.isSameProcessAlive(2 ** 22 + 7, mine), false);
  });
});

describe('job ids', () => {
  it('are time-ordered, distinct, URL-safe and never path-like', () => {
    const ids = Array.from({ length: 2000 }, () => newJobId());
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids.slice(0, 50)) assert.ok(isJobId(id) && /^[0-9a-z]+$/.test(id));
    assert.ok(Math.abs(jobIdTime(ids[0]!) - Date.now()) < 5000);
    for (const bad of ['../x', 'a/b', '', `${ids[0]!}/`, ids[0]!.toUpperCase(), `${ids[0]!.slice(0, 25)}\0`]) assert.equal(isJobId(bad), false);
  });
});

describe('output rendering and tails', () => {
  it('renders assistant text, one line per tool use, and the result', () => {
    assert.equal(renderLine(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'Hi' }, { type: 'tool_use', name: 'Bash', input: { command: 'npm test' } }] } })), 'Hi\n→ Bash: npm test');
    assert.equal(renderLine(JSON.stringify({ type: 'user', message: { content: [{ type: 'tool_result' }] } })), null);
    assert.match(renderLine(JSON.stringify({ type: 'result', is_error: true, result: 'boom' }))!, /\[result \(error\)\] boom/);
  });

  it('parses the result line the real CLI printed', () => {
    const lines = fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'observed', 'not-logged-in.jsonl'), 'utf8').trim().split('\n');
    const summary = parseResultLine(JSON.parse(lines[lines.length - 1]!));
    assert.equal(summary?.isError, true);
    assert.equal(summary?.result, 'Not logged in · Please run /login');
    assert.match(summary?.sessionId ?? '', /^[0-9a-f-]{36}$/);
  });

  it('reads only the end of a big log, and offsets page forward over whole lines', async (t) => {
    const dir = tempDir();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'out.jsonl');
    const line = (i: number) => `${JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: `line ${i}` }] } })}\n`;
    fs.writeFileSync(file, Array.from({ length: 5000 }, (_, i) => line(i)).join('') + '{"type":"assist');
    const tail = await readTail(file, { tailBytes: 30 });
    assert.match(tail.tail, /line 4999$/);
    assert.doesNotMatch(tail.tail, /line 4990\n/);
    assert.equal(tail.hasMore, true, 'the half-written last line is not consumed');
    let offset = 0;
    const seen: string[] = [];
    for (let guard = 0; guard < 10_000; guard++) {
      const page = await readTail(file, { tailBytes: 4000, offset });
      if (page.tail) seen.push(...page.tail.split('\n'));
      if (page.nextOffset === offset) break;
      offset = page.nextOffset;
    }
    assert.equal(seen.length, 5000);
    assert.equal(seen[4999], 'line 4999');
  });
});

describe('what claude is given', () => {
  it('options become flags; the prompt never does', () => {
    const args = claudeArgs({ permissionMode: 'plan', model: 'sonnet', allowedTools: ['Edit', 'Bash(git log:*)'], appendSystemPrompt: '-x', maxTurns: 3 });
    assert.deepEqual(args.slice(0, 4), ['-p', '--output-format', 'stream-json', '--verbose']);
    assert.ok(args.includes('--append-system-prompt=-x'));
    assert.deepEqual(args.slice(args.indexOf('--allowedTools')), ['--allowedTools', 'Edit', 'Bash(git log:*)']);
    assert.equal(claudeArgs({ permissionMode: 'default' }).includes('--permission-mode'), false);
  });

  it('the job environment is an allowlist', () => {
    const env = jobEnvironment({ PATH: '/bin', HOME: '/h', ANTHROPIC_API_KEY: 'k', CLAUDE_ASYNC_TOKEN: 't', AWS_SECRET_ACCESS_KEY: 'a', DATABASE_URL: 'd', EXTRA: 'e' }, ['EXTRA']);
    assert.deepEqual(Object.keys(env).sort(), ['ANTHROPIC_API_KEY', 'AWS_SECRET_ACCESS_KEY', 'EXTRA', 'HOME', 'PATH']);
  });
});

describe('status when the runner died (pure)', () => {
  it('claude alive → running; a logged result decides; nothing alive and no result → orphaned; a stopped log is named', () => {
    assert.equal(deriveStatus(facts({ runner, runnerAlive: false, claudeAlive: true })).status, 'running');
    const judged = deriveStatus(facts({ runner, runnerAlive: false, claudeAlive: false, logResult: okResult }));
    assert.equal(judged.status, 'completed');
    assert.match(String(judged.reason), /judged by the result line/);
    assert.equal(deriveStatus(facts({ runner, runnerAlive: false, claudeAlive: false, logResult: { ...okResult, isError: true, result: 'boom' } })).status, 'failed');
    assert.equal(deriveStatus(facts({ runner, runnerAlive: false, claudeAlive: false, logResult: null })).status, 'orphaned');
    const full = deriveStatus(facts({ exit: exit({ result: okResult, logStopped: { reason: 'disk full', atBytes: 42 } }) }));
    assert.deepEqual([full.status, /^disk full: the log stopped after 42 bytes/.test(String(full.reason))], ['completed', true]);
    assert.equal(parseResultLine({ type: 'result', is_error: true, errors: ['No conversation found with session ID: x'] })?.result, 'No conversation found with session ID: x');
  });
});

describe('line splitting (pure)', () => {
  const collect = (max: number, chunks: Buffer[]) => {
    const lines: string[] = [];
    const long: Array<{ head: string; bytes: number }> = [];
    const splitter = new LineSplitter(max, {
      lines: (batch) => lines.push(...batch.toString('utf8').split('\n').slice(0, -1)),
      longLine: (head, bytes) => long.push({ head: head.toString('utf8'), bytes }),
    });
    for (const chunk of chunks) splitter.push(chunk);
    splitter.end();
    return { lines, long };
  };
  const chop = (text: string, sizes: number[]) => {
    const buf = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < buf.length; i++) {
      const n = sizes[i % sizes.length]!;
      chunks.push(buf.subarray(at, at + n));
      at += n;
    }
    return chunks;
  };

  it('gives the same whole lines however the stream is chopped, the last one even without its newline', () => {
    const text = ['a', '', 'bbb', 'c'.repeat(500), 'dd'].join('\n');
    for (const sizes of [[1], [2, 3], [7], [64], [10_000]]) {
      assert.deepEqual(collect(1000, chop(text, sizes)).lines, ['a', '', 'bbb', 'c'.repeat(500), 'dd'], `chunks of ${sizes.join(',')}`);
    }
  });

  it('hands on a line over the cap as its head and length only, and goes on with the next lines', () => {
    const text = `short\n${'x'.repeat(5000)}\nafter\n`;
    for (const sizes of [[1], [3, 7], [100], [10_000]]) {
      const { lines, long } = collect(1000, chop(text, sizes));
      assert.deepEqual(lines, ['short', 'after'], `chunks of ${sizes.join(',')}`);
      assert.equal(long.length, 1);
      assert.equal(long[0]!.bytes, 5000);
      assert.ok(long[0]!.head.length <= 2048 && /^x+$/.test(long[0]!.head));
    }
  });
});

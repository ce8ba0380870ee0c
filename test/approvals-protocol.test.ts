// The approval protocol between claude and our stdio approval server, with the fake CLI speaking
// the real CLI's side: a question lands in the job folder, an answer file decides, silence denies.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { approvalArgs, approvalArgsAt, PERMISSION_PROMPT_TOOL } from '../src/approvals/mcp-config.js';
import { readAnswer, readPendingQuestions, writeAnswerOnce } from '../src/approvals/files.js';
import { FAKE_CLAUDE, tempDir, waitFor } from './support/helpers.js';

/** Runs the fake with approvals on, in a job folder of its own; `done` resolves with its stdout lines once it exits. Both end with the test. */
function runFake(t: { after: (fn: () => unknown) => void }, prompt: string, timeoutMs: number) {
  const jobDir = tempDir();
  t.after(() => fs.rmSync(jobDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [FAKE_CLAUDE, '-p', '--output-format', 'stream-json', '--verbose', ...approvalArgs(jobDir, timeoutMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  t.after(() => child.kill('SIGKILL'));
  child.stdin.end(prompt);
  const done = new Promise<{ code: number | null; lines: Record<string, unknown>[]; err: string }>((resolve) => {
    child.once('exit', (code) => setImmediate(() => resolve({ code, err, lines: out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) })));
  });
  return { jobDir, done, out: () => out };
}

/** The first question the fake asked, once it is in the job folder. */
async function firstQuestion(jobDir: string) {
  const [question] = await waitFor(async () => { const q = await readPendingQuestions(jobDir); return q.length ? q : null; }, 20_000, 'a question');
  return question!;
}

const texts = (lines: Record<string, unknown>[]) => lines.filter((l) => l.type === 'assistant')
  .flatMap((l) => ((l.message as { content: { type: string; text?: string }[] }).content)).filter((c) => c.type === 'text').map((c) => c.text);

describe('the approval protocol (fake CLI ↔ approval server)', () => {
  it('lists the approval server as connected, records the question and runs the tool once allowed with a changed input', async (t) => {
    const run = runFake(t, '#fake ask Bash git push\nhello', 60_000);
    const { jobDir } = run;
    const question = await firstQuestion(jobDir);
    assert.equal(question.toolName, 'Bash');
    assert.deepEqual(question.input, { command: 'git push' });
    assert.match(question.toolUseId ?? '', /^toolu_/);
    const init = JSON.parse(run.out().split('\n')[0]!) as { mcp_servers: { name: string; status: string }[] };
    assert.deepEqual(init.mcp_servers, [{ name: 'claude_async', status: 'connected' }]);
    assert.equal(PERMISSION_PROMPT_TOOL, 'mcp__claude_async__approve');
    assert.ok(writeAnswerOnce(jobDir, question.approvalId, { decision: 'allow', updatedInput: { command: 'git push --dry-run' }, answeredBy: 'alice', answeredAt: Date.now() }));
    assert.equal(writeAnswerOnce(jobDir, question.approvalId, { decision: 'deny', answeredBy: 'bob', answeredAt: Date.now() }), false, 'a second answer is refused');
    const { code, lines } = await run.done;
    assert.equal(code, 0);
    assert.ok(texts(lines).includes('Allowed Bash: {"command":"git push --dry-run"}'), JSON.stringify(texts(lines)));
    assert.deepEqual(await readPendingQuestions(jobDir), []);
    assert.equal((await readAnswer(jobDir, question.approvalId))!.answeredBy, 'alice');
  });

  it('a denial hands claude the message as the tool result and lists the denial in the result', async (t) => {
    const run = runFake(t, '#fake ask Bash rm -rf build', 60_000);
    const { jobDir } = run;
    const question = await firstQuestion(jobDir);
    writeAnswerOnce(jobDir, question.approvalId, { decision: 'deny', message: 'not on main, please', answeredBy: 'alice', answeredAt: Date.now() });
    const { lines } = await run.done;
    assert.ok(texts(lines).includes('Denied Bash: not on main, please'), JSON.stringify(texts(lines)));
    const result = lines.find((l) => l.type === 'result') as { permission_denials: { tool_name: string }[] };
    assert.deepEqual(result.permission_denials.map((d) => d.tool_name), ['Bash']);
  });

  it('nobody answering within the timeout denies, says so, and records the denial as the answer', async (t) => {
    const run = runFake(t, '#fake ask Bash npm publish', 1500);
    const { jobDir } = run;
    const { lines } = await run.done;
    const denied = texts(lines).find((text) => text?.startsWith('Denied Bash: '));
    assert.match(denied ?? '', /Nobody answered this permission request within 2 seconds, so it was denied/);
    const files = fs.readdirSync(path.join(jobDir, 'approvals'));
    const answerName = files.find((f) => f.endsWith('.answer.json'))!;
    const answer = JSON.parse(fs.readFileSync(path.join(jobDir, 'approvals', answerName), 'utf8')) as { timedOut: boolean; answeredBy: null; decision: string };
    assert.deepEqual([answer.decision, answer.timedOut, answer.answeredBy], ['deny', true, null]);
  });

  it('without a permission prompt tool the fake refuses the tool as print mode does', async (t) => {
    const child = spawn(process.execPath, [FAKE_CLAUDE, '-p', '--output-format', 'stream-json', '--verbose'], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stdin.end('#fake ask Bash git push');
    await new Promise((r) => child.once('exit', r));
    const init = JSON.parse(out.split('\n')[0]!) as { mcp_servers: unknown[] };
    assert.deepEqual(init.mcp_servers, []);
    assert.match(out, /Denied Bash: Claude requested permissions to use Bash, but you haven't granted it yet\./);
  });

  it('a worker points a job\'s approval server at its own folder and node, keeping the answer timeout; argv without approvals is left alone', () => {
    const fromFront = ['-p', '--verbose', ...approvalArgs('/front/jobs/01abc', 90_000, '/front/node'), '--allowedTools', 'Edit'];
    const onWorker = approvalArgsAt(fromFront, '/worker/jobs/01abc', '/worker/node');
    const config = JSON.parse(onWorker[onWorker.indexOf('--mcp-config') + 1]!) as { mcpServers: Record<string, { command: string; args: string[] }> };
    const server = Object.values(config.mcpServers)[0]!;
    assert.equal(server.command, '/worker/node');
    assert.deepEqual(server.args.slice(1), ['/worker/jobs/01abc', '90000']);
    assert.deepEqual(onWorker.filter((a) => !a.startsWith('{')), fromFront.filter((a) => !a.startsWith('{')), 'every other word stays where it was');
    const plain = ['-p', '--verbose', '--allowedTools', 'Edit'];
    assert.deepEqual(approvalArgsAt(plain, '/worker/jobs/01abc'), plain);
  });
});

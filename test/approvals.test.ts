// Approvals end to end with the fake CLI: a job started with approvals: true asks, its owner
// answers over REST or claude_approve, the job goes on; nobody else can see or answer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CallToolResultSchema, CreateTaskResultSchema, ElicitRequestSchema, RELATED_TASK_META_KEY, ResourceUpdatedNotificationSchema, TaskStatusNotificationSchema, type Task,
} from '@modelcontextprotocol/sdk/types.js';
import { SHOWN_INPUT_BYTES, shownInput } from '../src/approvals/shown-input.js';
import { jobFingerprint } from '../src/mcp/subscriptions.js';
import type { Config } from '../src/config.js';
import { checkUntilAsked, type Pending } from './support/approvals.js';
import { waitFor } from './support/helpers.js';
import { TOKEN, startTestServer, type After, type TestServer } from './support/in-process-server.js';

type Json = Record<string, unknown>;

/** A server with approvals on (a test turns them off to see the refusal). */
const approvalsServer = (t: After, overrides: Partial<Config> = {}) => startTestServer(t, { approvals: true, ...overrides });
type Server = TestServer;

async function startAsking(s: Server, command = 'git push') {
  const started = await s.rest('/v1/jobs', { body: { prompt: `#fake ask Bash ${command}\nafter the question`, approvals: true } });
  assert.equal(started.status, 201, started.text);
  const jobId = String(started.body.jobId);
  const job = await waitFor(async () => {
    const got = await s.rest(`/v1/jobs/${jobId}`);
    return (got.body.pendingApprovals as Pending[] | undefined)?.length ? got.body : null;
  }, 30_000, 'the job to ask');
  return { jobId, pending: (job.pendingApprovals as Pending[])[0]! };
}

const ended = (s: Server, jobId: string): Promise<Json> => s.waitStatus(jobId);

async function readableOutput(s: Server, jobId: string): Promise<string> {
  return (await s.rest(`/v1/jobs/${jobId}/output?format=text`)).text;
}

describe('approvals', () => {
  it('the owner allows over REST: the question shows in GET /v1/jobs/{id}, the job goes on, a second answer is 409, the answer is kept', async (t) => {
    const s = await approvalsServer(t);
    const { jobId, pending } = await startAsking(s);
    assert.equal(pending.toolName, 'Bash');
    assert.deepEqual(pending.input, { command: 'git push' });
    assert.equal(typeof pending.askedAt, 'number');
    const answered = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow', updatedInput: { command: 'git push --dry-run' } } });
    assert.equal(answered.status, 200, answered.text);
    assert.equal(answered.body.answeredBy, 'token:default');
    const again = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'deny', message: 'changed my mind' } });
    assert.equal(again.status, 409);
    assert.match(String(again.body.detail), /already answered \(allow by token:default at/);
    const job = await ended(s, jobId);
    assert.equal(job.status, 'completed');
    assert.equal(job.pendingApprovals, undefined);
    assert.match(await readableOutput(s, jobId), /Allowed Bash: \{"command":"git push --dry-run"\}/);
    const kept = JSON.parse(fs.readFileSync(path.join(s.config.jobsDir, jobId, 'approvals', `${pending.approvalId}.answer.json`), 'utf8')) as Json;
    assert.deepEqual([kept.decision, kept.answeredBy, typeof kept.answeredAt], ['allow', 'token:default', 'number']);
  });

  it('the /v1/jobs/{id}/events stream carries an approval event for the open question', async (t) => {
    const s = await approvalsServer(t);
    const started = await s.rest('/v1/jobs', { body: { prompt: '#fake ask Bash make deploy', approvals: true } });
    const jobId = String(started.body.jobId);
    const stream = await fetch(`${s.url}/v1/jobs/${jobId}/events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader();
    let text = '';
    const event = await waitFor(async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended without an approval event:\n${text}`);
      text += Buffer.from(value).toString('utf8');
      const match = /event: approval\ndata: (.*)\n\n/.exec(text);
      return match ? (JSON.parse(match[1]!) as Json) : null;
    }, 30_000, 'an approval event');
    await reader.cancel();
    assert.equal(event.jobId, jobId);
    assert.equal(event.toolName, 'Bash');
    assert.deepEqual(event.input, { command: 'make deploy' });
    assert.equal((await s.rest(`/v1/jobs/${jobId}/approvals/${String(event.approvalId)}`, { body: { decision: 'deny', message: 'not today' } })).status, 200);
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('a denial with a message reaches claude as the tool result', async (t) => {
    const s = await approvalsServer(t);
    const { jobId, pending } = await startAsking(s, 'rm -rf dist');
    const denied = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'deny', message: 'use npm run clean instead' } });
    assert.equal(denied.status, 200, denied.text);
    await ended(s, jobId);
    assert.match(await readableOutput(s, jobId), /Denied Bash: use npm run clean instead/);
  });

  it('a question about a big Write shows the head of its content and its size; allow runs the whole input', async (t) => {
    const s = await approvalsServer(t);
    const contentBytes = 300 * 1024;
    const started = await s.rest('/v1/jobs', { body: { prompt: `#fake ask Write /tmp/big.txt ${contentBytes}`, approvals: true } });
    assert.equal(started.status, 201, started.text);
    const jobId = String(started.body.jobId);
    const job = await waitFor(async () => {
      const got = await s.rest(`/v1/jobs/${jobId}`);
      return (got.body.pendingApprovals as Pending[] | undefined)?.length ? got : null;
    }, 30_000, 'the job to ask');
    const pending = (job.body.pendingApprovals as Array<Pending & { inputTruncated?: boolean; inputBytes?: number }>)[0]!;
    assert.equal(pending.inputTruncated, true);
    assert.equal(pending.inputBytes, Buffer.byteLength(JSON.stringify({ file_path: '/tmp/big.txt', content: 'x'.repeat(contentBytes) })));
    assert.equal(pending.input.file_path, '/tmp/big.txt', 'short fields stay whole');
    assert.match(String(pending.input.content), /^x{16384}… \[290816 more characters\]$/);
    assert.ok(Buffer.byteLength(job.text) < SHOWN_INPUT_BYTES + 4096, `the check stays small (${Buffer.byteLength(job.text)} bytes)`);
    // MCP shows the same cut question.
    const client = await s.connect();
    const { pending: viaMcp } = await checkUntilAsked(client, jobId);
    assert.deepEqual(viaMcp, pending);
    const answered = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } });
    assert.equal(answered.status, 200, answered.text);
    assert.equal((await ended(s, jobId)).status, 'completed');
    const ran = /Allowed Write: (\{.*\})/.exec(await readableOutput(s, jobId));
    assert.ok(ran, 'the tool ran');
    assert.equal((JSON.parse(ran[1]!) as { content: string }).content.length, contentBytes, 'with the whole content');
  });

  it('a question input under the budget is shown whole; past it, strings are cut shorter until it fits', () => {
    const small = { command: 'git push' };
    assert.deepEqual(shownInput(small), { input: small });
    const edits = Array.from({ length: 40 }, (_, i) => ({ old_string: `o${i}`.repeat(2000), new_string: `n${i}`.repeat(2000) }));
    const shown = shownInput({ file_path: '/a', edits });
    assert.equal(shown.inputTruncated, true);
    assert.ok(Buffer.byteLength(JSON.stringify(shown.input)) <= SHOWN_INPUT_BYTES);
    assert.equal((shown.input.edits as unknown[]).length, 40, 'every edit is still there, each cut');
    const tooMany = shownInput({ edits: Array.from({ length: 5000 }, () => ({ old_string: 'a'.repeat(300), new_string: 'b'.repeat(300) })) });
    assert.deepEqual(tooMany.input, {}, 'nothing fits: nothing is shown, the size is');
    assert.ok(tooMany.inputBytes! > 3_000_000);
  });

  it('another principal can neither see nor answer the question: the same 404 as an unknown job; an admin can answer', async (t) => {
    const s = await approvalsServer(t);
    const { jobId, pending } = await startAsking(s);
    const ghost = '01jabcdefghjkmnpqrstvwxyz0';
    const theirs = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.tokens.bob });
    const none = await s.rest(`/v1/jobs/${ghost}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.tokens.bob });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.text.replaceAll(jobId, 'ID'), none.text.replaceAll(ghost, 'ID'));
    assert.equal((await s.rest(`/v1/jobs/${jobId}`, { token: s.tokens.bob })).status, 404);
    const bobMcp = await s.connect(s.tokens.bob);
    const refused = await bobMcp.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'allow' } });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /No such job/);
    // Still open: bob changed nothing.
    assert.equal(((await s.rest(`/v1/jobs/${jobId}`)).body.pendingApprovals as Pending[]).length, 1);
    const unknown = await s.rest(`/v1/jobs/${jobId}/approvals/ap-0000000000000000`, { body: { decision: 'allow' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.title, 'Approval not found');
    const bad = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'maybe' } });
    assert.equal(bad.status, 400);
    const byAdmin = await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.tokens.root });
    assert.equal(byAdmin.status, 200, byAdmin.text);
    assert.equal(byAdmin.body.answeredBy, 'token:root');
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('claude_check lists the question and claude_approve answers it', async (t) => {
    const s = await approvalsServer(t);
    const client = await s.connect();
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake ask Write /tmp/x.txt', approvals: true } });
    const jobId = String((started.structuredContent as Json).jobId);
    const { check, pending } = await checkUntilAsked(client, jobId);
    assert.deepEqual([pending.toolName, pending.input], ['Write', { file_path: '/tmp/x.txt' }]);
    assert.match(JSON.stringify(check.content), /Waiting for your answer \(claude_approve, approvalId ap-/);
    const approved = await client.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'allow' } });
    assert.equal(approved.isError, undefined, JSON.stringify(approved.content));
    assert.equal((approved.structuredContent as Json).decision, 'allow');
    const second = await client.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'allow' } });
    assert.equal(second.isError, true);
    assert.match(JSON.stringify(second.content), /already answered/);
    const done = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 30 } });
    assert.equal((done.structuredContent as Json).status, 'completed');
    assert.match(String((done.structuredContent as Json).tail), /Allowed Write: \{"file_path":"\/tmp\/x.txt"\}/);
  });

  it('a claude_run task reads input_required while its question is open and goes back to working once answered', async (t) => {
    const s = await approvalsServer(t);
    const client = await s.connect();
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: '#fake ask Bash git push\n#fake sleep 1500\nthen finish', approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    const asking = await waitFor(async () => {
      const got = await client.experimental.tasks.getTask(task.taskId);
      return got.status === 'input_required' ? got : null;
    }, 30_000, 'the task to need input');
    assert.match(asking.statusMessage ?? '', /waiting for your answer to 1 question \(pendingApprovals in claude_check; answer with claude_approve\)/);
    const check = await client.callTool({ name: 'claude_check', arguments: { jobId: task.taskId } });
    const pending = ((check.structuredContent as Json).pendingApprovals as Pending[])[0]!;
    await client.callTool({ name: 'claude_approve', arguments: { jobId: task.taskId, approvalId: pending.approvalId, decision: 'allow' } });
    const seen = new Set<string>();
    await waitFor(async () => {
      const got = await client.experimental.tasks.getTask(task.taskId);
      seen.add(got.status);
      return got.status === 'completed';
    }, 30_000, 'the task to complete');
    assert.ok(seen.has('working'), `after the answer the task read ${[...seen].join(', ')}`);
    assert.ok(!seen.has('input_required'), 'the task still needed input after the answer');
  });

  it('a claude_run task sends notifications/tasks/status when it needs input and when it goes back to working', async (t) => {
    const s = await approvalsServer(t);
    const gate = fs.mkdtempSync(path.join(os.tmpdir(), 'approvals-gate-'));
    t.after(() => fs.rmSync(gate, { recursive: true, force: true }));
    const client = await s.connect();
    const heard: Task[] = [];
    client.setNotificationHandler(TaskStatusNotificationSchema, (n) => {
      heard.push(n.params as Task);
    });
    // After the answer the job waits for the gate file, so `working` lasts until the test has seen it.
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: `#fake ask Bash git push\n#fake wait-file ${gate}/go\nthen finish`, approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    const mine = () => heard.filter((n) => n.taskId === task.taskId).map((n) => n.status);
    await waitFor(() => mine().includes('input_required'), 30_000, 'an input_required notification');
    const asking = heard.find((n) => n.taskId === task.taskId && n.status === 'input_required')!;
    assert.match(asking.statusMessage ?? '', /waiting for your answer to 1 question/);
    const pending = ((await s.rest(`/v1/jobs/${task.taskId}`)).body.pendingApprovals as Pending[])[0]!;
    assert.equal((await s.rest(`/v1/jobs/${task.taskId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } })).status, 200);
    await waitFor(() => mine().at(-1) === 'working', 30_000, 'a working notification after the answer');
    fs.writeFileSync(path.join(gate, 'go'), '');
    await waitFor(() => mine().at(-1) === 'completed', 30_000, 'a completed notification');
    assert.deepEqual(mine(), ['input_required', 'working', 'completed']);
  });

  it('a client with the elicitation capability blocked in tasks/result on a claude_run task is asked, tagged with the task, and its answer lets the job go on', async (t) => {
    const s = await approvalsServer(t);
    const client = await s.connect(TOKEN, { clientOptions: { capabilities: { elicitation: { form: {} } } } });
    const asked: { message: string; related: unknown }[] = [];
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push({ message: request.params.message, related: request.params._meta?.[RELATED_TASK_META_KEY] });
      return { action: 'accept', content: { decision: 'allow' } };
    });
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: '#fake ask Bash git push --tags\nthen finish', approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 60_000 });
    const job = result.structuredContent as Json;
    assert.equal(job.status, 'completed', JSON.stringify(result.content));
    assert.deepEqual(asked, [{ message: `Job ${task.taskId} asks: may Claude use Bash with {"command":"git push --tags"}?`, related: { taskId: task.taskId } }]);
    assert.match(String(job.tail), /Allowed Bash: \{"command":"git push --tags"\}/);
    const answers = fs.readdirSync(path.join(s.config.jobsDir, task.taskId, 'approvals')).filter((f) => f.endsWith('.answer.json'));
    const kept = JSON.parse(fs.readFileSync(path.join(s.config.jobsDir, task.taskId, 'approvals', answers[0]!), 'utf8')) as Json;
    assert.deepEqual([kept.decision, kept.answeredBy], ['allow', 'token:default']);
  });

  it('in tasks/result, a denial with a message from the elicitation reaches claude; a client that declines leaves the question open for claude_approve', async (t) => {
    const s = await approvalsServer(t);
    const denier = await s.connect(TOKEN, { clientOptions: { capabilities: { elicitation: { form: {} } } } });
    denier.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { decision: 'deny', message: 'push to a branch first' } }));
    const denied = await denier.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: '#fake ask Bash git push origin main', approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    const deniedResult = await denier.experimental.tasks.getTaskResult(denied.task.taskId, CallToolResultSchema, { timeout: 60_000 });
    assert.match(String((deniedResult.structuredContent as Json).tail), /Denied Bash: push to a branch first/);

    const decliner = await s.connect(TOKEN, { clientOptions: { capabilities: { elicitation: { form: {} } } } });
    let declined = 0;
    decliner.setRequestHandler(ElicitRequestSchema, () => {
      declined += 1;
      return { action: 'decline' };
    });
    const open = await decliner.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: '#fake ask Bash npm publish', approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    const waiting = decliner.experimental.tasks.getTaskResult(open.task.taskId, CallToolResultSchema, { timeout: 60_000 });
    await waitFor(() => declined === 1, 30_000, 'the question to be put and declined');
    const pending = ((await s.rest(`/v1/jobs/${open.task.taskId}`)).body.pendingApprovals as Pending[] | undefined) ?? [];
    assert.equal(pending.length, 1, 'a declined question stays open');
    await decliner.callTool({ name: 'claude_approve', arguments: { jobId: open.task.taskId, approvalId: pending[0]!.approvalId, decision: 'allow' } });
    const result = await waiting;
    assert.equal((result.structuredContent as Json).status, 'completed');
    assert.match(String((result.structuredContent as Json).tail), /Allowed Bash: \{"command":"npm publish"\}/);
    assert.equal(declined, 1, 'a question is put once per tasks/result call');
  });

  it('a subscriber of the job\'s resource is told when a question opens', async (t) => {
    // The fingerprint the watcher compares changes with the open questions alone.
    const question = { approvalId: 'ap-0000000000000001' };
    assert.notEqual(jobFingerprint({ status: 'running', outputBytes: 10 }), jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [question] }));
    assert.notEqual(jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [question] }), jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [{ approvalId: 'ap-0000000000000002' }] }));
    const s = await approvalsServer(t);
    const client = await s.connect();
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake sleep 1500\n#fake ask Bash git push', approvals: true } });
    const jobId = String((started.structuredContent as Json).jobId);
    const uri = `claude-async://jobs/${jobId}`;
    const updates: number[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (n.params.uri === uri) updates.push(Date.now());
    });
    await client.subscribeResource({ uri });
    const { pending } = await waitFor(async () => {
      const got = await s.rest(`/v1/jobs/${jobId}`);
      const list = got.body.pendingApprovals as Pending[] | undefined;
      return list?.length ? { pending: list[0]! } : null;
    }, 30_000, 'the question');
    await waitFor(() => updates.some((at) => at >= pending.askedAt), 15_000, 'an update after the question opened');
    const read = await client.readResource({ uri });
    assert.match(JSON.stringify(read.contents), new RegExp(pending.approvalId));
    await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } });
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('a client with the elicitation capability waiting in claude_wait is asked directly, and its answer decides', async (t) => {
    const s = await approvalsServer(t);
    const client = await s.connect(TOKEN, { clientOptions: { capabilities: { elicitation: { form: {} } } } });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { decision: 'deny', message: 'ask me again after lunch' } };
    });
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake ask Bash git push --force', approvals: true } });
    const jobId = String((started.structuredContent as Json).jobId);
    const done = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 45 } }, undefined, { timeout: 60_000 });
    assert.equal((done.structuredContent as Json).status, 'completed', JSON.stringify(done.content));
    assert.deepEqual(asked, [`Job ${jobId} asks: may Claude use Bash with {"command":"git push --force"}?`]);
    assert.match(String((done.structuredContent as Json).tail), /Denied Bash: ask me again after lunch/);
    const files = fs.readdirSync(path.join(s.config.jobsDir, jobId, 'approvals')).filter((f) => f.endsWith('.answer.json'));
    const kept = JSON.parse(fs.readFileSync(path.join(s.config.jobsDir, jobId, 'approvals', files[0]!), 'utf8')) as Json;
    assert.deepEqual([kept.decision, kept.answeredBy, kept.message], ['deny', 'token:default', 'ask me again after lunch']);
  });

  it('nobody answering within CLAUDE_ASYNC_APPROVAL_TIMEOUT denies, and the job goes on', async (t) => {
    const s = await approvalsServer(t, { approvalTimeoutMs: 1000 });
    const started = await s.rest('/v1/jobs', { body: { prompt: '#fake ask Bash npm publish', approvals: true } });
    const jobId = String(started.body.jobId);
    const job = await ended(s, jobId);
    assert.equal(job.status, 'completed');
    assert.match(await readableOutput(s, jobId), /Denied Bash: Nobody answered this permission request within 1 second, so it was denied/);
  });

  it('a question open across a server restart is answered afterwards and the job goes on', async (t) => {
    const s = await approvalsServer(t);
    const { jobId, pending } = await startAsking(s);
    await s.restart();
    const after = await s.rest(`/v1/jobs/${jobId}`);
    assert.equal(after.body.status, 'running');
    assert.equal((after.body.pendingApprovals as Pending[])[0]!.approvalId, pending.approvalId);
    assert.equal((await s.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } })).status, 200);
    const job = await ended(s, jobId);
    assert.equal(job.status, 'completed');
    assert.match(await readableOutput(s, jobId), /Allowed Bash: \{"command":"git push"\}/);
  });

  it('approvals are refused when the operator has not turned them on, and nothing is started', async (t) => {
    const s = await approvalsServer(t, { approvals: false });
    const refused = await s.rest('/v1/jobs', { body: { prompt: 'hello', approvals: true } });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.detail), /approvals: this server does not take approvals \(its operator turns them on with CLAUDE_ASYNC_APPROVALS=on\)/);
    const client = await s.connect();
    const viaMcp = await client.callTool({ name: 'claude_start', arguments: { prompt: 'hello', approvals: true } });
    assert.equal(viaMcp.isError, true);
    assert.match(JSON.stringify(viaMcp.content), /CLAUDE_ASYNC_APPROVALS=on/);
    assert.deepEqual((await s.rest('/v1/jobs')).body.jobs, []);
  });
});

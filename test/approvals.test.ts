// Approvals end to end with the fake CLI: a job started with approvals: true asks, its owner
// answers over REST or claude_approve, the job goes on; nobody else can see or answer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateTaskResultSchema, ElicitRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import pino from 'pino';
import { jobFingerprint } from '../src/mcp/subscriptions.js';
import { TokenStore } from '../src/auth/token-store.js';
import { tokensFile } from '../src/auth/options.js';
import type { Config } from '../src/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { cleanupJobs, testConfig, waitFor } from './helpers.js';

const TOKEN = 'cas_test_token_approvals_0123456789';
type Ctx = { after: (fn: () => unknown) => void };
type Json = Record<string, unknown>;
interface Pending { approvalId: string; toolName: string; input: Json; askedAt: number }

async function serverFor(t: Ctx, overrides: Partial<Config> = {}) {
  const config = testConfig({ port: 0, token: TOKEN, auth: 'token', approvals: true, ...overrides });
  const tokens = new TokenStore(tokensFile(config));
  const bob = (await tokens.create('bob', ['jobs:read', 'jobs:write'])).token;
  const root = (await tokens.create('root', ['admin'])).token;
  const log = pino({ level: 'silent' });
  const clients: Client[] = [];
  const state: { server: RunningServer } = { server: await startServer(config, log) };
  t.after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await state.server.close();
    cleanupJobs(config);
  });
  const rest = async (route: string, init: { body?: unknown; token?: string; method?: string } = {}) => {
    const res = await fetch(`${state.server.url}/v1${route}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { Authorization: `Bearer ${init.token ?? TOKEN}`, ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    let body: Json = {};
    try {
      body = text ? (JSON.parse(text) as Json) : {};
    } catch {
      body = {};
    }
    return { status: res.status, body, text };
  };
  const connect = async (token = TOKEN, capabilities: ConstructorParameters<typeof Client>[1] = {}) => {
    const client = new Client({ name: 'approvals-test', version: '1.0.0' }, capabilities);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${state.server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    clients.push(client);
    return client;
  };
  return {
    config, bob, root, rest, connect,
    get url() {
      return state.server.url;
    },
    async restart() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await state.server.close();
      state.server = await startServer(config, log);
    },
  };
}

type Server = Awaited<ReturnType<typeof serverFor>>;

async function startAsking(s: Server, command = 'git push') {
  const started = await s.rest('/jobs', { body: { prompt: `#fake ask Bash ${command}\nafter the question`, approvals: true } });
  assert.equal(started.status, 201, started.text);
  const jobId = String(started.body.jobId);
  const job = await waitFor(async () => {
    const got = await s.rest(`/jobs/${jobId}`);
    return (got.body.pendingApprovals as Pending[] | undefined)?.length ? got.body : null;
  }, 30_000, 'the job to ask');
  return { jobId, pending: (job.pendingApprovals as Pending[])[0]! };
}

async function ended(s: Server, jobId: string): Promise<Json> {
  return waitFor(async () => {
    const got = await s.rest(`/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled', 'timed_out', 'orphaned'].includes(String(got.body.status)) ? got.body : null;
  }, 30_000, `job ${jobId} to end`);
}

async function readableOutput(s: Server, jobId: string): Promise<string> {
  return (await s.rest(`/jobs/${jobId}/output?format=text`)).text;
}

describe('approvals', () => {
  it('the owner allows over REST: the question shows in GET /v1/jobs/{id}, the job goes on, a second answer is 409, the answer is kept', async (t) => {
    const s = await serverFor(t);
    const { jobId, pending } = await startAsking(s);
    assert.equal(pending.toolName, 'Bash');
    assert.deepEqual(pending.input, { command: 'git push' });
    assert.equal(typeof pending.askedAt, 'number');
    const answered = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow', updatedInput: { command: 'git push --dry-run' } } });
    assert.equal(answered.status, 200, answered.text);
    assert.equal(answered.body.answeredBy, 'token:default');
    const again = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'deny', message: 'changed my mind' } });
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
    const s = await serverFor(t);
    const started = await s.rest('/jobs', { body: { prompt: '#fake ask Bash make deploy', approvals: true } });
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
    assert.equal((await s.rest(`/jobs/${jobId}/approvals/${String(event.approvalId)}`, { body: { decision: 'deny', message: 'not today' } })).status, 200);
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('a denial with a message reaches claude as the tool result', async (t) => {
    const s = await serverFor(t);
    const { jobId, pending } = await startAsking(s, 'rm -rf dist');
    const denied = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'deny', message: 'use npm run clean instead' } });
    assert.equal(denied.status, 200, denied.text);
    await ended(s, jobId);
    assert.match(await readableOutput(s, jobId), /Denied Bash: use npm run clean instead/);
  });

  it('another principal can neither see nor answer the question: the same 404 as an unknown job; an admin can answer', async (t) => {
    const s = await serverFor(t);
    const { jobId, pending } = await startAsking(s);
    const ghost = '01jabcdefghjkmnpqrstvwxyz0';
    const theirs = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.bob });
    const none = await s.rest(`/jobs/${ghost}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.bob });
    assert.equal(theirs.status, 404);
    assert.equal(theirs.text.replaceAll(jobId, 'ID'), none.text.replaceAll(ghost, 'ID'));
    assert.equal((await s.rest(`/jobs/${jobId}`, { token: s.bob })).status, 404);
    const bobMcp = await s.connect(s.bob);
    const refused = await bobMcp.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'allow' } });
    assert.equal(refused.isError, true);
    assert.match(JSON.stringify(refused.content), /No such job/);
    // Still open: bob changed nothing.
    assert.equal(((await s.rest(`/jobs/${jobId}`)).body.pendingApprovals as Pending[]).length, 1);
    const unknown = await s.rest(`/jobs/${jobId}/approvals/ap-0000000000000000`, { body: { decision: 'allow' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.title, 'Approval not found');
    const bad = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'maybe' } });
    assert.equal(bad.status, 400);
    const byAdmin = await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' }, token: s.root });
    assert.equal(byAdmin.status, 200, byAdmin.text);
    assert.equal(byAdmin.body.answeredBy, 'token:root');
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('claude_check lists the question and claude_approve answers it', async (t) => {
    const s = await serverFor(t);
    const client = await s.connect();
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake ask Write /tmp/x.txt', approvals: true } });
    const jobId = String((started.structuredContent as Json).jobId);
    const check = await waitFor(async () => {
      const got = await client.callTool({ name: 'claude_check', arguments: { jobId } });
      return ((got.structuredContent as Json).pendingApprovals as Pending[] | undefined)?.length ? got : null;
    }, 30_000, 'claude_check to show the question');
    const pending = ((check.structuredContent as Json).pendingApprovals as Pending[])[0]!;
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
    const s = await serverFor(t);
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

  it('a subscriber of the job\'s resource is told when a question opens', async (t) => {
    // The fingerprint the watcher compares changes with the open questions alone.
    const question = { approvalId: 'ap-0000000000000001' };
    assert.notEqual(jobFingerprint({ status: 'running', outputBytes: 10 }), jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [question] }));
    assert.notEqual(jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [question] }), jobFingerprint({ status: 'running', outputBytes: 10, pendingApprovals: [{ approvalId: 'ap-0000000000000002' }] }));
    const s = await serverFor(t);
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
      const got = await s.rest(`/jobs/${jobId}`);
      const list = got.body.pendingApprovals as Pending[] | undefined;
      return list?.length ? { pending: list[0]! } : null;
    }, 30_000, 'the question');
    await waitFor(() => updates.some((at) => at >= pending.askedAt), 15_000, 'an update after the question opened');
    const read = await client.readResource({ uri });
    assert.match(JSON.stringify(read.contents), new RegExp(pending.approvalId));
    await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } });
    assert.equal((await ended(s, jobId)).status, 'completed');
  });

  it('a client with the elicitation capability waiting in claude_wait is asked directly, and its answer decides', async (t) => {
    const s = await serverFor(t);
    const client = await s.connect(TOKEN, { capabilities: { elicitation: { form: {} } } });
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
    const s = await serverFor(t, { approvalTimeoutMs: 1000 });
    const started = await s.rest('/jobs', { body: { prompt: '#fake ask Bash npm publish', approvals: true } });
    const jobId = String(started.body.jobId);
    const job = await ended(s, jobId);
    assert.equal(job.status, 'completed');
    assert.match(await readableOutput(s, jobId), /Denied Bash: Nobody answered this permission request within 1 second, so it was denied/);
  });

  it('a question open across a server restart is answered afterwards and the job goes on', async (t) => {
    const s = await serverFor(t);
    const { jobId, pending } = await startAsking(s);
    await s.restart();
    const after = await s.rest(`/jobs/${jobId}`);
    assert.equal(after.body.status, 'running');
    assert.equal((after.body.pendingApprovals as Pending[])[0]!.approvalId, pending.approvalId);
    assert.equal((await s.rest(`/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } })).status, 200);
    const job = await ended(s, jobId);
    assert.equal(job.status, 'completed');
    assert.match(await readableOutput(s, jobId), /Allowed Bash: \{"command":"git push"\}/);
  });

  it('approvals are refused when the operator has not turned them on, and nothing is started', async (t) => {
    const s = await serverFor(t, { approvals: false });
    const refused = await s.rest('/jobs', { body: { prompt: 'hello', approvals: true } });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.detail), /approvals: this server does not take approvals \(its operator turns them on with CLAUDE_ASYNC_APPROVALS=on\)/);
    const client = await s.connect();
    const viaMcp = await client.callTool({ name: 'claude_start', arguments: { prompt: 'hello', approvals: true } });
    assert.equal(viaMcp.isError, true);
    assert.match(JSON.stringify(viaMcp.content), /CLAUDE_ASYNC_APPROVALS=on/);
    assert.deepEqual((await s.rest('/jobs')).body.jobs, []);
  });
});

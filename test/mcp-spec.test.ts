// MCP to the letter (issue 21), against the real server process with raw HTTP: each test sends the
// exact request a spec section is about and checks the answer against that section's text
// (MCP 2025-11-25; section names in the test names).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { newJobId } from '../src/jobs/ids.js';
import { waitFor } from './support/helpers.js';
import { rawSession } from './support/raw-mcp.js';
import { suiteServer, type RealServer } from './support/server-process.js';
import { messagesOf, readSse } from './support/sse.js';

const TOKEN = `cas_spec_${randomUUID().replace(/-/g, '')}`;
const auth = { Authorization: `Bearer ${TOKEN}` };

async function jobsOf(server: RealServer): Promise<{ jobId: string; status: string }[]> {
  const res = await fetch(`${server.url}/v1/jobs?limit=200`, { headers: auth });
  return ((await res.json()) as { jobs: { jobId: string; status: string }[] }).jobs;
}

const error = (answer: Record<string, any>) => answer.error as { code: number; message: string; data?: Record<string, unknown> } | undefined;

describe('MCP 2025-11-25 to the letter (issue 21)', () => {
  const server = suiteServer({ env: { CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_ALLOWED_ROOTS: '' } });

  it('Tasks › Tool-Level Negotiation: "task" on claude_start, claude_check or claude_cancel is -32601 and runs nothing', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const before = (await jobsOf(server)).length;
    const start = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: 'must not run' }, task: { ttl: 1000 } });
    assert.equal(error(start)?.code, -32601, JSON.stringify(start));
    assert.match(error(start)!.message, /claude_start does not support tasks/);
    assert.equal((await jobsOf(server)).length, before, 'a job was created');

    const running = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: '#fake tick 100 100\nkeeps running' } });
    const jobId = running.result.structuredContent.jobId as string;
    for (const name of ['claude_cancel', 'claude_check']) {
      const answer = await session.call('tools/call', { name, arguments: { jobId }, task: { ttl: 1000 } });
      assert.equal(error(answer)?.code, -32601, `${name}: ${JSON.stringify(answer)}`);
    }
    const after = (await jobsOf(server)).find((j) => j.jobId === jobId);
    assert.ok(after && ['queued', 'running'].includes(after.status), `claude_cancel ran: ${after?.status}`);
    await session.call('tools/call', { name: 'claude_cancel', arguments: { jobId } });
  });

  it('Tasks › Creating Tasks: claude_run as a task with an empty prompt or a cwd outside the roots says why and creates nothing', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const before = (await jobsOf(server)).length;
    const empty = await session.call('tools/call', { name: 'claude_run', arguments: { prompt: '' }, task: { ttl: 60_000 } });
    assert.equal(error(empty)?.code, -32602, JSON.stringify(empty));
    assert.match(error(empty)!.message, /claude_run: prompt: /);
    assert.doesNotMatch(error(empty)!.message, /Invalid task creation result|expected object/);
    const outside = await session.call('tools/call', { name: 'claude_run', arguments: { prompt: 'hi', cwd: '/etc' }, task: { ttl: 60_000 } });
    assert.equal(error(outside)?.code, -32602, JSON.stringify(outside));
    assert.match(error(outside)!.message, /cwd|allowed roots|does not exist/i);
    assert.doesNotMatch(error(outside)!.message, /Invalid task creation result/);
    assert.equal((await jobsOf(server)).length, before);
    // The same call done right is a task at once.
    const ok = await session.call('tools/call', { name: 'claude_run', arguments: { prompt: 'as a task' }, task: { ttl: 60_000 } });
    assert.match(ok.result.task.taskId, /^[0-9a-z]{26}$/);
  });

  it('Transports › Session Management holds in JSON-response mode: session id, 404 for unknown or deleted sessions, subscriptions notify the session', async () => {
    const session = await rawSession(server.url, { token: TOKEN, accept: 'application/json' });
    const init = await session.call('ping');
    assert.deepEqual(init.result, {});
    const started = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: '#fake tick 3 200\nsubscribe me' } });
    const jobId = started.result.structuredContent.jobId as string;
    const listen = await fetch(`${server.url}/mcp`, { headers: { ...session.headers, Accept: 'text/event-stream' } });
    assert.equal(listen.status, 200);
    const uri = `claude-async://jobs/${jobId}`;
    const heard = readSse(listen, (events) => messagesOf(events).some((m) => m.method === 'notifications/resources/updated' && m.params.uri === uri), 30_000);
    const subscribed = await session.post({ jsonrpc: '2.0', id: 7, method: 'resources/subscribe', params: { uri } });
    assert.match(subscribed.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(((await subscribed.json()) as { result: unknown }).result, {});
    await heard; // resources/updated reached this session's GET stream

    const unknown = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...session.headers, 'Mcp-Session-Id': randomUUID() }, body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }) });
    assert.equal(unknown.status, 404);
    const deleted = await fetch(`${server.url}/mcp`, { method: 'DELETE', headers: session.headers });
    assert.equal(deleted.status, 200);
    const afterDelete = await session.post({ jsonrpc: '2.0', id: 9, method: 'tools/list' });
    assert.equal(afterDelete.status, 404);
    assert.equal(((await afterDelete.json()) as { error: { code: number } }).error.code, -32001);
  });

  it('Server › Tools "Structured Content": a result carries its structured content as JSON text too, after the summary', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const answer = await session.call('tools/call', { name: 'claude_jobs', arguments: { limit: 1 } });
    const [summary, json] = answer.result.content as { type: string; text: string }[];
    assert.equal(summary!.type, 'text');
    assert.deepEqual(JSON.parse(json!.text), answer.result.structuredContent);
  });

  it('Server › Tools "Error Handling", Resources "Error Handling", Logging, JSON-RPC: the spec\'s error codes', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const unknownTool = await session.call('tools/call', { name: 'no_such_tool', arguments: {} });
    assert.equal(error(unknownTool)?.code, -32602, JSON.stringify(unknownTool));
    assert.match(error(unknownTool)!.message, /Unknown tool: no_such_tool/);

    const missing = `claude-async://jobs/${newJobId()}`;
    const read = await session.call('resources/read', { uri: missing });
    assert.equal(error(read)?.code, -32002);
    assert.equal(error(read)?.data?.uri, missing);
    const foreign = await session.call('resources/read', { uri: 'file:///etc/passwd' });
    assert.equal(error(foreign)?.code, -32002);
    assert.equal(error(foreign)?.data?.uri, 'file:///etc/passwd');

    const level = await session.call('logging/setLevel', { level: 'loud' });
    assert.equal(error(level)?.code, -32602, JSON.stringify(level));
    assert.match(error(level)!.message, /Invalid log level "loud"/);
    assert.deepEqual((await session.call('logging/setLevel', { level: 'debug' })).result, {});

    const empty = await session.post([]);
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { error: { code: number } }).error.code, -32600);
    const noVersion = await session.post({ id: 3, method: 'ping' });
    assert.equal(noVersion.status, 400);
    assert.equal(((await noVersion.json()) as { error: { code: number } }).error.code, -32600);
  });

  it('Utilities › Logging and Tasks › Task Status Notification: job lifecycle as notifications/message at the level set, and notifications/tasks/status', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    assert.deepEqual((await session.call('logging/setLevel', { level: 'warning' })).result, {});
    const listen = await fetch(`${server.url}/mcp`, { headers: { ...session.headers, Accept: 'text/event-stream' } });
    const logs = (events: Parameters<typeof messagesOf>[0]) => messagesOf(events).filter((m) => m.method === 'notifications/message');
    const statuses = (events: Parameters<typeof messagesOf>[0]) => messagesOf(events).filter((m) => m.method === 'notifications/tasks/status');
    const heard = readSse(listen, (events) => logs(events).some((m) => m.params.data.event === 'ended') && statuses(events).some((m) => m.params.status === 'completed'), 40_000);

    const completed = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: 'completes quietly' } });
    const failing = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: '#fake fail\nfails loudly' } });
    const task = await session.call('tools/call', { name: 'claude_run', arguments: { prompt: 'a task' }, task: { ttl: 60_000 } });
    const failedId = failing.result.structuredContent.jobId;
    const { events } = await heard;
    const heardLogs = logs(events);
    assert.ok(heardLogs.every((m) => m.params.level === 'warning'), `a message below the level set: ${JSON.stringify(heardLogs)}`);
    const ended = heardLogs.find((m) => m.params.data.jobId === failedId);
    assert.ok(ended, 'no warning for the failed job');
    assert.equal(ended.params.data.status, 'failed');
    assert.ok(ended.params.data.reason, 'the warning gives the reason');
    assert.ok(!heardLogs.some((m) => m.params.data.jobId === completed.result.structuredContent.jobId), 'info-level lines were sent at warning');
    const status = statuses(events).find((m) => m.params.taskId === task.result.task.taskId);
    assert.equal(status?.params.status, 'completed');
  });

  it('Utilities › Cancellation: after notifications/cancelled for a running claude_wait its POST stream ends', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const started = await session.call('tools/call', { name: 'claude_start', arguments: { prompt: '#fake tick 200 100\nlong' } });
    const jobId = started.result.structuredContent.jobId;
    const waiting = await session.post({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'claude_wait', arguments: { jobId, timeoutSeconds: 45 } } });
    assert.match(waiting.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = readSse(waiting, () => false, 30_000);
    const cancelled = await session.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77, reason: 'user gave up' } });
    assert.equal(cancelled.status, 202);
    const startedAt = Date.now();
    const { events, ended } = await reader;
    assert.equal(ended, true, 'the stream stayed open');
    assert.ok(Date.now() - startedAt < 30_000);
    assert.ok(!messagesOf(events).some((m) => m.id === 77), 'a cancelled request got an answer');
    await session.call('tools/call', { name: 'claude_cancel', arguments: { jobId } });
  });
});

describe('MCP 2025-11-25 › Pagination over 104 jobs (issue 21)', () => {
  const ids: string[] = [];
  const server = suiteServer({
    env: { CLAUDE_ASYNC_TOKEN: TOKEN },
    prepare: async (dataDir, work) => {
      // One real finished job, copied 103 times under new ids: the server rebuilds its index from
      // the folders at start, so 104 jobs exist without running 104 processes.
      const { JobService } = await import('../src/jobs/service.js');
      const { testConfig } = await import('./support/helpers.js');
      const config = testConfig({ dataDir, defaultCwd: work, allowedRoots: [work] });
      const service = await JobService.open(config);
      const { jobId } = await service.start({ prompt: 'the template job' }, { id: 'default', admin: false });
      await service.wait(jobId, { id: 'default', admin: false }, { timeoutMs: 20_000 });
      await service.close();
      ids.push(jobId);
      for (let i = 0; i < 103; i++) {
        const id = newJobId(Date.now() + i + 1);
        fs.cpSync(path.join(config.jobsDir, jobId), path.join(config.jobsDir, id), { recursive: true });
        const specFile = path.join(config.jobsDir, id, 'spec.json');
        const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as { jobId: string; createdAt: number };
        fs.writeFileSync(specFile, JSON.stringify({ ...spec, jobId: id, createdAt: spec.createdAt + i + 1 }));
        ids.push(id);
      }
      fs.rmSync(path.join(dataDir, 'db.json'), { force: true });
    },
  });

  it('Server › Resources "Listing Resources" with Utilities › Pagination: resources/list pages with nextCursor through every job', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    await waitFor(async () => (await jobsOf(server)).length === 104 || undefined, 20_000, 'the index to hold 104 jobs');
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const answer = await session.call('resources/list', cursor ? { cursor } : {});
      listed.push(...(answer.result.resources as { uri: string }[]).map((r) => r.uri));
      cursor = answer.result.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.ok(pages >= 3, `${pages} pages`);
    assert.deepEqual(new Set(listed), new Set(ids.map((id) => `claude-async://jobs/${id}`)));
    assert.equal(listed.length, 104);
  });

  it('Utilities › Completion: the job-id argument matches over every job, with a true total and hasMore', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    const ref = { type: 'ref/resource', uri: 'claude-async://jobs/{jobId}' };
    const oldest = ids[0]!;
    const exact = await session.call('completion/complete', { ref, argument: { name: 'jobId', value: oldest } });
    assert.deepEqual(exact.result.completion.values, [oldest]);
    const all = await session.call('completion/complete', { ref, argument: { name: 'jobId', value: '' } });
    assert.equal(all.result.completion.values.length, 100);
    assert.equal(all.result.completion.total, 104);
    assert.equal(all.result.completion.hasMore, true);
  });

  it('Utilities › Pagination: a cursor the server never gave is -32602 on tools/list and resources/list', async () => {
    const session = await rawSession(server.url, { token: TOKEN });
    for (const method of ['tools/list', 'resources/list']) {
      const answer = await session.call(method, { cursor: 'not-a-cursor' });
      assert.equal(error(answer)?.code, -32602, `${method}: ${JSON.stringify(answer)}`);
    }
  });
});

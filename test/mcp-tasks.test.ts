import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema, type Task } from '@modelcontextprotocol/sdk/types.js';
import { taskStatusOf } from '../src/mcp/tasks.js';
import { JOB_STATUSES } from '../src/jobs/schemas.js';
import { waitFor } from './support/helpers.js';
import { startTestServer } from './support/in-process-server.js';

type Structured = Record<string, unknown>;
/** A task-augmented claude_run call: the answer is a task, not the tool's result. */
async function runAsTask(client: Client, prompt: string): Promise<Task> {
  const created = await client.request(
    { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt } } },
    CreateTaskResultSchema,
    { task: { ttl: 60_000 } },
  );
  return created.task;
}

async function until(client: Client, taskId: string, status: Task['status']): Promise<Task> {
  return waitFor(async () => {
    const task = await client.experimental.tasks.getTask(taskId);
    return task.status === status ? task : undefined;
  }, 20_000, `task ${taskId} to be ${status}`);
}

describe('MCP tasks backed by the job engine', () => {
  it('a task-augmented claude_run returns a task that tasks/get follows to completion and tasks/result resolves', async (t) => {
    const srv = await startTestServer(t);
    const client = await srv.connect();
    assert.deepEqual(client.getServerCapabilities()?.tasks, { list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { tools } = await client.listTools();
    assert.equal(tools.find((x) => x.name === 'claude_run')?.execution?.taskSupport, 'optional');
    assert.equal(tools.find((x) => x.name === 'claude_start')?.execution?.taskSupport, 'forbidden');

    const task = await runAsTask(client, '#fake tick 3 100\nbuild it');
    assert.match(task.taskId, /^[0-9a-z]{26}$/);
    assert.equal(task.status, 'working');
    assert.equal(task.pollInterval, 1000);
    assert.equal(task.ttl, null, 'retention 0 keeps results forever');

    const done = await until(client, task.taskId, 'completed');
    assert.equal(done.createdAt, task.createdAt);
    assert.ok(Date.parse(done.lastUpdatedAt) >= Date.parse(done.createdAt));

    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    const check = result.structuredContent as Structured;
    assert.equal(check.jobId, task.taskId);
    assert.equal(check.status, 'completed');
    assert.equal((check.result as Structured).result, 'Echo: build it');
    assert.match(JSON.stringify(result.content), /Result: Echo: build it/);

    // The task is a job: the tools see it too, and tasks/list shows it.
    const viaTool = await client.callTool({ name: 'claude_check', arguments: { jobId: task.taskId } });
    assert.equal((viaTool.structuredContent as Structured).status, 'completed');
    const { tasks } = await client.experimental.tasks.listTasks();
    assert.deepEqual(tasks.map((x) => [x.taskId, x.status]), [[task.taskId, 'completed']]);
  });

  it('a task survives a server restart: a new session on the new server fetches its result', async (t) => {
    const srv = await startTestServer(t);
    const first = await srv.connect();
    const task = await runAsTask(first, '#fake sleep 1500\nslow one');
    await first.close();
    await srv.restart();

    const second = await srv.connect();
    assert.equal((await second.experimental.tasks.getTask(task.taskId)).taskId, task.taskId);
    // tasks/result blocks until the task is terminal, then answers with the tool's result.
    const result = await second.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 30_000 });
    assert.equal((result.structuredContent as Structured).status, 'completed');
    assert.equal(((result.structuredContent as Structured).result as Structured).result, 'Echo: slow one');
    assert.equal((await second.experimental.tasks.getTask(task.taskId)).status, 'completed');
  });

  it('a client without task support gets the plain tool result from claude_run; claude_start still answers at once', async (t) => {
    const srv = await startTestServer(t);
    const client = await srv.connect();
    const started = await client.callTool({ name: 'claude_start', arguments: { prompt: '#fake sleep 1000\nlater' } });
    assert.equal((started.structuredContent as Structured).status, 'queued');

    const ran = await client.callTool({ name: 'claude_run', arguments: { prompt: '#fake tick 2 100\nquick' } }, undefined, { timeout: 30_000 });
    assert.equal(ran.isError, undefined);
    const check = ran.structuredContent as Structured;
    assert.equal(check.status, 'completed');
    assert.equal((check.result as Structured).result, 'Echo: quick');

    const bad = await client.callTool({ name: 'claude_run', arguments: { prompt: 'x', cwd: '/' } });
    assert.equal(bad.isError, true);
    assert.match(JSON.stringify(bad.content), /outside the allowed roots/);
  });

  it('tasks/cancel cancels the job behind the task', async (t) => {
    const srv = await startTestServer(t);
    const client = await srv.connect();
    const task = await runAsTask(client, '#fake sleep 20000\nforever');
    await waitFor(async () => ((await client.callTool({ name: 'claude_check', arguments: { jobId: task.taskId } })).structuredContent as Structured).status === 'running', 10_000, 'job to run');
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    assert.equal(cancelled.status, 'cancelled');
    const check = await client.callTool({ name: 'claude_check', arguments: { jobId: task.taskId } });
    assert.equal((check.structuredContent as Structured).status, 'cancelled');
    await assert.rejects(client.experimental.tasks.cancelTask(task.taskId), /terminal status/);
  });

  it('another principal cannot see, fetch, list or cancel a task', async (t) => {
    const srv = await startTestServer(t);
    const alice = await srv.connect();
    const task = await runAsTask(alice, '#fake sleep 3000\nmine');
    const bob = await srv.connect(srv.tokens.bob);
    await assert.rejects(bob.experimental.tasks.getTask(task.taskId), /Task not found/);
    await assert.rejects(bob.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema), /Task not found/);
    await assert.rejects(bob.experimental.tasks.cancelTask(task.taskId), /Task not found/);
    assert.deepEqual((await bob.experimental.tasks.listTasks()).tasks, []);
    await assert.rejects(bob.experimental.tasks.getTask('../../etc/passwd'), /Task not found/);
    assert.equal((await alice.experimental.tasks.getTask(task.taskId)).status, 'working');
  });

  it('a read-only principal cannot run claude_run, as a task or not', async (t) => {
    const srv = await startTestServer(t);
    const reader = await srv.connect(srv.tokens.reader);
    const plain = await reader.callTool({ name: 'claude_run', arguments: { prompt: 'x' } }).then((r) => JSON.stringify(r), (e: unknown) => String(e));
    assert.match(plain, /read-only|jobs:write/);
    await assert.rejects(runAsTask(reader, 'x'));
    assert.deepEqual((await reader.experimental.tasks.listTasks()).tasks, []);
  });

  it('maps every job status onto a task status', () => {
    const mapped = Object.fromEntries(JOB_STATUSES.map((s) => [s, taskStatusOf(s)]));
    assert.deepEqual(mapped, {
      queued: 'working', running: 'working', completed: 'completed', failed: 'failed',
      cancelled: 'cancelled', timed_out: 'failed', orphaned: 'failed', unknown: 'failed',
    });
  });
});

// Approvals on the shared backend, against a real redis-server, one real worker and two real fronts,
// with the fake CLI's approval mode: the job runs on the worker, whose job folder holds the question;
// the worker publishes the open question into Redis, so any front shows it (REST, claude_check, a
// claude_run task reading input_required); an answer sent to any front reaches the worker through
// the control channel and the job goes on; a second answer is the same 409 as on one server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { TOKEN } from './support/faults.js';
import { checkUntilAsked, type Pending } from './support/approvals.js';
import { waitFor } from './support/helpers.js';
import { connect } from './support/mcp-client.js';
import { redisMissing } from './support/redis.js';
import { readSse } from './support/sse.js';
import { startCluster, type Cluster } from './support/scale.js';
import type { RealServer } from './support/server-process.js';
import type { JobSpecRecord } from '../src/jobs/records.js';

type Json = Record<string, unknown>;
const missing = redisMissing();

describe('shared backend: approvals', { skip: missing ?? false }, () => {
  let cluster: Cluster;
  let root: string;
  let one: RealServer;
  let two: RealServer;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    cluster = await startCluster({ after: (fn) => cleanups.push(fn) }, 'ca-scale-approvals-');
    root = path.join(cluster.dir, 'repos');
    fs.mkdirSync(root);
    await cluster.worker('host-a', [root]);
    one = await cluster.front('front-1', root, { CLAUDE_ASYNC_APPROVALS: 'on' });
    two = await cluster.front('front-2', root, { CLAUDE_ASYNC_APPROVALS: 'on' });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  const jobDir = (jobId: string) => path.join(cluster.workers[0]!.jobsDir, jobId);
  const questionOn = (front: RealServer, jobId: string) => waitFor(async () => {
    const job = await front.rest(`/v1/jobs/${jobId}`);
    return (job.body.pendingApprovals as Pending[] | undefined)?.[0];
  }, 30_000, `job ${jobId}'s question to show on ${front.url}`);
  const endedOn = (front: RealServer, jobId: string) => waitFor(async () => {
    const job = await front.rest(`/v1/jobs/${jobId}`);
    return ['completed', 'failed', 'cancelled', 'timed_out', 'orphaned'].includes(String(job.body.status)) && job.body;
  }, 30_000, `job ${jobId} to end`);

  it('a question asked on the worker shows on every front; allowed over REST through the other front, the job goes on; a second answer is 409', async () => {
    const gate = path.join(cluster.dir, 'gate-rest');
    const started = await one.rest('/v1/jobs', { body: { prompt: `#fake ask Bash git push\n#fake wait-file ${gate}\nafter the question`, cwd: root, approvals: true } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const jobId = String(started.body.jobId);
    const pending = await questionOn(two, jobId);
    assert.deepEqual([pending.toolName, pending.input], ['Bash', { command: 'git push' }]);
    assert.equal((await questionOn(one, jobId)).approvalId, pending.approvalId);
    // The approval server claude was given writes into the folder on the worker, not the front's.
    const spec = JSON.parse(fs.readFileSync(path.join(jobDir(jobId), 'spec.json'), 'utf8')) as JobSpecRecord;
    const mcpConfig = spec.args[spec.args.indexOf('--mcp-config') + 1]!;
    assert.ok(mcpConfig.includes(JSON.stringify(jobDir(jobId))), mcpConfig);
    assert.ok(fs.existsSync(path.join(jobDir(jobId), 'approvals', `${pending.approvalId}.question.json`)));
    // The live event stream of the other front carries the question too.
    const stream = await fetch(`${two.url}/v1/jobs/${jobId}/events`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const { events } = await readSse(stream, (seen) => seen.some((e) => e.event === 'approval'));
    const announced = JSON.parse(events.find((e) => e.event === 'approval')!.data) as Json;
    assert.deepEqual([announced.jobId, announced.approvalId, announced.toolName], [jobId, pending.approvalId, 'Bash']);

    const answered = await two.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow', updatedInput: { command: 'git push --dry-run' } } });
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.deepEqual([answered.body.jobId, answered.body.approvalId, answered.body.decision], [jobId, pending.approvalId, 'allow']);
    const answeredBy = String(answered.body.answeredBy);
    const again = await one.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'deny', message: 'changed my mind' } });
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.match(String(again.body.detail), new RegExp(`already answered \\(allow by ${answeredBy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at`));
    const unknown = await one.rest(`/v1/jobs/${jobId}/approvals/ap-0000000000000000`, { body: { decision: 'allow' } });
    assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
    assert.equal(unknown.body.title, 'Approval not found');

    // Answered while the job still runs (it waits at the gate): the question leaves every front,
    // though the job's status did not change.
    const cleared = await waitFor(async () => {
      const job = await one.rest(`/v1/jobs/${jobId}`);
      return job.body.pendingApprovals === undefined && job.body;
    }, 15_000, 'the answered question to leave the front');
    assert.equal(cleared.status, 'running');
    fs.writeFileSync(gate, '');
    const job = await endedOn(two, jobId);
    assert.equal(job.status, 'completed');
    const output = await one.rest(`/v1/jobs/${jobId}/output?format=text`);
    assert.match(output.text, /Allowed Bash: \{"command":"git push --dry-run"\}/);
    const kept = JSON.parse(fs.readFileSync(path.join(jobDir(jobId), 'approvals', `${pending.approvalId}.answer.json`), 'utf8')) as Json;
    assert.deepEqual([kept.decision, kept.answeredBy], ['allow', answeredBy]);
    // After the end it is still answered once.
    assert.equal((await two.rest(`/v1/jobs/${jobId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } })).status, 409);
  });

  it('claude_check on one front shows the question, claude_approve on another denies it with a message, which claude reads; a second claude_approve is refused', async (t) => {
    const { client: starter } = await connect(one.url, TOKEN);
    const { client } = await connect(two.url, TOKEN);
    t.after(async () => {
      await starter.close();
      await client.close();
    });
    const started = await starter.callTool({ name: 'claude_start', arguments: { prompt: '#fake ask Bash rm -rf dist', cwd: root, approvals: true } });
    assert.equal(started.isError, undefined, JSON.stringify(started.content));
    const jobId = String((started.structuredContent as Json).jobId);
    const { check, pending } = await checkUntilAsked(client, jobId);
    assert.match(JSON.stringify(check.content), /Waiting for your answer \(claude_approve, approvalId ap-/);
    const denied = await client.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'deny', message: 'use npm run clean instead' } });
    assert.equal(denied.isError, undefined, JSON.stringify(denied.content));
    assert.equal((denied.structuredContent as Json).decision, 'deny');
    const second = await starter.callTool({ name: 'claude_approve', arguments: { jobId, approvalId: pending.approvalId, decision: 'allow' } });
    assert.equal(second.isError, true);
    assert.match(JSON.stringify(second.content), /already answered \(deny by /);
    const done = await starter.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 30 } }, undefined, { timeout: 45_000 });
    assert.equal((done.structuredContent as Json).status, 'completed');
    assert.match(String((done.structuredContent as Json).tail), /Denied Bash: use npm run clean instead/);
  });

  it('a claude_run task on a front reads input_required while its question is open, and completes once it is answered through the other front', async (t) => {
    const { client } = await connect(two.url, TOKEN);
    t.after(() => client.close());
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'claude_run', arguments: { prompt: '#fake ask Bash npm publish\nthen finish', cwd: root, approvals: true } } },
      CreateTaskResultSchema,
      { task: { ttl: 60_000 } },
    );
    await waitFor(async () => (await client.experimental.tasks.getTask(task.taskId)).status === 'input_required', 30_000, 'the task to need input');
    const pending = await questionOn(one, task.taskId);
    assert.equal((await one.rest(`/v1/jobs/${task.taskId}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } })).status, 200);
    await waitFor(async () => (await client.experimental.tasks.getTask(task.taskId)).status === 'completed', 30_000, 'the task to complete');
    assert.match((await two.rest(`/v1/jobs/${task.taskId}/output?format=text`)).text, /Allowed Bash: \{"command":"npm publish"\}/);
  });
});

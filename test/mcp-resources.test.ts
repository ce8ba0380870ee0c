import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import pino from 'pino';
import { TokenStore } from '../src/auth/token-store.js';
import { JobNotFound } from '../src/jobs/errors.js';
import { JOB_URI_TEMPLATE, OUTPUT_URI_TEMPLATE, jobUri, outputUri, parseJobUri } from '../src/mcp/resources.js';
import { JobWatcher } from '../src/mcp/subscriptions.js';
import { startServer } from '../src/server.js';
import { tokensFile } from '../src/auth/options.js';
import { ALICE, cleanupJobs, testConfig, waitFor } from './helpers.js';

const TOKEN = 'cas_test_token_0123456789abcdef';
type Structured = Record<string, unknown>;
type Ctx = { after: (fn: () => unknown) => void };
/** Closed before their server (after hooks run first to last), so no SSE stream holds its shutdown. */
const clients: Client[] = [];

async function serverFor(t: Ctx) {
  const config = testConfig({ port: 0, token: TOKEN, auth: 'token' });
  const bob = (await new TokenStore(tokensFile(config)).create('bob', ['jobs:read', 'jobs:write'])).token;
  const server = await startServer(config, pino({ level: 'silent' }));
  t.after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    cleanupJobs(config);
  });
  return { url: server.url, bob };
}

async function connect(url: string, token = TOKEN) {
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  const updated: string[] = [];
  let listChanged = 0;
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void listChanged++);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return { client, updated, listChanged: () => listChanged };
}

async function start(client: Client, prompt: string): Promise<string> {
  const started = await client.callTool({ name: 'claude_start', arguments: { prompt } });
  return String((started.structuredContent as Structured).jobId);
}

const text = (r: { contents: unknown[] }) => String((r.contents[0] as { text?: string } | undefined)?.text);

describe('jobs as MCP resources', () => {
  it('lists job templates and recent jobs, reads a job and its output, and completes jobIds', async (t) => {
    const { url } = await serverFor(t);
    const { client, listChanged } = await connect(url);
    const caps = client.getServerCapabilities()!;
    assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
    assert.deepEqual(caps.completions, {});
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.deepEqual(resourceTemplates.map((r) => r.uriTemplate).sort(), [JOB_URI_TEMPLATE, OUTPUT_URI_TEMPLATE]);
    assert.deepEqual((await client.listResources()).resources, []);

    const jobId = await start(client, '#fake tick 2 50\nhello there');
    await waitFor(() => listChanged() > 0, 5000, 'list_changed after claude_start');
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri), [jobUri(jobId)]);
    assert.equal(resources[0]!.mimeType, 'application/json');

    await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 20 } });
    const job = await client.readResource({ uri: jobUri(jobId) });
    const doc = JSON.parse(text(job)) as Structured;
    assert.equal(doc.jobId, jobId);
    assert.equal(doc.status, 'completed');
    assert.equal((doc.result as Structured).result, 'Echo: hello there');
    assert.equal(doc.tail, undefined, 'the job resource carries no output; the output resource does');
    assert.equal(doc.outputUri, outputUri(jobId));
    const output = await client.readResource({ uri: outputUri(jobId) });
    assert.equal(output.contents[0]!.mimeType, 'text/plain');
    assert.match(text(output), /tick 2/);

    const completion = await client.complete({ ref: { type: 'ref/resource', uri: JOB_URI_TEMPLATE }, argument: { name: 'jobId', value: jobId.slice(0, 4) } });
    assert.deepEqual(completion.completion.values, [jobId]);
    const none = await client.complete({ ref: { type: 'ref/resource', uri: OUTPUT_URI_TEMPLATE }, argument: { name: 'jobId', value: 'zzzz' } });
    assert.deepEqual(none.completion.values, []);
  });

  it('a subscriber hears `updated` when its job writes output and when it finishes', async (t) => {
    const { url } = await serverFor(t);
    const { client, updated } = await connect(url);
    const jobId = await start(client, '#fake sleep 1200\n#fake tick 2 100\ndone soon');
    // What the client learns by reading the job each time it is told the job changed.
    const seen: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
      updated.push(n.params.uri);
      if (n.params.uri === jobUri(jobId)) seen.push(String((JSON.parse(text(await client.readResource({ uri: jobUri(jobId) }))) as Structured).status));
    });
    await client.subscribeResource({ uri: jobUri(jobId) });
    await client.subscribeResource({ uri: outputUri(jobId) });
    await waitFor(() => seen.includes('completed'), 20_000, 'an updated notification after which the job reads completed');
    assert.ok(updated.includes(outputUri(jobId)), 'the output resource was updated too');
    const before = updated.length;
    await new Promise((r) => setTimeout(r, 2500));
    const late = updated.slice(before);
    assert.ok(late.length <= 2, `an ended job should go quiet, got ${late.length} more`);
    await client.unsubscribeResource({ uri: jobUri(jobId) });
    await client.unsubscribeResource({ uri: outputUri(jobId) });
  });

  it('another principal can neither list, read, complete nor subscribe to a job', async (t) => {
    const { url, bob: bobToken } = await serverFor(t);
    const alice = await connect(url);
    const jobId = await start(alice.client, '#fake sleep 2000\nprivate');
    const bob = await connect(url, bobToken);
    assert.deepEqual((await bob.client.listResources()).resources, []);
    for (const uri of [jobUri(jobId), outputUri(jobId)]) {
      const read = await bob.client.readResource({ uri }).then(() => null, (e: unknown) => e);
      assert.ok(read instanceof McpError, `reading ${uri} should fail`);
      assert.equal(read.code, -32002);
      assert.match(read.message, /No such job/);
      const sub = await bob.client.subscribeResource({ uri }).then(() => null, (e: unknown) => e);
      assert.ok(sub instanceof McpError, `subscribing to ${uri} should fail`);
      assert.equal(sub.code, -32002);
    }
    const completion = await bob.client.complete({ ref: { type: 'ref/resource', uri: JOB_URI_TEMPLATE }, argument: { name: 'jobId', value: '' } });
    assert.deepEqual(completion.completion.values, []);
    await assert.rejects(bob.client.readResource({ uri: 'claude-async://jobs/..%2F..%2Fetc' }), McpError);
    await assert.rejects(bob.client.subscribeResource({ uri: 'file:///etc/passwd' }), /No such resource/);
    // The owner still can.
    await alice.client.subscribeResource({ uri: jobUri(jobId) });
  });

  it('offers the delegate_to_claude prompt that teaches the start → wait → result loop', async (t) => {
    const { url } = await serverFor(t);
    const { client } = await connect(url);
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => [p.name, p.arguments?.map((a) => [a.name, a.required])]), [['delegate_to_claude', [['task', true], ['cwd', false]]]]);
    const prompt = await client.getPrompt({ name: 'delegate_to_claude', arguments: { task: 'fix the flaky test', cwd: '/srv/app' } });
    const body = (prompt.messages[0]!.content as { text: string }).text;
    for (const step of ['claude_start', 'claude_wait', 'claude_check', 'resumeSessionId', 'fix the flaky test', '"/srv/app"']) assert.ok(body.includes(step), step);
  });
});

describe('the resource watcher', () => {
  /** A fake engine whose one job grows by 100 bytes at every look. */
  function growingJob() {
    let bytes = 0;
    let gone = false;
    const service = {
      job: async (jobId: string) => {
        if (gone) throw new JobNotFound(jobId);
        bytes += 100;
        return { jobId, status: 'running' as const, owner: 'alice', cwd: '/', createdAt: 0, outputBytes: bytes, exitCode: null, signal: null, logCapped: false };
      },
      list: async () => ({ jobs: gone ? [] : [{ jobId: 'j1', status: 'running' as const, owner: 'alice', cwd: '/', createdAt: 0 }] }),
    };
    return { service, remove: () => (gone = true) };
  }

  it('throttles updates per resource and stops polling when nothing is subscribed', async () => {
    const { service } = growingJob();
    const updated: string[] = [];
    const watcher = new JobWatcher(service, ALICE, { updated: async (uri) => void updated.push(uri), listChanged: async () => {} }, { pollMs: 10, minGapMs: 300 });
    await watcher.subscribe('u1', 'j1');
    assert.equal(watcher.polling, true);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(updated.length >= 2 && updated.length <= 4, `expected 2-4 updates in 1 s at ≥ 300 ms apart, got ${updated.length}`);
    watcher.unsubscribe('u1');
    assert.equal(watcher.polling, false);
    assert.equal(watcher.subscriptionCount, 0);
    watcher.close();
  });

  it('tells a subscriber once when its job is removed, then lets the subscription go; close ends every timer', async () => {
    const { service, remove } = growingJob();
    const updated: string[] = [];
    let listChanged = 0;
    const watcher = new JobWatcher(service, ALICE, { updated: async (uri) => void updated.push(uri), listChanged: async () => void listChanged++ }, { pollMs: 10_000, minGapMs: 0 });
    watcher.watchList();
    await watcher.subscribe('u1', 'j1');
    remove();
    await watcher.poll();
    assert.deepEqual(updated, ['u1']);
    assert.equal(watcher.subscriptionCount, 0);
    assert.equal(listChanged, 1);
    watcher.close();
    assert.equal(watcher.polling, false);
  });

  it('parses only its own resource URIs, and only their canonical spelling', () => {
    const id = '01m8tng6prb4s35svt5r0p59xf';
    assert.deepEqual(parseJobUri(`claude-async://jobs/${id}`), { jobId: id, kind: 'job' });
    assert.deepEqual(parseJobUri(`claude-async://jobs/${id}/output`), { jobId: id, kind: 'output' });
    assert.equal(parseJobUri(`claude-async://jobs/${id}/other`), null);
    assert.equal(parseJobUri(`claude-async://jobs/%30${id.slice(1)}`), null, 'a percent-escaped alias names no job');
    assert.equal(parseJobUri('claude-async://jobs/abc'), null, 'not a job id');
    assert.equal(parseJobUri('file:///etc/passwd'), null);
  });
});

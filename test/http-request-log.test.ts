// What the real server logs per request, and the Glama ownership file it serves: the request line
// names the client (req.ip, which follows CLAUDE_ASYNC_TRUST_PROXY) and the full mounted path
// (/mcp, /v1/jobs/…), never the query string; /.well-known/glama.json comes from settings.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { waitFor } from './support/helpers.js';
import { INIT } from './support/raw-mcp.js';
import { SERVER_BIN, spawnServer, type RealServer } from './support/server-process.js';

const TOKEN = `cas_log_${randomUUID().replace(/-/g, '')}`;
const CLAIM = `glama_claim_${'Ab1_-'.repeat(6)}xy`;
const auth = { Authorization: `Bearer ${TOKEN}` };

/** The `request` lines logged for one X-Request-Id (the server echoes the id back). */
async function requestLine(server: RealServer, requestId: string): Promise<Record<string, unknown>> {
  return waitFor(() => server.logLines().find((l) => l.msg === 'request' && l.reqId === requestId), 10_000, `the request log line for ${requestId}`);
}

describe('the request log of the real server', { timeout: 120_000 }, () => {
  let direct: RealServer;
  let proxied: RealServer;

  before(async () => {
    [direct, proxied] = await Promise.all([
      spawnServer({ env: { CLAUDE_ASYNC_TOKEN: TOKEN } }),
      spawnServer({
        env: {
          CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_TRUST_PROXY: 'loopback',
          CLAUDE_ASYNC_GLAMA_MAINTAINERS: 'alice@example.com, bob@example.org', CLAUDE_ASYNC_GLAMA_CLAIM: CLAIM,
        },
      }),
    ]);
  });

  after(async () => {
    await Promise.all([direct?.stop(), proxied?.stop()]);
  });

  it('logs the mounted path of /mcp and /v1 routes, without the query string', async () => {
    const init = await fetch(`${direct.url}/mcp`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'X-Request-Id': 'log-mcp-1' },
      body: JSON.stringify(INIT),
    });
    assert.equal(init.status, 200);
    await init.text();
    const mcpLine = await requestLine(direct, 'log-mcp-1');
    assert.equal(mcpLine.path, '/mcp');
    assert.equal(mcpLine.method, 'POST');

    const started = await fetch(`${direct.url}/v1/jobs`, {
      method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', 'X-Request-Id': 'log-start-1' },
      body: JSON.stringify({ prompt: 'hello' }),
    });
    assert.equal(started.status, 201);
    const { jobId } = (await started.json()) as { jobId: string };
    assert.equal((await requestLine(direct, 'log-start-1')).path, '/v1/jobs');

    const list = await fetch(`${direct.url}/v1/jobs?limit=5&status=running`, { headers: { ...auth, 'X-Request-Id': 'log-list-1' } });
    assert.equal(list.status, 200);
    await list.text();
    assert.equal((await requestLine(direct, 'log-list-1')).path, '/v1/jobs');

    const one = await fetch(`${direct.url}/v1/jobs/${jobId}?secret-looking=${TOKEN}`, { headers: { ...auth, 'X-Request-Id': 'log-one-1' } });
    assert.equal(one.status, 200);
    await one.text();
    assert.equal((await requestLine(direct, 'log-one-1')).path, `/v1/jobs/${jobId}`);
    assert.ok(!direct.logs().includes(TOKEN), 'a token from the query string reached the log');
  });

  it('logs the socket address when no proxy is trusted, even if the client sends X-Forwarded-For', async () => {
    const res = await fetch(`${direct.url}/healthz`, { headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Request-Id': 'log-ip-direct' } });
    await res.text();
    assert.equal((await requestLine(direct, 'log-ip-direct')).ip, '127.0.0.1');
  });

  it('logs the forwarded client address when CLAUDE_ASYNC_TRUST_PROXY trusts the hop', async () => {
    const res = await fetch(`${proxied.url}/v1/jobs`, { headers: { ...auth, 'X-Forwarded-For': '203.0.113.9', 'X-Request-Id': 'log-ip-proxied' } });
    await res.text();
    const line = await requestLine(proxied, 'log-ip-proxied');
    assert.equal(line.ip, '203.0.113.9');
    assert.equal(line.path, '/v1/jobs');
  });
});

describe('/.well-known/glama.json', { timeout: 120_000 }, () => {
  let withOwners: RealServer;
  let without: RealServer;

  before(async () => {
    [withOwners, without] = await Promise.all([
      spawnServer({ env: { CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_GLAMA_MAINTAINERS: 'alice@example.com, bob@example.org', CLAUDE_ASYNC_GLAMA_CLAIM: CLAIM } }),
      spawnServer({ env: { CLAUDE_ASYNC_TOKEN: TOKEN } }),
    ]);
  });

  after(async () => {
    await Promise.all([withOwners?.stop(), without?.stop()]);
  });

  it('serves the claim token and maintainers from the settings, without a token', async () => {
    const res = await fetch(`${withOwners.url}/.well-known/glama.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), {
      $schema: 'https://glama.ai/mcp/schemas/connector.json',
      claim: CLAIM,
      maintainers: [{ email: 'alice@example.com' }, { email: 'bob@example.org' }],
    });
  });

  it('is a 404 when neither setting is given', async () => {
    const res = await fetch(`${without.url}/.well-known/glama.json`);
    assert.equal(res.status, 404);
    await res.text();
  });

  it('a malformed email or claim stops start-up with a message naming the variable', () => {
    for (const [name, value] of [['CLAUDE_ASYNC_GLAMA_MAINTAINERS', 'alice@example.com,not-an-email'], ['CLAUDE_ASYNC_GLAMA_CLAIM', 'glama_claim_short']] as const) {
      const run = spawnSync(process.execPath, [SERVER_BIN, 'serve'], {
        env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', CLAUDE_ASYNC_PORT: '0', CLAUDE_ASYNC_TOKEN: TOKEN, [name]: value },
        encoding: 'utf8', timeout: 30_000,
      });
      assert.notEqual(run.status, 0, `${name}=${value} was accepted`);
      assert.match(run.stderr, new RegExp(name));
    }
  });
});

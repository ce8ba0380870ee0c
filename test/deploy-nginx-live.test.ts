// A live nginx (Debian's, stock nginx.conf) running deploy/nginx.conf in front of the real server,
// all on loopback: MCP initialize + tools/list and a live /v1/jobs/{id}/events stream over HTTP/1.1
// and HTTP/2, the client's address reaching the request log through X-Forwarded-For, and the
// /.well-known/ files Glama and OAuth clients fetch. Only ports, the upstream port, the certificate
// and the log path of deploy/nginx.conf are changed; every other line runs as shipped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { freePort, tempDir, waitFor } from './support/helpers.js';
import { INIT } from './support/raw-mcp.js';
import { spawnServer, type RealServer } from './support/server-process.js';
import { PUBLIC_NAME, missing, startNginx, stockNginxTree, withCertificates, type LiveNginx } from './support/deploy.js';
import { selfSignedCertificate } from './support/tls.js';
import { needsLinux } from './support/platform.js';

const TOKEN = `cas_nginx_${randomUUID().replace(/-/g, '')}`;
const MCP_HEADERS = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** The JSON-RPC message in an MCP POST answer, whether it came as JSON or as one SSE event. */
function rpcResult(answer: Answer): { result?: Record<string, unknown>; error?: unknown } {
  const type = String(answer.headers['content-type'] ?? '');
  if (type.includes('text/event-stream')) {
    const data = answer.body.split('\n').find((line) => line.startsWith('data: '));
    assert.ok(data, `no data line in ${answer.body}`);
    return JSON.parse(data.slice(6)) as { result?: Record<string, unknown> };
  }
  return JSON.parse(answer.body) as { result?: Record<string, unknown> };
}

describe('deploy/nginx.conf live in front of the real server', { skip: needsLinux('the nginx deploy path is Linux') || missing('nginx', 'nginx') || missing('openssl', 'openssl'), timeout: 180_000 }, () => {
  let tmp = '';
  let server: RealServer;
  let nginx: LiveNginx | undefined;
  let ca = '';
  let tlsPort = 0;
  let httpPort = 0;
  let h2: http2.ClientHttp2Session | undefined;

  /** One HTTP/1.1 request over TLS to nginx, as a browser or client would send it. */
  const h1 = (method: string, urlPath: string, headers: Record<string, string> = {}, body?: string, localAddress?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: tlsPort, servername: PUBLIC_NAME, ca, method, path: urlPath, headers: { Host: PUBLIC_NAME, ...headers }, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  /** One HTTP/2 request on the shared session. */
  const h2Request = (method: string, urlPath: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<Answer>((resolve, reject) => {
      const stream = h2!.request({ ':method': method, ':path': urlPath, ':authority': PUBLIC_NAME, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) });
      let status = 0;
      let responseHeaders: Record<string, string | string[] | undefined> = {};
      let text = '';
      stream.setEncoding('utf8');
      stream.on('response', (h) => { status = Number(h[':status']); responseHeaders = h; });
      stream.on('data', (d: string) => (text += d));
      stream.on('end', () => resolve({ status, headers: responseHeaders, body: text }));
      stream.on('error', reject);
      stream.end(body);
    });

  before(async () => {
    tmp = tempDir('ca-nginx-live-');
    server = await spawnServer({
      env: {
        CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_PUBLIC_URL: `https://${PUBLIC_NAME}`, CLAUDE_ASYNC_TRUST_PROXY: 'loopback',
        CLAUDE_ASYNC_GLAMA_MAINTAINERS: 'owner@example.com',
      },
    });
    [tlsPort, httpPort] = await Promise.all([freePort(), freePort()]);
    const cert = selfSignedCertificate(path.join(tmp, 'certs'), PUBLIC_NAME);
    ca = cert.cert;
    const edits: [RegExp, string][] = [
      [/^(\s*)server 127\.0\.0\.1:8787;/m, `$1server 127.0.0.1:${server.port};`],
      [/^(\s*)listen 80;/m, `$1listen 127.0.0.1:${httpPort};`],
      [/^\s*listen \[::\]:80;\n/m, ''],
      [/^(\s*)listen 443 ssl http2;/m, `$1listen 127.0.0.1:${tlsPort} ssl http2;`],
      [/^\s*listen \[::\]:443 ssl http2;\n/m, ''],
      [/\/var\/log\/nginx\/claude-async\.access\.log/, path.join(tmp, 'access.log')],
    ];
    const tree = stockNginxTree(path.join(tmp, 'root'), (site) => edits.reduce((text, [pattern, replacement]) => {
      assert.match(text, pattern, `deploy/nginx.conf no longer has the line this test moves: ${pattern}`);
      return text.replace(pattern, replacement);
    }, withCertificates(site, cert)));
    nginx = await startNginx(tree, async () => (await h1('GET', '/healthz')).status === 200);
    h2 = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca, servername: PUBLIC_NAME });
    await new Promise<void>((resolve, reject) => { h2!.once('connect', () => resolve()); h2!.once('error', reject); });
  });

  after(async () => {
    h2?.destroy();
    await nginx?.stop();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('speaks HTTP/2 on the TLS port (listen … ssl http2)', () => {
    assert.equal(h2!.alpnProtocol, 'h2');
  });

  for (const version of ['HTTP/1.1', 'HTTP/2'] as const) {
    it(`answers MCP initialize and tools/list through nginx over ${version}`, async () => {
      const send = version === 'HTTP/2' ? h2Request : h1;
      const init = await send('POST', '/mcp', MCP_HEADERS, JSON.stringify(INIT));
      assert.equal(init.status, 200, init.body);
      assert.equal((rpcResult(init).result?.serverInfo as { name?: string } | undefined)?.name !== undefined, true, init.body);
      const sessionId = String(init.headers['mcp-session-id'] ?? '');
      assert.ok(sessionId, 'no Mcp-Session-Id came back through nginx');
      const session = { ...MCP_HEADERS, 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': '2025-06-18' };
      const initialized = await send('POST', '/mcp', session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      assert.equal(initialized.status, 202, initialized.body);
      const list = await send('POST', '/mcp', session, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
      assert.equal(list.status, 200, list.body);
      const tools = (rpcResult(list).result?.tools ?? []) as { name: string }[];
      assert.ok(tools.some((t) => t.name === 'claude_start'), list.body);
    });
  }

  it('streams /v1/jobs/{id}/events live over HTTP/1.1 and HTTP/2: output arrives while the job runs, the status when it ends', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const started = await h1('POST', '/v1/jobs', { ...auth, 'Content-Type': 'application/json' }, JSON.stringify({ prompt: 'live stream\n#fake tick 1 10\n#fake sleep 120000' }));
    assert.equal(started.status, 201, started.body);
    const { jobId } = JSON.parse(started.body) as { jobId: string };

    // Both followers read as the bytes arrive; nothing ends the response until the job ends.
    let h1Text = '';
    let h1Ended = false;
    const h1Stream = https.request({ host: '127.0.0.1', port: tlsPort, servername: PUBLIC_NAME, ca, path: `/v1/jobs/${jobId}/events`, headers: { Host: PUBLIC_NAME, Accept: 'text/event-stream', ...auth }, agent: false }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (d: string) => (h1Text += d));
      res.on('end', () => (h1Ended = true));
    });
    h1Stream.end();
    let h2Text = '';
    let h2Ended = false;
    const h2Stream = h2!.request({ ':path': `/v1/jobs/${jobId}/events`, ':authority': PUBLIC_NAME, accept: 'text/event-stream', authorization: auth.Authorization });
    h2Stream.setEncoding('utf8');
    h2Stream.on('data', (d: string) => (h2Text += d));
    h2Stream.on('end', () => (h2Ended = true));
    try {
      await waitFor(() => h1Text.includes('event: output') && h2Text.includes('event: output'), 30_000, 'the first output event through nginx on both streams');
      const running = await h1('GET', `/v1/jobs/${jobId}`, auth);
      assert.equal((JSON.parse(running.body) as { status: string }).status, 'running', 'the output arrived only after the job ended: something buffered it');
      assert.ok(!h1Text.includes('event: status') && !h2Text.includes('event: status'));

      const cancelled = await h1('POST', `/v1/jobs/${jobId}/cancel`, auth);
      assert.equal(cancelled.status, 200, cancelled.body);
      await waitFor(() => h1Ended && h2Ended, 30_000, 'both streams to end after the final status event');
      for (const text of [h1Text, h2Text]) assert.match(text, /event: status\n(id: \d+\n)?data: .*"status":"cancelled"/);
    } finally {
      h1Stream.destroy();
      h2Stream.close();
    }
  });

  it('puts the client\'s address, not nginx\'s, in the request log (X-Forwarded-For + CLAUDE_ASYNC_TRUST_PROXY)', async () => {
    const requestId = `via-nginx-${randomUUID()}`;
    // 127.0.0.2 is loopback too, so nginx accepts it, and it differs from nginx's own 127.0.0.1.
    const res = await h1('GET', '/v1/jobs?limit=1', { Authorization: `Bearer ${TOKEN}`, 'X-Request-Id': requestId }, undefined, '127.0.0.2');
    assert.equal(res.status, 200, res.body);
    const line = await waitFor(() => server.logLines().find((l) => l.msg === 'request' && l.reqId === requestId), 10_000, 'the request log line');
    assert.equal(line.ip, '127.0.0.2');
    assert.equal(line.path, '/v1/jobs');
  });

  it('forwards /.well-known/ (Glama\'s ownership file, OAuth metadata) and refuses other paths', async () => {
    const glama = await h1('GET', '/.well-known/glama.json');
    assert.equal(glama.status, 200, glama.body);
    assert.deepEqual((JSON.parse(glama.body) as { maintainers: unknown }).maintainers, [{ email: 'owner@example.com' }]);
    const metadata = await h1('GET', '/.well-known/oauth-protected-resource/mcp');
    assert.equal(metadata.status, 200, metadata.body);
    assert.equal((JSON.parse(metadata.body) as { resource: string }).resource, `https://${PUBLIC_NAME}/mcp`);
    assert.equal((await h1('GET', '/some/other/path')).status, 404);
  });

  it('redirects plain HTTP to HTTPS', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: httpPort, path: '/mcp', headers: { Host: PUBLIC_NAME }, agent: false }, resolve).on('error', reject);
    });
    res.resume();
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, `https://${PUBLIC_NAME}/mcp`);
  });
});

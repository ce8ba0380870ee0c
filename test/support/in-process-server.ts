// The server as `serve` builds it (startServer: engine, auth, createApp, listen), run inside the test
// process on 127.0.0.1 with the fake CLI and its own temp data dir, with API tokens for a few people,
// a REST caller, SDK clients that are closed before it, and a restart on the same data dir.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import pino from 'pino';
import { TokenStore } from '../../src/auth/token-store.js';
import { tokensFile } from '../../src/auth/options.js';
import type { Config } from '../../src/config.js';
import type { StreamTiming } from '../../src/http/app.js';
import { startServer, StartupError, type RunningServer, type ServerOptions } from '../../src/server.js';
import { isEnded as isEndedStatus, type JobStatus } from '../../src/jobs/schemas.js';
import { cleanupJobs, freePort, testConfig, waitFor } from './helpers.js';
import { connect, type ClientOptions } from './mcp-client.js';
import { answerOf, restCaller, type RestAnswer, type RestCall, type RestInit } from './rest-client.js';

/** The static CLAUDE_ASYNC_TOKEN of every test server (principal token:default). */
export const TOKEN = 'cas_test_token_0123456789abcdef';

/** A job status that will not change again. */
export const isEnded = (status: string) => isEndedStatus(status as JobStatus);

export type After = { after: (fn: () => unknown) => void };

export interface TestServer {
  config: Config;
  /** Where it listens now (a restart on port 0 moves it). */
  readonly url: string;
  readonly running: RunningServer;
  /** API tokens: alice and bob jobs:read + jobs:write, reader jobs:read, root admin; default is TOKEN. */
  tokens: { default: string; alice: string; bob: string; reader: string; root: string };
  /** fetch(url + path) with the default token (or init.token). */
  call: RestCall;
  rest(urlPath: string, init?: RestInit): Promise<RestAnswer>;
  /** POST /v1/jobs; the new job's id (a refused start throws, naming the answer). */
  startJob(prompt: string, token?: string, extra?: Record<string, unknown>): Promise<string>;
  /** Polls GET /v1/jobs/{id} until `wanted(status)` (default: ended); the job as last read. */
  waitStatus(jobId: string, wanted?: (status: string) => boolean, token?: string): Promise<Record<string, any>>;
  /** startJob, then waitStatus until it ended; the job's id. */
  runJob(prompt: string, token?: string): Promise<string>;
  /** An SDK client over Streamable HTTP, closed (before the server) when the test ends. */
  connect(token?: string, options?: { clientOptions?: ClientOptions; setup?: (client: Client) => void }): Promise<Client>;
  /** Closes the server (and its clients) and starts another on the same data dir and config. */
  restart(): Promise<void>;
}

export interface TestServerOptions {
  /**
   * Listen on a port picked first, so the public URL, allowed Origin and JWT audience name it (the
   * jobs page, OpenAPI servers); otherwise port 0.
   */
  knownUrl?: boolean;
  /** Whose token call()/rest()/connect() send when none is named; default the static TOKEN. */
  defaultToken?: 'default' | 'alice';
  streamTiming?: StreamTiming;
  /** Where Idempotency-Key records are kept instead of the files under the data dir. */
  idempotencyRecords?: ServerOptions['idempotencyRecords'];
}

export async function startTestServer(t: After, overrides: Partial<Config> = {}, options: TestServerOptions = {}): Promise<TestServer> {
  let config = testConfig({ port: 0, token: TOKEN, auth: 'token', authFailuresPerMinute: 1000, ...overrides });
  const clients: Client[] = [];
  let running: RunningServer | undefined;
  const closeAll = async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    await running?.close();
  };
  // One hook, in order: clients first (an open SSE stream would hold the shutdown), then the server
  // flushes its index, then the folder goes.
  t.after(async () => {
    await closeAll();
    cleanupJobs(config);
  });
  const store = new TokenStore(tokensFile(config));
  const tokens = {
    default: TOKEN,
    alice: (await store.create('alice', ['jobs:read', 'jobs:write'])).token,
    bob: (await store.create('bob', ['jobs:read', 'jobs:write'])).token,
    reader: (await store.create('reader', ['jobs:read'])).token,
    root: (await store.create('root', ['admin'])).token,
  };
  const log = pino({ level: 'silent' });
  const start = () => startServer(config, log, { ...(options.streamTiming ? { streamTiming: options.streamTiming } : {}), ...(options.idempotencyRecords ? { idempotencyRecords: options.idempotencyRecords } : {}) });
  if (options.knownUrl) {
    // Another process may take the free port before we bind it: try another.
    for (let attempt = 1; !running; attempt++) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      config = { ...config, port, host: '127.0.0.1', publicUrl: base, allowedOrigins: [base], jwtAudience: `${base}/mcp` };
      try {
        running = await start();
      } catch (error) {
        if (!(error instanceof StartupError) || attempt >= 5) throw error;
      }
    }
  } else {
    running = await start();
  }
  const defaultToken = tokens[options.defaultToken ?? 'default'];
  const call: RestCall = (urlPath, init) => restCaller(running!.url, defaultToken)(urlPath, init);
  const rest = async (urlPath: string, init?: RestInit) => answerOf(await call(urlPath, init));
  const startJob = async (prompt: string, token?: string, extra: Record<string, unknown> = {}) => {
    const started = await rest('/v1/jobs', { ...(token ? { token } : {}), body: { prompt, ...extra } });
    if (started.status !== 201) throw new Error(`start failed: ${started.status} ${started.text}`);
    return String(started.body.jobId);
  };
  const waitStatus = (jobId: string, wanted: (status: string) => boolean = isEnded, token?: string) => waitFor(async () => {
    const job = (await rest(`/v1/jobs/${jobId}`, token ? { token } : {})).body;
    return wanted(String(job.status)) ? job : undefined;
  }, 30_000, `job ${jobId} status`);
  return {
    get config() {
      return config;
    },
    get url() {
      return running!.url;
    },
    get running() {
      return running!;
    },
    tokens,
    call,
    rest,
    startJob,
    waitStatus,
    async runJob(prompt, token) {
      const jobId = await startJob(prompt, token);
      await waitStatus(jobId, isEnded, token);
      return jobId;
    },
    async connect(token = defaultToken, connectOptions = {}) {
      const { client } = await connect(running!.url, token, connectOptions);
      clients.push(client);
      return client;
    },
    async restart() {
      await closeAll();
      running = undefined;
      running = await start();
    },
  };
}

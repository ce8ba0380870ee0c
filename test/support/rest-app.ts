// The server the REST tests call: the in-process test server on a known URL (the OpenAPI document
// names it), alice's token by default, and event streams with a 200 ms heartbeat and a 50 ms log
// poll so a short job's stream shows both.
import type { Config } from '../../src/config.js';
import { startTestServer, type After, type TestServer, type TestServerOptions } from './in-process-server.js';

export type RestApp = TestServer;

export function startRestApp(t: After, overrides: Partial<Config> = {}, options: Pick<TestServerOptions, 'idempotencyRecords'> = {}): Promise<RestApp> {
  return startTestServer(t, overrides, { ...options, knownUrl: true, defaultToken: 'alice', streamTiming: { heartbeatMs: 200, pollMs: 50 } });
}

// `claude-async stdio`: the same tools over MCP stdio, for a client that starts the server itself
// (Claude Desktop's stdio entry, Glama's container wrapped by mcp-proxy). No HTTP, no auth: whoever
// can start this process already owns the data dir. Same JobService, same data dir as `serve`, so
// jobs started here are visible over HTTP and the other way round.
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { JobService } from './jobs/service.js';
import type { Viewer } from './jobs/records.js';
import { fixedRights } from './mcp/rights.js';
import { createMcpServer } from './mcp/server.js';

/**
 * The stdio user is the local user, with the same identity `CLAUDE_ASYNC_AUTH=none` gives an HTTP
 * caller ('local', all scopes, so admin): a job started over stdio is the local HTTP user's job and
 * the other way round. Admin grants nothing the process does not already have: it runs as the OS
 * user who owns the data dir (mode 0700) and could read every job folder anyway.
 */
export const STDIO_VIEWER: Viewer = Object.freeze({ id: 'local', admin: true });

interface StdioIo {
  stdin: Readable;
  stdout: Writable;
}

interface StdioServer {
  service: JobService;
  /** Resolves once the connection is closed and the service flushed. */
  closed: Promise<void>;
  close(): Promise<void>;
}

async function startStdioServer(config: Config, log: Logger, io: StdioIo = { stdin: process.stdin, stdout: process.stdout }): Promise<StdioServer> {
  const service = await JobService.open(config, { log });
  const server = createMcpServer({ service, rights: fixedRights({ viewer: STDIO_VIEWER, canWrite: true }) });
  const transport = new StdioServerTransport(io.stdin, io.stdout);

  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const close = () => {
    // Deferred so `closing` is set before server.close() re-enters through the transport's onclose.
    closing ??= Promise.resolve().then(async () => {
      // Only this connection ends: the runners are detached and keep their jobs going.
      await server.close().catch((err: unknown) => log.warn({ err }, 'closing the MCP connection failed'));
      await service.close();
      log.info('stdio connection closed; running jobs keep running');
      markClosed();
    });
    return closing;
  };
  // The client closing our stdin is how a stdio session ends; a vanished reader (EPIPE) too.
  io.stdin.once('end', () => void close());
  io.stdin.once('close', () => void close());
  io.stdout.once('error', () => void close());

  await server.connect(transport);
  server.server.onclose = () => void close();
  log.info({ jobsDir: config.jobsDir, principal: STDIO_VIEWER.id }, 'claude-async serving MCP over stdio');
  return { service, closed, close };
}

/** The CLI command: logs on stderr only (stdout carries nothing but the protocol), exits on close. */
export async function stdioCommand(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, redact: ['*.token', '*.prompt'] }, pino.destination({ fd: 2, sync: true }));
  // Handlers first: a signal that arrives while the engine opens must still end us cleanly.
  let stopping: string | undefined;
  let running: StdioServer | undefined;
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    stopping = signal;
    void running?.close();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  running = await startStdioServer(config, log);
  if (stopping) void running.close();
  await running.closed;
  process.exit(0);
}

// /mcp over Streamable HTTP: POST for requests, GET for the server→client SSE stream, DELETE to end
// a session. Each session has its own McpServer bound to the principal that initialized it; a
// session id presented by anyone else is as unknown as a made-up one (404, so clients re-initialize).
import { randomUUID } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import express from 'express';
import type { Logger } from 'pino';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { hasScope, viewerOf, type Principal } from '../auth/types.js';
import type { JobService } from '../jobs/service.js';
import { BoundedEventStore } from '../mcp/event-store.js';
import { createMcpServer } from '../mcp/server.js';
import { SessionRegistry } from '../mcp/sessions.js';
import { jsonRpcError } from './json-rpc.js';
import type { OpenStreams } from '../auth/open-streams.js';
import { holdMcpStream } from './stream-gate.js';

const WRITE_TOOLS = new Set(['claude_start', 'claude_run', 'claude_cancel']);

export interface McpRouteOptions {
  service: JobService;
  log: Logger;
  sessionIdleMs: number;
  maxSessions: number;
  resourceMetadataUrl: string;
  /** Caps long-lived requests per principal and closes them when their token is revoked. */
  streams?: OpenStreams;
}

export interface McpRoute {
  router: Router;
  sessions: SessionRegistry;
  events: BoundedEventStore;
}


/** The first JSON-RPC message in a POST body that needs jobs:write (a writing tool, or cancelling a task). */
function callsWriteTool(body: unknown): string | undefined {
  const messages = Array.isArray(body) ? body : [body];
  for (const m of messages) {
    const msg = m as { method?: string; params?: { name?: string } };
    if (msg?.method === 'tools/call' && msg.params?.name && WRITE_TOOLS.has(msg.params.name)) return msg.params.name;
    if (msg?.method === 'tasks/cancel') return 'tasks/cancel';
  }
  return undefined;
}

const acceptsEventStream = (req: Request) => (req.headers.accept ?? '').includes('text/event-stream');

export function createMcpRoute(options: McpRouteOptions): McpRoute {
  const { service, log } = options;
  const events = new BoundedEventStore();
  const sessions = new SessionRegistry(options.sessionIdleMs, options.maxSessions, (s, why) => log.info({ sessionId: s.id, why }, 'mcp session closed'));
  const router = express.Router();

  const serverFor = (principal: Principal) =>
    createMcpServer({ service, viewer: viewerOf(principal), canWrite: hasScope(principal, 'jobs:write') });

  router.all('/', async (req: Request, res: Response) => {
    const principal = req.principal!;
    const sessionId = req.header('mcp-session-id');
    res.setHeader('X-Accel-Buffering', 'no'); // SSE through nginx & co: no buffering

    if (!holdMcpStream(options.streams, req, res)) return;
    if (req.method === 'POST') {
      const tool = callsWriteTool(req.body);
      if (tool && !hasScope(principal, 'jobs:write')) {
        // The MCP authorization spec's step-up answer: 403 insufficient_scope naming the scope.
        res.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="jobs:write", resource_metadata="${options.resourceMetadataUrl}", error_description="${tool} needs the jobs:write scope"`);
        res.status(403).json(jsonRpcError(-32003, `${tool} needs the jobs:write scope; this token is read-only`, req.body));
        return;
      }
      if (!acceptsEventStream(req)) {
        // Some probes and simple clients accept JSON only. Answer them from a one-shot server in
        // JSON-response mode instead of the 406 the transport would give (no streaming there).
        await handleJsonOnly(req, res, serverFor(principal), log);
        return;
      }
    }

    if (sessionId) {
      const session = sessions.get(sessionId, principal.id);
      if (!session) {
        res.status(404).json(jsonRpcError(-32001, 'Session not found: initialize a new session', req.body));
        return;
      }
      req.log = req.log?.child({ sessionId });
      await session.transport.handleRequest(req, res, req.body);
      return;
    }

    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      res.status(400).json(jsonRpcError(-32000, 'Bad Request: send an initialize request first, or pass the Mcp-Session-Id header', req.body));
      return;
    }

    const sessionEvents = events.forSession();
    const server = serverFor(principal);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: sessionEvents,
      onsessioninitialized: (id) => {
        sessions.add({ id, owner: principal.id, transport, server, lastSeenAt: Date.now() });
        log.info({ sessionId: id, principal: principal.id }, 'mcp session opened');
      },
      onsessionclosed: (id) => {
        sessions.forget(id);
      },
    });
    transport.onclose = () => {
      sessionEvents.close();
      if (transport.sessionId) sessions.forget(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });

  return { router, sessions, events };
}

async function handleJsonOnly(req: Request, res: Response, server: ReturnType<typeof createMcpServer>, log: Logger): Promise<void> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  try {
    await server.connect(transport);
    // The transport insists on both types in Accept even in JSON mode; the answer will be JSON.
    req.headers.accept = 'application/json, text/event-stream';
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    log.error({ err }, 'json-only mcp request failed');
    if (!res.headersSent) res.status(500).json(jsonRpcError(-32603, 'Internal error', req.body));
  }
}

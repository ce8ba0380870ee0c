// /mcp over Streamable HTTP: POST for requests, GET for the server→client SSE stream, DELETE to end
// a session. Each session has its own McpServer and belongs to the principal that initialized it:
// a session id presented by anyone else is as unknown as a made-up one (404, so clients
// re-initialize). What a request may do comes from the token it carries, every time (rights.ts).
// Every request with a session id, JSON-only ones included, goes through the session registry.
import type { Request, Response, Router } from 'express';
import express from 'express';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { hasScope, viewerOf, type Principal } from '../auth/types.js';
import type { JobService } from '../jobs/service.js';
import { BoundedEventStore } from './event-store.js';
import { requestRights, withRights, type Rights } from '../mcp/rights.js';
import { createMcpServer } from '../mcp/server.js';
import { SessionRegistry, type Session } from './sessions.js';
import { SessionTransport } from './session-transport.js';
import { WRITE_TOOLS } from '../mcp/tools.js';
import { jsonRpcError } from './json-rpc.js';
import type { OpenStreams } from '../auth/open-streams.js';
import { holdMcpStream } from './stream-gate.js';

export interface McpRouteOptions {
  service: JobService;
  log: Logger;
  sessionIdleMs: number;
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  maxSubscriptionsPerSession: number;
  /** SSE `retry` field: how long a client that was cut off waits before it reconnects. */
  sseRetryMs: number;
  resourceMetadataUrl: string;
  /** Caps long-lived requests per principal and closes them when their token is revoked. */
  streams?: OpenStreams;
}

export interface McpRoute {
  router: Router;
  sessions: SessionRegistry;
  events: BoundedEventStore;
}

interface McpSession extends Session {
  transport: SessionTransport;
  server: McpServer;
  /** The rights of the latest request: what background notifications (subscriptions) go by. */
  rights: Rights;
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

/**
 * Why a POST body is not a JSON-RPC 2.0 message or batch, or undefined when it is one. JSON-RPC 2.0
 * §4/§6: an empty array and an object without "jsonrpc":"2.0" are Invalid Request (-32600); the
 * transport would call them Parse error (-32700).
 */
export function invalidJsonRpc(body: unknown): string | undefined {
  const messages = Array.isArray(body) ? body : [body];
  if (messages.length === 0) return 'an empty batch';
  for (const m of messages) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'a message that is not a JSON object';
    if ((m as { jsonrpc?: unknown }).jsonrpc !== '2.0') return 'a message without "jsonrpc": "2.0"';
  }
  return undefined;
}

const acceptsEventStream = (req: Request) => (req.headers.accept ?? '').includes('text/event-stream');

const rightsOf = (principal: Principal): Rights => ({ viewer: viewerOf(principal), canWrite: hasScope(principal, 'jobs:write') });

export function createMcpRoute(options: McpRouteOptions): McpRoute {
  const { service, log } = options;
  const events = new BoundedEventStore();
  const sessions = new SessionRegistry(
    { idleMs: options.sessionIdleMs, maxSessions: options.maxSessions, maxSessionsPerPrincipal: options.maxSessionsPerPrincipal },
    (s, why) => log.info({ sessionId: s.id, why }, 'mcp session closed'),
  );
  const router = express.Router();

  /** Runs one request through a session's transport, counting its response as open until it ends. */
  const serve = async (req: Request, res: Response, session: McpSession, rights: Rights) => {
    const done = sessions.opened(session);
    res.once('close', done);
    const jsonOnly = req.method === 'POST' && !acceptsEventStream(req);
    // The transport insists on both types in Accept; a JSON-only client gets JSON all the same.
    if (jsonOnly) req.headers.accept = 'application/json, text/event-stream';
    session.rights = rights;
    const listener = getRequestListener((webRequest) => withRights(rights, () => session.transport.handle(webRequest, { parsedBody: req.body, jsonOnly })), { overrideGlobalObjects: false });
    try {
      await listener(req, res);
    } catch (err) {
      log.error({ err }, 'mcp request failed');
      if (!res.headersSent) res.status(500).json(jsonRpcError(-32603, 'Internal error', req.body));
    }
  };

  /** A new session's server and transport; it joins the registry once the transport names it. */
  const open = (principal: Principal, rights: Rights, protocolVersion: string): McpSession => {
    const sessionEvents = events.forSession();
    const session = { id: '', owner: principal.id, rights, lastSeenAt: Date.now(), openResponses: 0 } as McpSession;
    session.server = createMcpServer({
      service,
      // Inside a request its own token decides; background work goes by the latest request's.
      rights: () => requestRights() ?? session.rights,
      backgroundRights: () => session.rights,
      watch: { maxSubscriptions: options.maxSubscriptionsPerSession },
    });
    session.transport = new SessionTransport({
      eventStore: sessionEvents,
      retryMs: options.sseRetryMs,
      onsessioninitialized: (id) => {
        session.id = id;
        sessions.add(session);
        log.info({ sessionId: id, principal: principal.id }, 'mcp session opened');
      },
      onsessionclosed: (id) => sessions.forget(id),
    });
    session.transport.setNegotiatedVersion(SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion) ? protocolVersion : LATEST_PROTOCOL_VERSION);
    session.transport.onclose = () => {
      sessionEvents.close();
      if (session.id) sessions.forget(session.id);
    };
    return session;
  };

  router.all('/', async (req: Request, res: Response) => {
    const principal = req.principal!;
    const rights = rightsOf(principal);
    const sessionId = req.header('mcp-session-id');
    res.setHeader('X-Accel-Buffering', 'no'); // SSE through nginx & co: no buffering

    if (!holdMcpStream(options.streams, req, res)) return;
    if (req.method === 'POST') {
      const invalid = invalidJsonRpc(req.body);
      if (invalid) {
        res.status(400).json(jsonRpcError(-32600, `Invalid Request: ${invalid}`, req.body));
        return;
      }
      const tool = callsWriteTool(req.body);
      if (tool && !rights.canWrite) {
        // The MCP authorization spec's step-up answer: 403 insufficient_scope naming the scope.
        res.set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="jobs:write", resource_metadata="${options.resourceMetadataUrl}", error_description="${tool} needs the jobs:write scope"`);
        res.status(403).json(jsonRpcError(-32003, `${tool} needs the jobs:write scope; this token is read-only`, req.body));
        return;
      }
    }

    if (sessionId) {
      const session = sessions.get(sessionId, principal.id) as McpSession | undefined;
      if (!session) {
        res.status(404).json(jsonRpcError(-32001, 'Session not found: initialize a new session', req.body));
        return;
      }
      req.log = req.log?.child({ sessionId });
      // GET opens the session's standalone SSE stream: it counts as an open response (never idle)
      // for as long as it lasts. A per-principal stream limit belongs here, before `serve`.
      await serve(req, res, session, rights);
      return;
    }

    if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
      res.status(400).json(jsonRpcError(-32000, 'Bad Request: send an initialize request first, or pass the Mcp-Session-Id header', req.body));
      return;
    }

    const admission = sessions.admit(principal.id);
    if (!admission.ok) {
      if (admission.status === 503) res.setHeader('Retry-After', '30');
      res.status(admission.status).json(jsonRpcError(-32000, admission.message, req.body));
      return;
    }
    const session = open(principal, rights, req.body.params.protocolVersion);
    await session.server.connect(session.transport);
    endStreamsOfCancelledRequests(session.transport);
    await serve(req, res, session, rights);
  });

  return { router, sessions, events };
}

/** notifications/cancelled: after the SDK has aborted the handler, close that request's stream. */
function endStreamsOfCancelledRequests(transport: SessionTransport): void {
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    deliver?.(message, extra);
    const m = message as { method?: string; params?: { requestId?: string | number } };
    if (m.method === 'notifications/cancelled' && m.params?.requestId !== undefined) transport.endCancelledRequest(m.params.requestId);
  };
}

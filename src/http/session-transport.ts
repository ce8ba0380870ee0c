// One MCP session's Streamable HTTP transport: the SDK's web-standard transport plus what the
// session needs from it beyond the SDK's behaviour (SDK 1.32.2, server/webStandardStreamableHttp.js):
// - priming events (an id and empty data, SEP-1699) with a `retry` field on every SSE stream, the
//   GET stream included, so a client that is cut off reconnects after `retry` ms and resumes with
//   Last-Event-ID. The SDK primes POST streams only, and decides by the request's
//   Mcp-Protocol-Version header; we decide by the version the session negotiated (a client that
//   negotiated 2025-11-25 handles empty data whatever a later header says), and never prime
//   sessions of older versions, whose clients cannot parse empty data;
// - JSON-response mode per request: a POST that accepts only application/json is answered with the
//   JSON-RPC response(s) of its SSE stream, inside the same session (subscriptions, log levels and
//   the 404 for unknown sessions hold as for any other request);
// - a request the client cancelled (notifications/cancelled) gets its POST stream closed: the SDK
//   never answers a cancelled request, so its stream would otherwise stay open with keepalives.
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { SessionEventStore } from './event-store.js';

/** The SDK's id for the standalone GET stream (the same in every session). */
const GET_STREAM_ID = '_GET_stream';
const FIRST_PRIMING_VERSION = '2025-11-25';

export interface SessionTransportOptions {
  eventStore: SessionEventStore;
  /** Sent as the SSE `retry` field: how long a cut-off client waits before it reconnects. */
  retryMs: number;
  onsessioninitialized: (sessionId: string) => void;
  onsessionclosed: (sessionId: string) => void;
}

export interface HandleOptions {
  parsedBody?: unknown;
  authInfo?: AuthInfo;
  /** The client accepts application/json only: answer with JSON, not an SSE stream. */
  jsonOnly?: boolean;
}

type PrimingWriter = (controller: ReadableStreamDefaultController, encoder: InstanceType<typeof TextEncoder>, streamId: string, protocolVersion: string) => Promise<void>;

export class SessionTransport extends WebStandardStreamableHTTPServerTransport {
  private negotiatedVersion: string | undefined;
  private readonly events: SessionEventStore;
  private readonly retryMs: number;

  constructor(options: SessionTransportOptions) {
    super({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: options.eventStore,
      retryInterval: options.retryMs,
      onsessioninitialized: options.onsessioninitialized,
      onsessionclosed: options.onsessionclosed,
    });
    this.events = options.eventStore;
    this.retryMs = options.retryMs;
    // The SDK's POST priming asks the request header; make it ask the session instead. The method is
    // private in the typings, so it is replaced on this instance rather than overridden.
    const self = this as unknown as { writePrimingEvent: PrimingWriter };
    const writePriming = self.writePrimingEvent.bind(this);
    self.writePrimingEvent = (controller, encoder, streamId, protocolVersion) =>
      writePriming(controller, encoder, streamId, this.negotiatedVersion ?? protocolVersion);
  }

  /** Record the version initialize settled on (the route reads it from the answer). */
  setNegotiatedVersion(version: string): void {
    this.negotiatedVersion = version;
  }

  get primes(): boolean {
    return this.negotiatedVersion !== undefined && this.negotiatedVersion >= FIRST_PRIMING_VERSION;
  }

  async handle(request: Request, options: HandleOptions = {}): Promise<Response> {
    const response = await this.handleRequest(request, { parsedBody: options.parsedBody, ...(options.authInfo ? { authInfo: options.authInfo } : {}) });
    const isStream = response.status === 200 && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (!isStream) return response;
    if (request.method === 'POST' && options.jsonOnly) return jsonAnswer(response);
    if (request.method === 'GET' && !request.headers.get('last-event-id') && this.primes) return this.primed(response);
    return response;
  }

  /** Close the POST stream of a cancelled request, unless it still carries other requests' answers. */
  endCancelledRequest(requestId: RequestId): void {
    const internals = this as unknown as { _requestToStreamMapping: Map<RequestId, string>; _requestResponseMap: Map<RequestId, unknown> };
    const streamId = internals._requestToStreamMapping.get(requestId);
    if (streamId === undefined) return;
    const others = [...internals._requestToStreamMapping].filter(([id, sid]) => sid === streamId && id !== requestId && !internals._requestResponseMap.has(id));
    if (others.length > 0) return;
    this.closeSSEStream(requestId);
    // No answer will ever come for it (the SDK drops a cancelled request's result): forget it.
    internals._requestToStreamMapping.delete(requestId);
  }

  /** The GET stream with a priming event (stored, so resuming from it replays what follows) first. */
  private async primed(response: Response): Promise<Response> {
    const primingId = await this.events.storeEvent(GET_STREAM_ID, {} as JSONRPCMessage);
    const head = new TextEncoder().encode(`id: ${primingId}\nretry: ${this.retryMs}\ndata: \n\n`);
    const body = response.body!;
    const reader = body.getReader();
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => controller.enqueue(head),
      pull: async (controller) => {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(stream, { status: response.status, headers: response.headers });
  }
}

/** Reads a POST's SSE stream to its end and answers with its JSON-RPC response(s) as JSON. */
async function jsonAnswer(response: Response): Promise<Response> {
  const text = await response.text();
  const answers: JSONRPCMessage[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n');
    if (!data) continue; // priming events and keepalive comments
    const message = JSON.parse(data) as Record<string, unknown>;
    if ('id' in message && ('result' in message || 'error' in message)) answers.push(message as JSONRPCMessage);
  }
  const headers = new Headers({ 'Content-Type': 'application/json' });
  const sessionId = response.headers.get('mcp-session-id');
  if (sessionId) headers.set('mcp-session-id', sessionId);
  if (answers.length === 0) return new Response(null, { status: 202, headers });
  return new Response(JSON.stringify(answers.length === 1 ? answers[0] : answers), { status: 200, headers });
}

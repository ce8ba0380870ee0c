/**
 * A bounded, in-memory event store for MCP Streamable HTTP resumability.
 *
 * The SDK transport stores every server→client message it sends on an SSE stream here, and when a
 * client reconnects with `Last-Event-ID` it asks us to replay what came after that id. Why not the
 * SDK's example `InMemoryEventStore`: it derives the stream from the id by splitting on `_` (the
 * transport's own standalone stream id is `_GET_stream`, so that yields ''), sorts every event of
 * every stream on each replay, and never forgets anything.
 *
 * Facts about the transport (SDK 1.32, server/webStandardStreamableHttp.js) this design rests on:
 * - the standalone GET stream has the same id, `_GET_stream`, in every session; a store shared by
 *   several transports would mix (and replay) one session's notifications into another. So hand each
 *   transport its own view: `store.forSession()`. Views share the memory bounds, not the events.
 * - when `getStreamIdForEventId` exists the transport calls it first: `undefined` → HTTP 400, a live
 *   connection on that stream → 409. A throw from `replayEventsAfter` → HTTP 500 "Error replaying
 *   events". We answer `undefined` for unknown ids, so a stale cursor is a client error (400), not a
 *   server error, and no half-built SSE stream is created for it.
 *   The price of the 409: a reconnect that beats the server noticing the old connection's drop is
 *   refused once (the SDK client retries with backoff). Without `getStreamIdForEventId` the
 *   transport would instead replace the old connection, but answer 500 for every stale cursor.
 * - the resumed SSE stream is registered only after `replayEventsAfter` resolves, and the transport
 *   skips live writes of ids we already replayed; so replay reads up to the *current* end of the
 *   stream on each step, and events stored while we replay are delivered, not lost.
 */
import { randomBytes } from 'node:crypto';
import type { EventId, EventStore, StreamId } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface BoundedEventStoreOptions {
  /** Events kept per stream; older ones are dropped first. */
  maxEventsPerStream?: number;
  /** Streams kept across all sessions; the least recently written stream is dropped first. */
  maxStreams?: number;
  /** A stream is forgotten this long after its last write (or replay). */
  ttlMs?: number;
  /**
   * Bytes of stored messages (as JSON) across all streams; past it the least recently written
   * streams are dropped. Every POST answer is stored for resumption, so without this a busy
   * server would hold up to maxStreams whole tool results.
   */
  maxBytes?: number;
  /** Injected clock, ms since the epoch (tests). */
  now?: () => number;
}

export interface EventStoreStats {
  streams: number;
  events: number;
  bytes: number;
}

/** One session's isolated view of a shared store; pass it as the transport's `eventStore`. */
export interface SessionEventStore extends EventStore {
  getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined>;
  /** Drop this session's streams and stop storing; call when the session's transport closes. */
  close(): void;
}

/** The cursor a client resumes from is not (or no longer) in the store. */
export class UnknownEventIdError extends Error {
  constructor(
    readonly eventId: string,
    reason: string,
  ) {
    // The id is client input: quote and truncate it so it cannot forge log lines.
    super(
      `Cannot resume after event ${JSON.stringify(eventId.slice(0, 80))}: ${reason}. ` +
        'The events after it are not available; reconnect without Last-Event-ID.',
    );
    this.name = 'UnknownEventIdError';
  }
}

export const DEFAULT_MAX_EVENTS_PER_STREAM = 1000;
export const DEFAULT_MAX_STREAMS = 10_000;
export const DEFAULT_EVENT_TTL_MS = 10 * 60_000;
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/** The root scope: the store used directly as an EventStore, without `forSession()`. */
const ROOT_SCOPE = '';

// instance.streamNumber.seq — no part comes from the stream id, so ids never need escaping or
// splitting on characters a stream id may contain; the random instance part makes ids from another
// store (or from before a restart) unknown here instead of pointing at unrelated events.
const EVENT_ID_PATTERN = /^([0-9a-f]{12})\.([1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})$/;

interface StreamLog {
  readonly scope: string;
  readonly streamId: StreamId;
  /** Store-unique and never reused, so an id of a dropped stream cannot alias a newer one. */
  readonly streamNumber: number;
  /** Ring buffer: sequence `s` lives at `s % maxEventsPerStream`. */
  readonly ring: JSONRPCMessage[];
  /** JSON size of each ring slot, for the byte budget. */
  readonly sizes: number[];
  bytes: number;
  /** Sequence number the next event gets; events `[max(0, nextSeq - cap), nextSeq)` are kept. */
  nextSeq: number;
  touchedAt: number;
}

export class BoundedEventStore implements EventStore {
  readonly maxEventsPerStream: number;
  readonly maxStreams: number;
  readonly ttlMs: number;
  readonly maxBytes: number;
  private readonly now: () => number;
  private readonly instanceId = randomBytes(6).toString('hex');
  /** All streams by number, in least-recently-touched-first order (re-inserted on each touch). */
  private readonly streams = new Map<number, StreamLog>();
  private readonly scopes = new Map<string, Map<StreamId, StreamLog>>();
  private nextStreamNumber = 1;
  private eventCount = 0;
  private byteCount = 0;

  constructor(options: BoundedEventStoreOptions = {}) {
    this.maxEventsPerStream = positiveInt('maxEventsPerStream', options.maxEventsPerStream ?? DEFAULT_MAX_EVENTS_PER_STREAM);
    this.maxStreams = positiveInt('maxStreams', options.maxStreams ?? DEFAULT_MAX_STREAMS);
    this.ttlMs = positiveInt('ttlMs', options.ttlMs ?? DEFAULT_EVENT_TTL_MS);
    this.maxBytes = positiveInt('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES);
    this.now = options.now ?? Date.now;
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    return this.store(ROOT_SCOPE, streamId, message);
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.locate(ROOT_SCOPE, eventId).log?.streamId;
  }

  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    return this.replay(ROOT_SCOPE, lastEventId, send);
  }

  /** A view with its own streams (its own `_GET_stream`), for one transport/session. */
  forSession(): SessionEventStore {
    const scope = randomBytes(9).toString('base64url');
    let closed = false;
    return {
      storeEvent: async (streamId, message) => {
        // A closed session's transport may still finish a send; storing it would only park
        // events nobody can resume until the ttl. The id returned resolves to nothing.
        if (closed) return `${this.instanceId}.0.0`;
        return this.store(scope, streamId, message);
      },
      getStreamIdForEventId: async (eventId) => this.locate(scope, eventId).log?.streamId,
      replayEventsAfter: async (lastEventId, { send }) => this.replay(scope, lastEventId, send),
      close: () => {
        closed = true;
        for (const log of [...(this.scopes.get(scope)?.values() ?? [])]) this.drop(log);
      },
    };
  }

  /** Forget a stream of the root scope (e.g. a request's stream once its response was read). */
  removeStream(streamId: StreamId): boolean {
    const log = this.scopes.get(ROOT_SCOPE)?.get(streamId);
    if (log === undefined) return false;
    this.drop(log);
    return true;
  }

  /** Drop every stream not touched for `ttlMs`; returns how many. Also runs on each write. */
  sweep(): number {
    const cutoff = this.now() - this.ttlMs;
    let dropped = 0;
    // Oldest-touched first, so the walk stops at the first live stream: O(expired).
    for (const log of this.streams.values()) {
      if (log.touchedAt > cutoff) break;
      this.drop(log);
      dropped++;
    }
    return dropped;
  }

  stats(): EventStoreStats {
    return { streams: this.streams.size, events: this.eventCount, bytes: this.byteCount };
  }

  private store(scope: string, streamId: StreamId, message: JSONRPCMessage): EventId {
    this.sweep();
    let log = this.scopes.get(scope)?.get(streamId);
    if (log === undefined) {
      log = this.open(scope, streamId);
    }
    const cap = this.maxEventsPerStream;
    const seq = log.nextSeq++;
    if (seq >= cap) this.eventCount--; // the slot's previous event is overwritten
    this.eventCount++;
    // The transport's `{}` "priming" event (only a cursor, stored first on each POST stream) is
    // kept like any other: resuming from it must replay everything after it.
    const size = JSON.stringify(message).length;
    const slot = seq % cap;
    const replaced = log.sizes[slot] ?? 0;
    log.ring[slot] = message;
    log.sizes[slot] = size;
    log.bytes += size - replaced;
    this.byteCount += size - replaced;
    this.touch(log);
    // Over budget: drop the least recently written streams, never the one just written.
    for (const oldest of this.streams.values()) {
      if (this.byteCount <= this.maxBytes || oldest === log) break;
      this.drop(oldest);
    }
    return this.eventId(log, seq);
  }

  private open(scope: string, streamId: StreamId): StreamLog {
    while (this.streams.size >= this.maxStreams) {
      const oldest = this.streams.values().next().value;
      if (oldest === undefined) break;
      this.drop(oldest);
    }
    const log: StreamLog = { scope, streamId, streamNumber: this.nextStreamNumber++, ring: [], sizes: [], bytes: 0, nextSeq: 0, touchedAt: 0 };
    let byId = this.scopes.get(scope);
    if (byId === undefined) {
      byId = new Map();
      this.scopes.set(scope, byId);
    }
    byId.set(streamId, log);
    this.streams.set(log.streamNumber, log);
    return log;
  }

  private async replay(
    scope: string,
    lastEventId: EventId,
    send: (eventId: EventId, message: JSONRPCMessage) => Promise<void>,
  ): Promise<StreamId> {
    const { log, seq, reason } = this.locate(scope, lastEventId);
    if (log === undefined) throw new UnknownEventIdError(lastEventId, reason);
    // A resuming client is a live reader: keep its stream from expiring under it.
    this.touch(log);
    // Re-read the end on every step: events stored while `send` awaits are replayed too.
    for (let next = seq + 1; next < log.nextSeq; next++) {
      if (this.streams.get(log.streamNumber) !== log) {
        throw new UnknownEventIdError(lastEventId, 'the stream was dropped during the replay');
      }
      if (next < this.firstKept(log)) {
        throw new UnknownEventIdError(lastEventId, 'events were dropped during the replay (stream over its cap)');
      }
      const message = log.ring[next % this.maxEventsPerStream];
      if (message === undefined) throw new Error(`event store invariant: no event ${next} in a kept range`);
      // A priming event (`{}`, only a cursor) later in the stream, e.g. of a second GET stream the
      // client opened without Last-Event-ID, carries nothing to replay.
      if (Object.keys(message).length === 0) continue;
      await send(this.eventId(log, next), message);
    }
    return log.streamId;
  }

  /** Resolve a client's cursor to its stream, only within `scope` and only if nothing after it was lost. */
  private locate(scope: string, eventId: EventId): { log?: StreamLog; seq: number; reason: string } {
    const match = EVENT_ID_PATTERN.exec(eventId);
    if (match === null || match[1] !== this.instanceId) {
      return { seq: -1, reason: 'not an event id of this server (it may have restarted)' };
    }
    const log = this.streams.get(Number(match[2]));
    // Another session's stream is "unknown" here: a client must not read other sessions' events.
    if (log === undefined || log.scope !== scope) {
      return { seq: -1, reason: 'its stream expired or was closed' };
    }
    if (this.now() - log.touchedAt >= this.ttlMs) {
      this.drop(log);
      return { seq: -1, reason: 'its stream expired' };
    }
    const seq = Number(match[3]);
    if (seq >= log.nextSeq) return { seq: -1, reason: 'no such event was sent' };
    // The cursor event itself may be gone as long as everything after it is still kept.
    if (seq + 1 < this.firstKept(log)) {
      return { seq: -1, reason: `events after it were dropped (over ${this.maxEventsPerStream} per stream)` };
    }
    return { log, seq, reason: '' };
  }

  private firstKept(log: StreamLog): number {
    return Math.max(0, log.nextSeq - this.maxEventsPerStream);
  }

  private touch(log: StreamLog): void {
    log.touchedAt = this.now();
    // Re-insert to keep `streams` ordered by last touch, which `sweep` and eviction rely on.
    this.streams.delete(log.streamNumber);
    this.streams.set(log.streamNumber, log);
  }

  private drop(log: StreamLog): void {
    if (this.streams.get(log.streamNumber) !== log) return;
    this.streams.delete(log.streamNumber);
    this.eventCount -= Math.min(log.nextSeq, this.maxEventsPerStream);
    this.byteCount -= log.bytes;
    const byId = this.scopes.get(log.scope);
    byId?.delete(log.streamId);
    if (byId?.size === 0) this.scopes.delete(log.scope);
  }

  private eventId(log: StreamLog, seq: number): EventId {
    return `${this.instanceId}.${log.streamNumber}.${seq}`;
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

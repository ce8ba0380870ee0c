// The one server-sent-events reader the tests use, over eventsource-parser (the parser the MCP SDK
// itself reads SSE with), so a test asserts on events rather than on how the bytes were split.
import { createParser, type EventSourceParser } from 'eventsource-parser';

export interface SseEvent {
  /** The `event:` field; 'message' when the server sent none. */
  event: string;
  data: string;
  id?: string;
  /** The `retry:` field sent in the same block (the SDK's priming event carries one). */
  retry?: number;
}

/** A push parser: feed text as it arrives; every event completed so far is in `events`. */
export class SseParser {
  readonly events: SseEvent[] = [];
  /** Comment lines seen (the keep-alive pings). */
  comments = 0;
  private retry: number | undefined;
  private readonly parser: EventSourceParser = createParser({
    onEvent: (m) => {
      this.events.push({ event: m.event ?? 'message', data: m.data, ...(m.id !== undefined ? { id: m.id } : {}), ...(this.retry !== undefined ? { retry: this.retry } : {}) });
      this.retry = undefined;
    },
    onRetry: (ms) => (this.retry = ms),
    onComment: () => void this.comments++,
  });

  /** Parses a chunk; returns the events it completed. */
  feed(chunk: string): SseEvent[] {
    const before = this.events.length;
    this.parser.feed(chunk);
    return this.events.slice(before);
  }
}

/** Reads a fetch body event by event. */
export class SseReader {
  private readonly parser = new SseParser();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private taken = 0;
  /** True once the server ended the stream. */
  ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  get comments(): number {
    return this.parser.comments;
  }

  /** The next event, or undefined once the stream ended; rejects when none comes within timeoutMs. */
  async next(timeoutMs = 30_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.taken >= this.parser.events.length) {
      if (this.ended) return undefined;
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now())))),
      ]).finally(() => clearTimeout(timer));
      if (chunk === null) throw new Error(`no SSE event within ${timeoutMs} ms`);
      if (chunk.done) {
        this.ended = true;
        this.parser.feed(this.decoder.decode());
      } else {
        this.parser.feed(this.decoder.decode(chunk.value, { stream: true }));
      }
    }
    return this.parser.events[this.taken++];
  }

  /** Hangs up from our side (a no-op once the server ended the stream). */
  async cancel(): Promise<void> {
    if (!this.ended) await this.reader.cancel().catch(() => {});
  }
}

/**
 * Reads events off a response until `until` holds or the stream ends (without `until`: to the end),
 * then stops reading. Rejects, naming what came, when neither happens within timeoutMs.
 */
export async function readSse(res: Response, until: (events: SseEvent[]) => boolean = () => false, timeoutMs = 30_000): Promise<{ events: SseEvent[]; ended: boolean; comments: number }> {
  const reader = new SseReader(res.body!);
  const events: SseEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      const event = await reader.next(deadline - Date.now()).catch((error: Error) => {
        throw new Error(`${error.message}; got ${JSON.stringify(events).slice(0, 2000)}`);
      });
      if (!event) break;
      events.push(event);
    }
  } finally {
    await reader.cancel();
  }
  return { events, ended: reader.ended, comments: reader.comments };
}

/** The JSON-RPC messages carried by SSE events (priming events carry none). */
export const messagesOf = (events: SseEvent[]) => events.filter((e) => e.data.trim() !== '').map((e) => JSON.parse(e.data) as Record<string, any>);

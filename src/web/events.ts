// Following a job's /events stream. EventSource cannot send an Authorization header, so this reads
// the stream with fetch and parses Server-Sent Events itself. The id of each event is a byte offset
// of the log; after a dropped connection the next request sends it as Last-Event-ID and the server
// goes on from exactly there, so no line is shown twice and none is lost.
import { ApiError, type Api } from './api.js';
import type { Job, PendingApproval } from './types.js';

interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/** The event-stream format (WHATWG HTML §9.2.6), fed chunk by chunk. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  /** Returns the events completed by this chunk. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (!match || (match[0] === '\r' && match.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') this.data.push(value);
      else if (name === 'event') this.event = value;
      else if (name === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

interface FollowHandlers {
  /** One raw stream-json line of the log. */
  onLine(line: string): void;
  /** The job asks a question (approvals): announced once per stream while it is open. */
  onApproval?(question: PendingApproval): void;
  /** The job has ended; this is its final state. */
  onEnd(job: Job | null): void;
  /** Connected (true) or waiting to reconnect (false). */
  onConnection(live: boolean, reason?: string): void;
  onFatal(error: Error): void;
}

const wait = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    resolve();
  }, { once: true });
});

/** Follows until the job ends, the signal aborts, or the server refuses (not found, signed out). */
export async function followJob(api: Api, jobId: string, handlers: FollowHandlers, signal: AbortSignal): Promise<void> {
  let lastEventId: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const res = await api.events(jobId, lastEventId, signal);
      if (res.status === 204 || !res.body) {
        handlers.onEnd(null);
        return;
      }
      handlers.onConnection(true);
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) {
          failures = 0;
          if (event.id !== undefined) lastEventId = event.id;
          if (event.event === 'output') handlers.onLine(event.data);
          else if (event.event === 'approval') handlers.onApproval?.(JSON.parse(event.data) as PendingApproval);
          else if (event.event === 'status') {
            handlers.onEnd(JSON.parse(event.data) as Job);
            return;
          } else if (event.event === 'error') throw new Error(`the server ended the stream: ${event.data}`);
        }
      }
      // The stream closed without a status event: the connection dropped. Resume from lastEventId.
      handlers.onConnection(false, 'connection closed');
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429) {
        handlers.onFatal(error);
        return;
      }
      handlers.onConnection(false, (error as Error).message);
    }
    failures += 1;
    await wait(Math.min(10_000, 500 * 2 ** Math.min(failures, 5)), signal);
  }
}

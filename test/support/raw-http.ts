// Raw HTTP with node:http, for requests fetch would not send as written (odd paths, Host headers)
// and for event streams a test holds open and hangs up on itself.
import http from 'node:http';
import { SseParser, type SseEvent } from './sse.js';

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Raw HTTP, so paths and headers go out exactly as written (fetch would normalize them). */
export function raw(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<RawAnswer> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout on ${options.path}`)));
    req.end(options.body);
  });
}

/**
 * An open SSE response read event by event. `closed` resolves when the server ends the stream;
 * `abort()` hangs up from our side.
 */
export interface OpenStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Every event so far; grows while the stream is open. */
  events: SseEvent[];
  closed: Promise<void>;
  abort(): void;
}

export function openStream(url: string, urlPath: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<OpenStream> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const parser = new SseParser();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.feed(chunk));
      const closed = new Promise<void>((done) => {
        res.once('close', () => done());
        res.once('error', () => done());
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, events: parser.events, closed, abort: () => req.destroy() });
    });
    req.on('error', (err) => reject(err));
    req.end(body);
  });
}

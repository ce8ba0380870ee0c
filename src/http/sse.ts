// Live log follow as Server-Sent Events. Each complete log line is one `output` event whose id is
// the byte offset just after it, so Last-Event-ID resumes exactly; when the job has ended, one
// `status` event and the stream closes. A question of a job with approvals is one `approval` event. The log is polled (stat is cheap, and fs.watch is
// unreliable on network and overlay filesystems, where job folders often live).
import { once } from 'node:events';
import type { Response } from 'express';
import { renderLine } from '../jobs/output.js';
import { ENDED_STATUSES, type JobStatus } from '../jobs/schemas.js';
import { fileSize, readRange } from '../jobs/output.js';
import { problemFor } from './problem.js';

/** Read at most this much per step; a longer line arrives split into several events. */
const CHUNK_BYTES = 1024 * 1024;

export interface FollowOptions {
  file: string;
  jobId: string;
  /** Byte offset to start from; inside a line, the stream starts at the next whole line. */
  from: number;
  /** True when the client is reconnecting (Last-Event-ID): an ended, fully read job then gets 204. */
  resuming: boolean;
  /** 'text': data is the rendered readable text; 'jsonl': data is the raw stream-json line. */
  format: 'text' | 'jsonl';
  /** The job as GET /v1/jobs/{jobId} answers it; throws if it has gone. */
  status: () => Promise<{ status: JobStatus; pendingApprovals?: { approvalId: string }[] }>;
  heartbeatMs: number;
  pollMs: number;
  onError?: (error: unknown) => void;
}

/** SSE field values cannot hold line breaks: each line of the payload is its own data field. */
function eventText(event: string, data: string, id?: number): string {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join('\n');
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\n${lines}\n\n`;
}

export async function followLog(res: Response, options: FollowOptions): Promise<void> {
  // Listen before the first await: a client that hangs up early must not leave a poll loop behind.
  let closed = false;
  let wake: () => void = () => {};
  let heartbeat: NodeJS.Timeout | undefined;
  const gone = new Promise<void>((resolve) => res.once('close', () => {
    closed = true;
    clearInterval(heartbeat);
    wake();
    resolve();
  }));
  const first = await options.status();
  const size = await fileSize(options.file);
  let pos = options.from;
  if (options.resuming && ENDED_STATUSES.has(first.status) && pos >= size) {
    // EventSource reconnects whenever a stream ends; 204 is the one answer that makes it stop.
    res.status(204).end();
    return;
  }
  // An offset inside a line starts at the next whole line (past the end: wait for the log to grow).
  if (pos > 0 && pos <= size && (await readRange(options.file, pos - 1, 1))[0] !== 10) {
    const ahead = await readRange(options.file, pos, CHUNK_BYTES);
    const newline = ahead.indexOf(10);
    pos = newline >= 0 ? pos + newline + 1 : pos + ahead.length;
  }

  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    // nginx buffers proxied responses unless told not to; a buffered stream is no stream.
    'X-Accel-Buffering': 'no',
    Connection: 'keep-alive',
  });
  res.flushHeaders();

  heartbeat = setInterval(() => res.write(': ping\n\n'), options.heartbeatMs);
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  const write = async (text: string) => {
    if (res.write(text) || closed) return;
    // A slow reader must not make us buffer a 100 MB log in memory.
    await Promise.race([once(res, 'drain'), gone]);
  };
  const send = async (line: string, id: number) => {
    const data = options.format === 'jsonl' ? line : renderLine(line);
    if (data !== null && !(options.format === 'jsonl' && line === '')) await write(eventText('output', data, id));
  };

  /** Sends every complete line past pos (and, once the job has ended, a last unterminated one). */
  const pump = async (final: boolean): Promise<boolean> => {
    let sent = false;
    while (!closed) {
      const size = await fileSize(options.file);
      if (size <= pos) return sent;
      const buf = await readRange(options.file, pos, Math.min(CHUNK_BYTES, size - pos));
      let start = 0;
      for (let nl = buf.indexOf(10); nl >= 0 && !closed; nl = buf.indexOf(10, start)) {
        await send(buf.toString('utf8', start, nl), pos + nl + 1);
        start = nl + 1;
      }
      if (start === 0) {
        if (buf.length < CHUNK_BYTES && !final) return sent; // a line still being written
        await send(buf.toString('utf8'), pos + buf.length);
        start = buf.length;
      }
      pos += start;
      sent = true;
    }
    return sent;
  };

  const announced = new Set<string>();
  try {
    while (!closed) {
      if (await pump(false)) continue;
      const job = await options.status();
      // Each open question once per stream (a reconnect hears of the open ones again); no id, so
      // Last-Event-ID stays a log offset.
      for (const approval of job.pendingApprovals ?? []) {
        if (announced.has(approval.approvalId)) continue;
        announced.add(approval.approvalId);
        await write(eventText('approval', JSON.stringify({ jobId: options.jobId, ...approval })));
      }
      if (ENDED_STATUSES.has(job.status)) {
        // The runner writes exit.json after claude's output is closed: what is in the log now is all.
        await pump(true);
        if (!closed) res.end(eventText('status', JSON.stringify(job), pos));
        return;
      }
      await pause(options.pollMs);
    }
  } catch (error) {
    options.onError?.(error);
    if (!closed) res.end(eventText('error', JSON.stringify(problemFor(error).body)));
  } finally {
    clearInterval(heartbeat);
  }
}

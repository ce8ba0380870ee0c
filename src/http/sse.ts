// Live log follow as Server-Sent Events. Each complete log line is one `output` event whose id is
// the byte offset just after it, so Last-Event-ID resumes exactly; when the job has ended, one
// `status` event and the stream closes. The reading is shared: every stream of a job is one watcher
// of the job's LogFollowers entry (src/jobs/follower.ts), so a thousand idle streams cost a
// thousand sockets, not a thousand polls of the disk.
// A question of a job with approvals is one `approval` event, announced from the status look-ups
// the follower already makes.
import { once } from 'node:events';
import type { Response } from 'express';
import type { LogLine } from '../jobs/follower.js';
import { renderLine } from '../jobs/output.js';
import { isEnded, type JobStatus } from '../jobs/schemas.js';
import type { JobOutput } from '../jobs/service.js';
import { HttpProblem, problemFor } from './problem.js';

/** What a follower needs of a job: its status, and the questions it has open (approvals). */
export type FollowedJob = { status: JobStatus; pendingApprovals?: { approvalId: string }[] };

export interface FollowOptions<S extends FollowedJob> {
  /** The job's log (owner-checked by the service). */
  output: JobOutput;
  jobId: string;
  /** Byte offset to start from; inside a line, the stream starts at the next whole line. */
  from: number;
  /** True when the client is reconnecting (Last-Event-ID): an ended, fully read job then gets 204. */
  resuming: boolean;
  /** 'text': data is the rendered readable text; 'jsonl': data is the raw stream-json line. */
  format: 'text' | 'jsonl';
  /** The job as GET /v1/jobs/{jobId} answers it; throws if it has gone. */
  status: () => Promise<S>;
  heartbeatMs: number;
  /** Aborted when the stream must stop early (its token was revoked); the reason is shown. */
  signal?: AbortSignal;
  onError?: (error: unknown) => void;
}

/** SSE field values cannot hold line breaks: each line of the payload is its own data field. */
function eventText(event: string, data: string, id?: number): string {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`).join('\n');
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\n${lines}\n\n`;
}

/** The first whole line at or after `from`: an offset inside a line skips to the next one. */
async function lineAligned(output: JobOutput, from: number, size: number): Promise<number> {
  if (from <= 0 || from > size || (await output.read(from - 1, 1))[0] === 10) return from;
  const ahead = await output.read(from, 1024 * 1024);
  const newline = ahead.indexOf(10);
  return newline >= 0 ? from + newline + 1 : from + ahead.length;
}

export async function followLog<S extends FollowedJob>(res: Response, options: FollowOptions<S>): Promise<void> {
  // Listen before the first await: a client that hangs up early must not leave a watcher behind.
  let closed = false;
  const gone = new Promise<void>((resolve) => res.once('close', () => {
    closed = true;
    resolve();
  }));
  const first = await options.status();
  const size = await options.output.size();
  if (options.resuming && isEnded(first.status) && options.from >= size) {
    // EventSource reconnects whenever a stream ends; 204 is the one answer that makes it stop.
    res.status(204).end();
    return;
  }
  const from = await lineAligned(options.output, options.from, size);

  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    // nginx buffers proxied responses unless told not to; a buffered stream is no stream.
    'X-Accel-Buffering': 'no',
    Connection: 'keep-alive',
  });
  res.flushHeaders();
  const heartbeat = setInterval(() => res.write(': ping\n\n'), options.heartbeatMs);

  const render = (line: LogLine): string => {
    if (options.format === 'jsonl') return line.text === '' ? '' : eventText('output', line.text, line.end);
    const data = renderLine(line.text);
    return data === null ? '' : eventText('output', data, line.end);
  };

  const announced = new Set<string>();
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = (last?: string) => {
      if (done) return;
      done = true;
      subscription.close();
      clearInterval(heartbeat);
      if (!closed) res.end(last);
      resolve();
    };
    const subscription = options.output.follow(from, {
      status: options.status,
      deliver: (lines) => {
        const text = lines.map(render).join('');
        if (text === '' || closed || res.write(text)) return undefined;
        // A slow reader must not make us buffer a 100 MB log in memory: wait for it to drain.
        return Promise.race([once(res, 'drain').then(() => undefined), gone]);
      },
      seen: (job) => {
        // Each open question once per stream (a reconnect hears of the open ones again); no id, so
        // Last-Event-ID stays a log offset.
        for (const approval of job.pendingApprovals ?? []) {
          if (announced.has(approval.approvalId) || closed) continue;
          announced.add(approval.approvalId);
          res.write(eventText('approval', JSON.stringify({ jobId: options.jobId, ...approval })));
        }
      },
      ended: (job, end) => finish(eventText('status', JSON.stringify(job), end)),
      failed: (error) => {
        options.onError?.(error);
        finish(eventText('error', JSON.stringify(problemFor(error).body)));
      },
    });
    void gone.then(() => finish());
    const revoked = () => {
      const reason = String(options.signal?.reason ?? 'the token is no longer valid');
      finish(eventText('error', JSON.stringify(problemFor(new HttpProblem(401, 'token-revoked', 'Token no longer valid', `This stream was closed: ${reason}. Get a valid token and reconnect.`)).body)));
    };
    if (options.signal?.aborted) revoked();
    else options.signal?.addEventListener('abort', revoked, { once: true });
  });
}

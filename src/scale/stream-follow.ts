// Live follow of jobs' logs from their Redis streams, for a front's SSE streams, claude_wait and
// resource subscriptions. One blocking XREAD per front reads every followed stream at once, from
// the lowest position any idle watcher of each job is at; a new watcher (or one done being slow)
// interrupts the block with CLIENT UNBLOCK, so it waits for nothing. Entry ids are byte offsets
// (publisher.ts), so a watcher's position is the same resume offset the faces hand out. A job that
// ends without an end marker (its worker vanished and it was marked orphaned) is noticed by the
// status look-up made while its stream is quiet.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { FollowWatch } from '../jobs/backend.js';
import type { LogLine, Subscription } from '../jobs/follower.js';
import { deliverPaced, type PacedWatcher } from '../jobs/paced-delivery.js';
import { isEnded, type JobStatus } from '../jobs/schemas.js';
import { keys } from './keys.js';

const BLOCK_MS = 1000;
/** A quiet job's status is looked at this often (one look-up per job, shared by its watchers). */
const STATUS_EVERY_MS = 1000;

interface Watcher extends PacedWatcher {
  watch: FollowWatch<{ status: JobStatus }>;
}

interface Followed {
  watchers: Set<Watcher>;
  lastStatusAt: number;
  looking: boolean;
}

export class StreamFollowers {
  private readonly jobs = new Map<string, Followed>();
  private readonly blocking: Redis;
  private blockingId: number | null = null;
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly redis: Redis, private readonly log: Logger) {
    this.blocking = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    this.blocking.on('error', (err) => log.debug({ err }, 'follow connection error'));
    this.blocking.on('ready', () => void this.blocking.client('ID').then((id) => (this.blockingId = Number(id)), () => {}));
  }

  follow<S extends { status: JobStatus }>(jobId: string, from: number, watch: FollowWatch<S>): Subscription {
    let job = this.jobs.get(jobId);
    if (!job) {
      job = { watchers: new Set(), lastStatusAt: 0, looking: false };
      this.jobs.set(jobId, job);
    }
    const watcher: Watcher = { pos: from, busy: false, watch: watch as unknown as FollowWatch<{ status: JobStatus }> };
    job.watchers.add(watcher);
    this.wake();
    return { close: () => this.drop(jobId, watcher) };
  }

  stats(): { jobs: number; watchers: number } {
    let watchers = 0;
    for (const job of this.jobs.values()) watchers += job.watchers.size;
    return { jobs: this.jobs.size, watchers };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.jobs.clear();
    this.blocking.disconnect();
    await this.running?.catch(() => {});
  }

  private drop(jobId: string, watcher: Watcher): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    job.watchers.delete(watcher);
    if (job.watchers.size === 0) this.jobs.delete(jobId);
  }

  /** Starts the loop, or cuts its current block short so it reads with the new positions. */
  private wake(): void {
    if (this.closed) return;
    if (!this.running) {
      this.running = this.loop().finally(() => {
        this.running = null;
        if (this.jobs.size > 0 && !this.closed) this.wake();
      });
      return;
    }
    if (this.blockingId !== null) void this.redis.client('UNBLOCK', this.blockingId).catch(() => {});
  }

  private async loop(): Promise<void> {
    while (!this.closed && this.jobs.size > 0) {
      const streams: string[] = [];
      const ids: string[] = [];
      const read: string[] = [];
      for (const [jobId, job] of this.jobs) {
        const idle = [...job.watchers].filter((w) => !w.busy);
        if (idle.length === 0) continue;
        streams.push(keys.out(jobId));
        ids.push(`${Math.min(...idle.map((w) => w.pos))}-0`);
        read.push(jobId);
      }
      let replies: [string, [string, string[]][]][] | null = null;
      type Replies = [string, [string, string[]][]][] | null;
      if (streams.length > 0) {
        try {
          replies = await this.blocking.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', ...streams, ...ids) as Replies;
        } catch (error) {
          if (this.closed) return;
          this.log.debug({ err: error }, 'follow read failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
      } else {
        await new Promise((r) => setTimeout(r, 50));
      }
      const got = new Set<string>();
      for (const [stream, entries] of replies ?? []) {
        const jobId = read[streams.indexOf(stream)];
        if (!jobId) continue;
        got.add(jobId);
        this.deliver(jobId, entries);
      }
      // Quiet jobs: look at their status now and then (ended without a marker: orphaned, removed).
      for (const jobId of read) if (!got.has(jobId)) this.lookAt(jobId);
    }
  }

  private deliver(jobId: string, entries: [string, string[]][]): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    let endAt: number | null = null;
    const lines: LogLine[] = [];
    for (const [id, fields] of entries) {
      const [end, seq] = id.split('-');
      if (seq === '1') {
        endAt = Number(end);
        break;
      }
      const text = fields[fields.indexOf('l') + 1] ?? '';
      lines.push({ text, end: Number(end) });
    }
    for (const w of job.watchers) {
      if (w.busy) continue;
      const mine = lines.filter((line) => line.end > w.pos);
      if (mine.length > 0) {
        w.pos = mine[mine.length - 1]!.end;
        deliverPaced(w, w.watch, mine, () => this.wake(), () => this.drop(jobId, w));
      }
    }
    if (endAt !== null) this.finish(jobId, endAt);
  }

  /** The end marker: every watcher that has read up to it (this batch) ends; a slow one meets it again later. */
  private finish(jobId: string, endAt: number): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    for (const w of [...job.watchers]) if (!w.busy) this.endWatcher(jobId, w, Math.max(w.pos, endAt));
  }

  private endWatcher(jobId: string, w: Watcher, end: number): void {
    this.drop(jobId, w);
    w.watch.status().then((state) => w.watch.ended(state, end), (error: unknown) => w.watch.failed(error));
  }

  private lookAt(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job || job.looking || Date.now() - job.lastStatusAt < STATUS_EVERY_MS) return;
    const first = [...job.watchers][0];
    if (!first) return;
    job.looking = true;
    job.lastStatusAt = Date.now();
    first.watch.status().then((state) => {
      if (isEnded(state.status)) {
        // Ended without a marker (orphaned): what the stream holds is all there will be.
        for (const w of [...job.watchers]) if (!w.busy) {
          this.drop(jobId, w);
          w.watch.ended(state, w.pos);
        }
        return;
      }
      for (const w of job.watchers) w.watch.seen?.(state);
    }, (error: unknown) => {
      for (const w of [...job.watchers]) {
        this.drop(jobId, w);
        w.watch.failed(error);
      }
    }).finally(() => {
      job.looking = false;
    });
  }
}

// A worker publishes each of its jobs into Redis from the job's folder: status and open questions
// (approvals) into the job's hash, log lines into the job's stream. The folder is read with the
// local engine's own pieces: the log through LogFollowers (whole lines only, truncation-safe), the
// status through status.ts. Stream entry ids are the byte offset just after each line (`<end>-0`),
// so a stream id and the faces' resume offset are one number; `<end>-1` marks the end of the log.
// Redis keeps only the last `maxRedisLogBytes` of each log (trimmed by MINID on every add); the
// whole log stays on disk.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LogFollowers, LogLine, Subscription } from '../jobs/follower.js';
import type { JobPaths } from '../jobs/layout.js';
import { LOG_CAPPED_TYPE } from '../jobs/output.js';
import type { JobSpecRecord } from '../jobs/records.js';
import { readFolderState, type FolderState } from './folder-state.js';
import { keys } from './keys.js';

/**
 * A running job's status written back over the `orphaned` a reaper wrote while this worker's
 * heartbeat had lapsed, unless its end was published meanwhile (an exit in the hash wins: the
 * folder state read before the end must not overwrite it). It rejoins the worker's unended jobs
 * (what a later reap acts on) and leaves its orphans in the same step.
 */
const RECLAIM_UNENDED = `
redis.call('SREM', KEYS[3], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'exit') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'entry', ARGV[1], 'worker', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
`;

export interface PublishedJob {
  jobId: string;
  paths: JobPaths;
  spec: JobSpecRecord;
}

export interface PublishHandlers {
  /** The job has ended and everything was published. */
  ended(state: FolderState): void;
  /** Redis refused (down, or the job was removed): publishing stopped; the worker tries again later. */
  failed(error: unknown): void;
}

/** The end offset of the last line a stream holds, and whether its end marker is there. */
export async function streamHead(redis: Redis, jobId: string): Promise<{ end: number; ended: boolean }> {
  const last = await redis.xrevrange(keys.out(jobId), '+', '-', 'COUNT', 1);
  const id = last[0]?.[0];
  if (!id) return { end: 0, ended: false };
  const [end, seq] = id.split('-');
  return { end: Number(end), ended: seq === '1' };
}

export class JobPublisher {
  constructor(
    private readonly redis: Redis,
    private readonly followers: LogFollowers,
    private readonly workerId: string,
    private readonly maxRedisLogBytes: number,
    private readonly log: Logger,
  ) {}

  /** Publishes the job's state now (entry, exit, log size, open questions). */
  async publishState(jobId: string, state: FolderState): Promise<void> {
    await this.stateTx(jobId, state).exec();
  }

  /**
   * Publishes the state of a job a reaper marked orphaned while it lived on here (see
   * RECLAIM_UNENDED); the publisher itself writes a status only when it changes, so it would
   * never put `running` back. Returns whether the hash now says what the folder says.
   */
  async reclaim(jobId: string, state: FolderState): Promise<boolean> {
    if (state.exit) {
      if (!(await this.redis.exists(keys.job(jobId)))) return false; // removed meanwhile: nothing to put back
      await this.stateTx(jobId, state).srem(keys.workerOrphans(this.workerId), jobId).exec();
      return true;
    }
    const done = await this.redis.eval(RECLAIM_UNENDED, 3, keys.job(jobId), keys.workerJobs(this.workerId), keys.workerOrphans(this.workerId),
      JSON.stringify(state.entry), jobId, this.workerId);
    return done === 1;
  }

  private stateTx(jobId: string, state: FolderState): ReturnType<Redis['multi']> {
    const tx = this.redis.multi().hset(keys.job(jobId), {
      entry: JSON.stringify(state.entry), outputBytes: String(state.outputBytes), worker: this.workerId,
      approvals: JSON.stringify(state.exit ? [] : state.pendingApprovals),
      ...(state.exit ? { exit: JSON.stringify(state.exit) } : {}),
    });
    if (state.exit) tx.srem(keys.workerJobs(this.workerId), jobId).hdel(keys.job(jobId), 'prompt');
    else tx.sadd(keys.workerJobs(this.workerId), jobId);
    return tx;
  }

  /**
   * Follows the job's log from where its stream stops and publishes lines and status until it ends.
   * Safe to call again for a job published before (a restarted worker adopting its jobs).
   */
  async follow(job: PublishedJob, handlers: PublishHandlers): Promise<Subscription> {
    const { jobId, paths, spec } = job;
    // The job may have been removed while we looked away: its hash is gone, and so is our interest.
    if (!(await this.redis.exists(keys.job(jobId)))) throw new Error(`job ${jobId} is no longer in Redis`);
    const head = await streamHead(this.redis, jobId);
    let last = await readFolderState(paths, spec);
    await this.publishState(jobId, last);
    let pos = head.end;
    return this.followers.follow({ file: paths.out, status: () => readFolderState(paths, spec) }, head.end, {
      deliver: async (lines: LogLine[]) => {
        const tx = this.redis.multi();
        for (const line of lines) {
          if (line.end <= pos) continue;
          this.addLine(tx, jobId, pos, line);
          pos = line.end;
        }
        tx.hset(keys.job(jobId), 'outputBytes', String(pos));
        await tx.exec();
      },
      seen: (state) => {
        // A question opening or answered changes nothing else in the folder's state: it counts too.
        if (state.entry.status === last.entry.status && state.entry.statusReason === last.entry.statusReason && state.entry.startedAt === last.entry.startedAt
          && questionIds(state) === questionIds(last)) return;
        last = state;
        this.publishState(jobId, state).catch((error: unknown) => this.log.warn({ jobId, err: error }, 'could not publish a status change; it is published again with the next'));
      },
      ended: (state, end) => {
        // The status first, the end marker with it: a follower woken by the marker reads the end.
        const final = { ...state, outputBytes: Math.max(state.outputBytes, end) };
        const tx = this.stateTx(jobId, final);
        if (!head.ended || end > head.end) tx.xadd(keys.out(jobId), `${Math.max(end, pos)}-1`, 'e', state.status);
        tx.exec().then(() => handlers.ended(state), (error: unknown) => handlers.failed(error));
      },
      failed: (error) => handlers.failed(error),
    });
  }

  private addLine(tx: ReturnType<Redis['multi']>, jobId: string, start: number, line: LogLine): void {
    // A line longer than the whole Redis window is not copied: a marker says so (the log on disk has it).
    const text = Buffer.byteLength(line.text) > this.maxRedisLogBytes
      ? JSON.stringify({ type: LOG_CAPPED_TYPE, subtype: 'line_truncated', bytes: Buffer.byteLength(line.text), maxLineBytes: this.maxRedisLogBytes, head: line.text.slice(0, 512) })
      : line.text;
    const minId = `${Math.max(0, line.end - this.maxRedisLogBytes)}-0`;
    tx.xadd(keys.out(jobId), 'MINID', minId, `${line.end}-0`, 's', String(start), 'l', text);
  }
}

const questionIds = (state: FolderState): string => state.pendingApprovals.map((q) => q.approvalId).join(',');

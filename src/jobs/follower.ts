// Follows running jobs' logs once each and fans new lines out to every watcher of the job, so the
// cost of following grows with jobs, not with watchers: one stat per job per poll, one read per
// distinct reader position (watchers that are caught up share a position, so they share the read),
// and one status look-up per job when its log is quiet. The log is polled: stat is cheap, and
// fs.watch is unreliable on network and overlay filesystems, where job folders often live.
//
// Watchers only ever get whole lines. A log that shrinks (truncated by hand, a disk tool) is noticed
// and each watcher resyncs from a line boundary: the torn line at the truncation point is dropped,
// never delivered half; a line that is not a JSON document (torn where the size could not show it,
// or cut short by a crash) is skipped too. The raw bytes stay readable through /output. Knows
// nothing of HTTP: sse.ts turns lines into events.
import fs from 'node:fs';
import type { JobStatus } from './schemas.js';
import { isEnded } from './schemas.js';
import { deliverPaced, type PacedWatcher } from './paced-delivery.js';

/** Read at most this much per step; a longer line is skipped (see read). */
const FOLLOW_CHUNK_BYTES = 4 * 1024 * 1024;

export interface LogLine {
  /** The line without its newline. */
  text: string;
  /** Byte offset just after the line: where a watcher resumes. */
  end: number;
}

export interface FollowSink<S> {
  /** Whole lines past the watcher's position, in order. A promise means "slow reader": the watcher is skipped until it settles. */
  deliver(lines: LogLine[]): void | Promise<void>;
  /** The job's status as looked up while its log was quiet and it had not ended (one look-up per job, shared). */
  seen?(job: S): void;
  /** The job has ended and every line (a last unterminated one too) was delivered; end is the watcher's final offset. */
  ended(job: S, end: number): void;
  /** The job vanished or could not be read; the watcher is dropped. */
  failed(error: unknown): void;
}

export interface FollowSource<S extends { status: JobStatus }> {
  file: string;
  /** The job's current status; throws when the job has gone. */
  status: () => Promise<S>;
}

export interface Subscription {
  close(): void;
}

interface Watcher<S> extends PacedWatcher {
  sink: FollowSink<S>;
}

function isJsonDocument(text: string): boolean {
  if (text.trim() === '') return true; // blank lines are harmless; the faces skip them
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The start of the line holding `offset` (just after the previous newline), reading backwards. */
async function lineStartBefore(handle: fs.promises.FileHandle, offset: number): Promise<number> {
  let end = offset;
  while (end > 0) {
    const start = Math.max(0, end - 64 * 1024);
    const buf = Buffer.alloc(end - start);
    const { bytesRead } = await handle.read(buf, 0, buf.length, start);
    const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
    if (nl >= 0) return start + nl + 1;
    end = start;
  }
  return 0;
}

/** One followed job: its file, its watchers, its poll. */
class FollowedLog<S extends { status: JobStatus }> {
  readonly watchers = new Set<Watcher<S>>();
  private lastSize = 0;
  /** Where a line torn by a truncation starts; a line starting here is never delivered. */
  private tornAt = -1;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(private readonly source: FollowSource<S>, private readonly pollMs: number, private readonly onIdle: () => void) {}

  add(watcher: Watcher<S>): void {
    this.watchers.add(watcher);
    this.wake();
  }

  remove(watcher: Watcher<S>): void {
    this.watchers.delete(watcher);
    if (this.watchers.size === 0) this.stop();
  }

  /** Runs a poll step now (or right after the one in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.step(), 0);
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.onIdle();
  }

  private async step(): Promise<void> {
    this.running = true;
    this.again = false;
    let pending = false;
    try {
      pending = await this.pump(false);
      if (!pending && !this.stopped && this.watchers.size > 0 && [...this.watchers].every((w) => !w.busy)) {
        const job = await this.source.status();
        if (isEnded(job.status)) {
          // The runner writes exit.json after claude's output is closed: what is in the log now is all.
          await this.finish(job);
          return;
        }
        for (const w of this.watchers) w.sink.seen?.(job);
      }
    } catch (error) {
      for (const w of [...this.watchers]) {
        this.watchers.delete(w);
        w.sink.failed(error);
      }
      this.stop();
      return;
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (pending || this.again) this.timer = setTimeout(() => void this.step(), 0);
    else this.timer = setTimeout(() => void this.step(), this.pollMs);
  }

  /** Delivers what is new to every idle watcher. True when some watcher still has more to read. */
  private async pump(final: boolean): Promise<boolean> {
    const size = await fs.promises.stat(this.source.file).then((s) => s.size, () => 0);
    if (size < this.lastSize) await this.resync(size);
    this.lastSize = size;
    const byPos = new Map<number, Watcher<S>[]>();
    for (const w of this.watchers) {
      if (w.busy || w.pos >= size) continue;
      byPos.set(w.pos, [...(byPos.get(w.pos) ?? []), w]);
    }
    if (byPos.size === 0) return false;
    const handle = await fs.promises.open(this.source.file, 'r').catch(() => null);
    if (!handle) return false;
    let more = false;
    try {
      for (const [pos, group] of byPos) {
        const { lines, next } = await this.read(handle, pos, size, final);
        for (const w of group) {
          if (!this.watchers.has(w)) continue;
          w.pos = next;
          if (next < size) more = true;
          if (lines.length > 0) deliverPaced(w, w.sink, lines, () => this.wake(), () => this.remove(w));
        }
      }
    } finally {
      await handle.close();
    }
    return more;
  }

  /**
   * Whole lines from pos (and, when final, a last unterminated one); next is where reading stops.
   * A line longer than a chunk is skipped, not cut: a watcher never gets a piece of a line (the
   * whole of it is in the raw log, /output).
   */
  private async read(handle: fs.promises.FileHandle, pos: number, size: number, final: boolean): Promise<{ lines: LogLine[]; next: number }> {
    // One byte before pos is read too: it must be a newline, or the file changed under us (say,
    // truncated and rewritten between two polls) and reading starts at the next line boundary.
    const from = pos > 0 ? pos - 1 : 0;
    const want = Math.min(FOLLOW_CHUNK_BYTES + (pos - from), size - from);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await handle.read(buf, 0, want, from);
    const data = buf.subarray(0, bytesRead);
    const full = bytesRead === FOLLOW_CHUNK_BYTES + (pos - from);
    let start = pos - from;
    if (pos > 0 && data[0] !== 10) {
      const nl = data.indexOf(10, 1);
      if (nl < 0) return { lines: [], next: final || full ? from + data.length : pos };
      start = nl + 1;
    }
    const lines: LogLine[] = [];
    const push = (begin: number, end: number) => {
      if (from + begin === this.tornAt) return;
      const text = data.toString('utf8', begin, end);
      // Every line claude writes is one JSON document. A truncation whose cut lies past our last
      // poll leaves no trace in the file size (it has regrown by the next stat): the line it tore
      // (an old head glued to the next line) is then known only by not parsing. It is skipped.
      if (!isJsonDocument(text)) return;
      lines.push({ text, end: from + end + (data[end] === 10 ? 1 : 0) });
    };
    let lineStart = start;
    for (let nl = data.indexOf(10, lineStart); nl >= 0; nl = data.indexOf(10, lineStart)) {
      push(lineStart, nl);
      lineStart = nl + 1;
    }
    if (lineStart < data.length) {
      if (final) {
        push(lineStart, data.length);
        return { lines, next: from + data.length };
      }
      // No newline in a whole chunk: an over-long line. Step past this piece; the next read sees
      // no newline before it and skips the rest of the line the same way.
      if (full && lineStart === start) return { lines, next: from + data.length };
    }
    return { lines, next: from + lineStart };
  }

  /** The log shrank to `size`: watchers past the end restart at the line boundary before it. */
  private async resync(size: number): Promise<void> {
    const handle = await fs.promises.open(this.source.file, 'r').catch(() => null);
    const boundary = handle ? await lineStartBefore(handle, size).finally(() => handle.close()) : 0;
    // Bytes between the boundary and the new end are the head of a line cut by the truncation;
    // whatever is appended next continues it, so the line starting at the boundary is torn.
    this.tornAt = boundary < size ? boundary : -1;
    for (const w of this.watchers) if (w.pos > boundary) w.pos = boundary;
  }

  private async finish(job: S): Promise<void> {
    // Every watcher gets the rest of the log, a slow one at its own pace, then the final status.
    for (;;) {
      const more = await this.pump(true);
      if (this.stopped) return;
      const busy = [...this.watchers].some((w) => w.busy);
      if (!more && !busy) break;
      if (!more) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.sink.ended(job, w.pos);
    }
    this.stop();
  }
}

/** The followed jobs of this process, keyed by log file. */
export class LogFollowers {
  private readonly logs = new Map<string, FollowedLog<{ status: JobStatus }>>();

  constructor(private readonly options: { pollMs: number }) {}

  follow<S extends { status: JobStatus }>(source: FollowSource<S>, from: number, sink: FollowSink<S>): Subscription {
    let log = this.logs.get(source.file) as FollowedLog<S> | undefined;
    if (!log) {
      const created = new FollowedLog<S>(source, this.options.pollMs, () => {
        if (this.logs.get(source.file) === (created as unknown)) this.logs.delete(source.file);
      });
      log = created;
      this.logs.set(source.file, created as unknown as FollowedLog<{ status: JobStatus }>);
    }
    const watcher: Watcher<S> = { pos: from, busy: false, sink };
    const followed = log;
    followed.add(watcher);
    return { close: () => followed.remove(watcher) };
  }

  /** How many jobs are followed and by how many watchers in all. */
  stats(): { jobs: number; watchers: number } {
    let watchers = 0;
    for (const log of this.logs.values()) watchers += log.watchers.size;
    return { jobs: this.logs.size, watchers };
  }
}

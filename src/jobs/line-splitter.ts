// Splits claude's stdout into whole lines in linear time and bounded memory. A line still being
// written is kept as a list of chunks (never re-concatenated per chunk: that made one 80 MB line
// cost minutes); a line past `maxLineBytes` is not kept at all: only its head and its length are,
// and it is handed on as one "long line" so the log keeps a marker instead of the line.

/** How much of an over-long line is kept to say what it was. */
const LONG_LINE_HEAD_BYTES = 2048;

export interface LineSink {
  /** One or more whole lines, each ending in '\n'. */
  lines(batch: Buffer): void;
  /** A line longer than the cap: its first bytes and its full length (without the '\n'). */
  longLine(head: Buffer, totalBytes: number): void;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  /** Set while skipping the rest of an over-long line. */
  private long: { head: Buffer; bytes: number } | null = null;

  constructor(private readonly maxLineBytes: number, private readonly sink: LineSink) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      if (nl < 0) {
        this.hold(chunk.subarray(pos));
        return;
      }
      if (this.long) {
        this.long.bytes += nl - pos;
        this.sink.longLine(this.long.head, this.long.bytes);
        this.long = null;
        pos = nl + 1;
        continue;
      }
      if (this.pendingBytes > 0) {
        // Ends the held line: one concat of its parts, once.
        if (this.pendingBytes + (nl - pos) > this.maxLineBytes) {
          this.startLong(chunk.subarray(pos, nl));
          this.sink.longLine(this.long!.head, this.long!.bytes);
          this.long = null;
        } else {
          this.parts.push(chunk.subarray(pos, nl + 1));
          const line = Buffer.concat(this.parts, this.pendingBytes + (nl + 1 - pos));
          this.parts = [];
          this.pendingBytes = 0;
          this.sink.lines(line);
        }
        pos = nl + 1;
        continue;
      }
      // Every whole line left in this chunk at once; each is shorter than the chunk, so under the cap
      // unless the cap is tiny (then they are checked one by one).
      const last = chunk.lastIndexOf(10);
      if (last - pos + 1 <= this.maxLineBytes) {
        this.sink.lines(chunk.subarray(pos, last + 1));
        pos = last + 1;
      } else {
        this.emitChecked(chunk.subarray(pos, last + 1));
        pos = last + 1;
      }
    }
  }

  /** The stream ended: a last line without its '\n' is still a line. */
  end(): void {
    if (this.long) {
      this.sink.longLine(this.long.head, this.long.bytes);
      this.long = null;
    } else if (this.pendingBytes > 0) {
      this.parts.push(Buffer.from('\n'));
      const line = Buffer.concat(this.parts);
      this.parts = [];
      this.pendingBytes = 0;
      this.sink.lines(line);
    }
  }

  private emitChecked(block: Buffer): void {
    let start = 0;
    for (let nl = block.indexOf(10); nl >= 0; nl = block.indexOf(10, start)) {
      if (nl - start > this.maxLineBytes) this.sink.longLine(block.subarray(start, Math.min(nl, start + LONG_LINE_HEAD_BYTES)), nl - start);
      else this.sink.lines(block.subarray(start, nl + 1));
      start = nl + 1;
    }
  }

  private hold(rest: Buffer): void {
    if (this.long) {
      this.long.bytes += rest.length;
      return;
    }
    if (this.pendingBytes + rest.length > this.maxLineBytes) {
      this.startLong(rest);
      return;
    }
    // Node hands each chunk over for good, so keeping a view of it is safe.
    this.parts.push(rest);
    this.pendingBytes += rest.length;
  }

  /** Drops what was held, keeping only the head and the count. */
  private startLong(more: Buffer): void {
    const held = Buffer.concat([...this.parts, more.subarray(0, LONG_LINE_HEAD_BYTES)]);
    this.long = { head: Buffer.from(held.subarray(0, LONG_LINE_HEAD_BYTES)), bytes: this.pendingBytes + more.length };
    this.parts = [];
    this.pendingBytes = 0;
  }
}

// An append-only log the runner owns (out.jsonl, err.log) that survives a disk that refuses writes.
// A failed or short write (ENOSPC on a full disk) is cut back to where it began, so the file ends
// at the last whole piece written; the log then stops, with the reason kept, and nothing is thrown:
// claude keeps running and the runner still records its exit.
import fs from 'node:fs';

export interface LogStop {
  reason: string;
  /** The log's length when it stopped: everything before is whole. */
  atBytes: number;
}

/** Words a user can act on for the errors a write can end in. */
function writeFailureReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk full';
  return `the log could not be written (${code ?? (error as Error).message})`;
}

export class LogFile {
  private bytes: number;
  private stop: LogStop | null = null;

  constructor(private readonly fd: number) {
    this.bytes = fs.fstatSync(fd).size;
  }

  static open(file: string): LogFile {
    return new LogFile(fs.openSync(file, 'a', 0o600));
  }

  get size(): number {
    return this.bytes;
  }

  get stopped(): LogStop | null {
    return this.stop;
  }

  /** Appends all of `data` or nothing; false once the log has stopped. */
  write(data: Buffer | string): boolean {
    if (this.stop) return false;
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    try {
      while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done);
    } catch (error) {
      // Cutting a file back needs no free space, so this works on a full disk.
      try {
        if (done > 0) fs.ftruncateSync(this.fd, this.bytes);
      } catch {
        // the piece stays; readers skip a line without its '\n'
      }
      this.stop = { reason: writeFailureReason(error), atBytes: this.bytes };
      return false;
    }
    this.bytes += buf.length;
    return true;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed or the disk went away; nothing left to save
    }
  }
}

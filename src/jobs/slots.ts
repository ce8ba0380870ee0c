// Running slots claimed on disk, so MAX_CONCURRENT holds for every process sharing a jobs folder
// (two servers, HTTP and stdio). A slot is a file `.slots/<jobId>`; it is taken by the dispatcher
// that launches the job and given back when the job ends (by its runner, or by whichever
// dispatcher notices first). Counting and taking happen under one lock (a directory: mkdir is
// atomic), so two dispatchers never both see the last free slot.
import fs from 'node:fs';
import path from 'node:path';
import { isJobId } from './ids.js';
import { processHost } from './process/index.js';

/** A lock older than this was left by a process that died holding it (holds last milliseconds). */
const STALE_LOCK_MS = 10_000;

const slotsDir = (jobsDir: string) => path.join(jobsDir, '.slots');

/** Gives a job's slot back; safe to call twice, and from the runner. */
export function releaseSlot(jobsDir: string, jobId: string): void {
  try {
    fs.rmSync(path.join(slotsDir(jobsDir), jobId), { force: true });
  } catch {
    // the next dispatcher pass gives it back
  }
}

export interface SlotHolder {
  jobId: string;
  /** When the slot was taken (ms since the epoch). */
  claimedAt: number;
  /** The process that took it (to launch the job): while the job is not started yet, it must live. */
  takenBy: { pid: number; startTime: string | null } | null;
}

export class SlotClaims {
  private readonly dir: string;
  private readonly lock: string;

  constructor(private readonly jobsDir: string) {
    this.dir = slotsDir(jobsDir);
    this.lock = path.join(jobsDir, '.slots.lock');
  }

  /**
   * Runs `fn` holding the lock; null when another process holds it now (try again on the next tick).
   * Throws when the folder cannot be written (a full or read-only disk): nothing can be launched.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T | null> {
    if (!this.takeLock()) return null;
    try {
      return await fn();
    } finally {
      fs.rmSync(this.lock, { recursive: true, force: true });
    }
  }

  /** The jobs holding slots now, as recorded on disk. */
  holders(): SlotHolder[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const holders: SlotHolder[] = [];
    for (const jobId of names.filter(isJobId)) {
      try {
        const file = path.join(this.dir, jobId);
        const claimedAt = fs.statSync(file).mtimeMs;
        let takenBy: SlotHolder['takenBy'] = null;
        try {
          takenBy = JSON.parse(fs.readFileSync(file, 'utf8')) as SlotHolder['takenBy'];
        } catch {
          // written by hand or cut short: judged by its age alone
        }
        holders.push({ jobId, claimedAt, takenBy });
      } catch {
        // given back meanwhile
      }
    }
    return holders;
  }

  /** Takes a slot for a job; false if it holds one already (another dispatcher launched it). */
  take(jobId: string): boolean {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(path.join(this.dir, jobId), JSON.stringify({ pid: process.pid, startTime: processHost.startTime(process.pid) }), { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  release(jobId: string): void {
    releaseSlot(this.jobsDir, jobId);
  }

  private takeLock(): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.mkdirSync(this.lock, { mode: 0o700 });
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let age: number;
      try {
        age = Date.now() - fs.statSync(this.lock).mtimeMs;
      } catch {
        continue; // released meanwhile: try again
      }
      if (age < STALE_LOCK_MS) return false;
      fs.rmSync(this.lock, { recursive: true, force: true });
    }
    return false;
  }
}

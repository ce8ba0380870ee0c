// One small JSON file of state shared by the server and CLI commands (tokens.json, the OAuth state
// and keys). Every change is a read-modify-write of the file's current content under its lock file
// (lock.ts), written atomically with mode 0600 (atomic.ts); readers reload when the file's identity
// (inode, size, mtime) changed, checked at most once per reloadCheckMs, so a request that checks a
// token costs a cached stat. A file that does not parse is never replaced or half-trusted: reads and
// changes fail (the caller fails closed) until someone fixes it.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { writeFileAtomic } from './atomic.js';
import { withFileLock } from './lock.js';

export class StateFileError extends Error {
  override name = 'StateFileError';
  constructor(message: string, readonly code: 'corrupt' | 'locked') {
    super(message);
  }
}

/** Identity of the file's current version; a rename gives a new inode even within one mtime tick. */
async function signatureOf(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

interface StateFileOptions {
  /** Minimum time between two stats of the file on the read path. Default 1000 ms. */
  reloadCheckMs?: number;
  /** Clock in ms since the epoch; tests pass their own. */
  now?: () => number;
  /** What the file is, for the error a broken one gives ("token file"). */
  what?: string;
}

export class StateFile<T> {
  private data: T;
  /** Why the file's current version cannot be used; reads fail until it changes. */
  private problem: StateFileError | undefined;
  private signature: string | undefined;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private readonly reloadCheckMs: number;
  private readonly now: () => number;
  private readonly what: string;

  constructor(
    readonly file: string,
    private readonly schema: z.ZodType<T>,
    private readonly empty: () => T,
    options: StateFileOptions = {},
  ) {
    this.data = empty();
    this.reloadCheckMs = options.reloadCheckMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.what = options.what ?? 'claude-async state file';
  }

  /** The current content, reloaded when another process changed the file; throws while it is broken. */
  async read(): Promise<T> {
    if (!this.pending && this.now() - this.lastCheckAt >= this.reloadCheckMs) {
      this.lastCheckAt = this.now();
      this.pending = this.reloadIfChanged().finally(() => {
        this.pending = undefined;
      });
    }
    if (this.pending) await this.pending;
    if (this.problem) throw this.problem;
    return this.data;
  }

  /** Applies `change` to the file's current content under the lock; returns what `change` returned. */
  async update<R>(change: (data: T) => R): Promise<R> {
    return this.withLock(async () => {
      const fresh = await this.load();
      const result = change(fresh);
      await writeFileAtomic(this.file, `${JSON.stringify(fresh, null, 2)}\n`, 0o600);
      this.data = fresh;
      this.problem = undefined;
      this.signature = await signatureOf(this.file);
      this.lastCheckAt = this.now();
      return result;
    });
  }

  private async reloadIfChanged(): Promise<void> {
    const signature = await signatureOf(this.file);
    if (signature === this.signature) return;
    try {
      this.data = await this.load();
      this.problem = undefined;
    } catch (error) {
      if (!(error instanceof StateFileError)) throw error;
      this.problem = error;
    }
    this.signature = signature;
  }

  private async load(): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      // A missing file is an empty one (a first run, or every token revoked by removing it).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = this.schema.safeParse(json);
    // Fail closed: a hand-edited, broken file must not be silently replaced by an empty one.
    if (!parsed.success) throw new StateFileError(`${this.file} is not a valid ${this.what}; fix it or move it away`, 'corrupt');
    return parsed.data;
  }

  // The server and a CLI command may change the same file at once; without the lock one change
  // would be lost (a token printed but never stored, a revoke undone by a concurrent refresh).
  private async withLock<R>(fn: () => Promise<R>): Promise<R> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    return withFileLock(`${this.file}.lock`, fn, {
      busy: (lockFile) => new StateFileError(`${lockFile} is held by another process; retry, or remove it if no claude-async process is writing`, 'locked'),
    });
  }
}

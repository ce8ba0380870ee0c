// One JSON file of OAuth state (keys, clients, grants), shared by the server and the CLI
// (`claude-async oauth revoke|rotate-key`). Every change is a read-modify-write of the file's current
// content under a lock file, written atomically with mode 0600; readers reload when the file's
// identity (inode, size, mtime) changed, checked at most once per reloadCheckMs so the token-checking
// path costs a cached stat.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { writeFileAtomic } from '../../files/atomic.js';
import { withFileLock } from '../../files/lock.js';

export class StateFileError extends Error {
  override name = 'StateFileError';
}

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
  reloadCheckMs?: number;
  now?: () => number;
}

export class StateFile<T> {
  private data: T;
  private signature: string | undefined;
  private lastCheckAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private readonly reloadCheckMs: number;
  private readonly now: () => number;

  constructor(
    readonly file: string,
    private readonly schema: z.ZodType<T>,
    private readonly empty: () => T,
    options: StateFileOptions = {},
  ) {
    this.data = empty();
    this.reloadCheckMs = options.reloadCheckMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The current content, reloaded when another process changed the file. */
  async read(): Promise<T> {
    if (!this.pending && this.now() - this.lastCheckAt >= this.reloadCheckMs) {
      this.lastCheckAt = this.now();
      this.pending = this.reloadIfChanged().finally(() => {
        this.pending = undefined;
      });
    }
    if (this.pending) await this.pending;
    return this.data;
  }

  /** Applies `change` to the file's current content under the lock; returns what `change` returned. */
  async update<R>(change: (data: T) => R): Promise<R> {
    return this.withLock(async () => {
      const fresh = await this.load();
      const result = change(fresh);
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.file, `${JSON.stringify(fresh, null, 2)}\n`, 0o600);
      this.data = fresh;
      this.signature = await signatureOf(this.file);
      this.lastCheckAt = this.now();
      return result;
    });
  }

  private async reloadIfChanged(): Promise<void> {
    const signature = await signatureOf(this.file);
    if (signature === this.signature) return;
    this.data = await this.load();
    this.signature = signature;
  }

  private async load(): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
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
    if (!parsed.success) throw new StateFileError(`${this.file} is not a valid claude-async OAuth file; fix it or move it away`);
    return parsed.data;
  }

  // The server and a CLI command may change the same file at once; without the lock one change
  // would be lost (a revoke undone by a concurrent refresh).
  private async withLock<R>(fn: () => Promise<R>): Promise<R> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    return withFileLock(`${this.file}.lock`, fn, {
      busy: (lockFile) => new StateFileError(`${lockFile} is held by another process; retry, or remove it if no claude-async process is writing`),
    });
  }
}

// A lock file for read-modify-write of a small state file shared by the server and CLI commands
// (tokens.json, the OAuth state). Without it, two writers both read the old content and one change
// is lost (a token printed but never stored, a revoke undone by a concurrent refresh).
//
// The lock is `<file>.lock`, created with link(2) so it is never seen half written, holding the
// holder's pid, host and a random nonce. A waiter takes it over when the holder is gone: its pid is
// dead (same host), or the lock is older than `staleMs` (a holder on another host or pid namespace,
// or a reused pid). Locks are held for milliseconds, so either is a crash, not a slow writer.
// (proper-lockfile judges a holder by mtime only, so it needs a refresh timer while held and cannot
// take a dead holder's lock at once; write-file-atomic has no create-only-if-absent. Both fit less
// than these ~150 lines.)
import { readFile, rename, rm, stat, link } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createFileExclusive } from './atomic.js';

export interface FileLockOptions {
  /** How long to wait for a live holder before giving up. Default 5 s. */
  waitMs?: number;
  /** A lock older than this is taken over whoever holds it. Default 10 s. */
  staleMs?: number;
  /** The error thrown when the wait runs out (each caller names its own file and what to do). */
  busy?: (lockFile: string) => Error;
}

interface Holder {
  pid: number;
  host: string;
  nonce: string;
}

const POLL_MS = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Writers in this process queue up here rather than polling the lock file against each other.
const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` while holding `lockFile` (its folder must exist); the lock is released however `fn` ends. */
export function withFileLock<T>(lockFile: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const run = (queues.get(lockFile) ?? Promise.resolve()).then(() => holdWhile(lockFile, fn, options));
  const settled = run.then(() => undefined, () => undefined);
  queues.set(lockFile, settled);
  void settled.then(() => {
    if (queues.get(lockFile) === settled) queues.delete(lockFile);
  });
  return run;
}

async function holdWhile<T>(lockFile: string, fn: () => Promise<T>, options: FileLockOptions): Promise<T> {
  const me: Holder = { pid: process.pid, host: os.hostname(), nonce: randomBytes(12).toString('hex') };
  const text = JSON.stringify(me);
  const deadline = Date.now() + (options.waitMs ?? 5000);
  while (!(await createFileExclusive(lockFile, text))) {
    if (await takeOverIfAbandoned(lockFile, options.staleMs ?? 10_000)) continue;
    if (Date.now() > deadline) {
      throw options.busy?.(lockFile) ?? new Error(`${lockFile} is held by another process; retry, or remove it if no claude-async process is writing`);
    }
    await sleep(POLL_MS);
  }
  try {
    return await fn();
  } finally {
    // Only our own lock: had we been judged dead and taken over, the file is someone else's now.
    if ((await readFile(lockFile, 'utf8').catch(() => '')) === text) await rm(lockFile, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    return typeof value.pid === 'number' && typeof value.host === 'string' ? (value as Holder) : null;
  } catch {
    return null; // an old-style empty lock file: only its age can tell
  }
}

/** True when the lock was (or already is) gone, so the caller should try again at once. */
async function takeOverIfAbandoned(lockFile: string, staleMs: number): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, { mtimeMs }] = await Promise.all([readFile(lockFile, 'utf8'), stat(lockFile)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  const holder = parseHolder(text);
  const dead = holder !== null && holder.host === os.hostname() && !isAlive(holder.pid);
  if (!dead && Date.now() - mtimeMs <= staleMs) return false;
  // Move it aside rather than delete it: two waiters may judge the same dead lock, and the slower
  // one must not delete the fresh lock the faster one has made meanwhile. What we moved is checked,
  // and a live lock moved by mistake goes straight back.
  const aside = `${lockFile}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lockFile, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  try {
    if ((await readFile(aside, 'utf8')) !== text) await link(aside, lockFile).catch(() => undefined);
  } finally {
    await rm(aside, { force: true });
  }
  return true;
}

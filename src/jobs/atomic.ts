// Atomic writes: readers never see half a file. Write a temp file beside the target, fsync it,
// then rename (replace) or link (create only if absent) it into place.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';

const tmpName = (target: string) => `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;

export async function writeFileAtomic(target: string, data: string, mode = 0o600): Promise<void> {
  const tmp = tmpName(target);
  const handle = await fs.promises.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.promises.rename(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** Writes and fsyncs a temp file beside `target`; the caller moves it into place. */
function writeTempSync(target: string, data: string, mode: number): string {
  const tmp = tmpName(target);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

/** The synchronous twin, for the runner's last words (exit.json) where nothing else runs anyway. */
export function writeFileAtomicSync(target: string, data: string, mode = 0o600): void {
  const tmp = writeTempSync(target, data, mode);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates `target` atomically only if it does not exist yet. link(2) fails with EEXIST instead of
 * replacing, which makes this a claim: of two runners started for one job, exactly one wins.
 * Returns false when the file was already there.
 */
export function createFileExclusiveSync(target: string, data: string, mode = 0o600): boolean {
  const tmp = writeTempSync(target, data, mode);
  try {
    fs.linkSync(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export async function readJsonIfExists<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as T;
}

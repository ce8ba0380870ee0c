// Atomic writes: readers never see half a file, and a crash mid-write leaves the old content. Write a
// temp file beside the target (a unique name, so two writers never share one), fsync it, then rename
// (replace) or link (create only if absent) it into place. Files are created with `mode` (0600 unless
// told) from the first byte, whatever the umask; the caller makes the folder (0700 for ours).
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';

const tmpName = (target: string) => `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;

/** Writes and fsyncs a temp file beside `target`; the caller moves it into place. */
async function writeTemp(target: string, data: string, mode: number): Promise<string> {
  const tmp = tmpName(target);
  const handle = await fs.promises.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

function writeTempSync(target: string, data: string, mode: number): string {
  const tmp = tmpName(target);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return tmp;
}

export async function writeFileAtomic(target: string, data: string, mode = 0o600): Promise<void> {
  const tmp = await writeTemp(target, data, mode);
  try {
    await fs.promises.rename(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** The synchronous twin, for the runner's last words (exit.json) and one-shot CLI commands. */
export function writeFileAtomicSync(target: string, data: string, mode = 0o600): void {
  const tmp = writeTempSync(target, data, mode);
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

const isEexist = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST';

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
    if (isEexist(err)) return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The asynchronous twin of createFileExclusiveSync (lock files: nobody ever sees one half written). */
export async function createFileExclusive(target: string, data: string, mode = 0o600): Promise<boolean> {
  const tmp = await writeTemp(target, data, mode);
  try {
    await fs.promises.link(tmp, target);
    return true;
  } catch (err) {
    if (isEexist(err)) return false;
    throw err;
  } finally {
    await fs.promises.rm(tmp, { force: true });
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

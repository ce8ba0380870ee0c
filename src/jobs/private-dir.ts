// The data and jobs folders hold prompts, output and tokens: 0700 whatever the umask or however
// they were made.
import fs from 'node:fs';
import type { Logger } from 'pino';

/**
 * Creates `dir` 0700, or makes an existing one 0700. A folder we cannot fix is reported, not fatal.
 * A folder we cannot create (a full or read-only disk) is left for the first write to report.
 */
export async function ensurePrivateDir(dir: string, log: Logger): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    log.warn({ dir, err: error }, 'could not create a data folder; starts are refused until it can be');
    return;
  }
  if (process.platform === 'win32') return;
  try {
    const mode = (await fs.promises.stat(dir)).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    await fs.promises.chmod(dir, 0o700);
    log.info({ dir, was: mode.toString(8) }, 'made a data folder private (0700)');
  } catch (error) {
    log.warn({ dir, err: error }, `${dir} is readable by other users and could not be made 0700: other users may read job prompts and output; chmod 700 it`);
  }
}

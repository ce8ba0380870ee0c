// The folders jobs may run in (CLAUDE_ASYNC_ALLOWED_ROOTS), as real paths, and the one check a
// requested cwd must pass against them.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { InvalidInput } from './errors.js';

/** The real path of each configured root; a root that does not exist is left out (and logged). */
export async function realRoots(allowedRoots: string[], log: Logger): Promise<string[]> {
  const roots: string[] = [];
  for (const root of allowedRoots) {
    try {
      roots.push(await fs.promises.realpath(root));
    } catch {
      log.warn({ root }, 'an allowed root does not exist; ignoring it');
    }
  }
  return roots;
}

/** The real path of `requested` when it is a directory inside one of `roots`; InvalidInput otherwise. */
export async function resolveWithinRoots(requested: string, roots: string[]): Promise<string> {
  if (!path.isAbsolute(requested)) throw new InvalidInput(`cwd: '${requested}' must be an absolute path`, 'cwd');
  // One answer for missing, outside the roots and not a directory: a caller must not learn which
  // paths exist on the host, nor where the roots are.
  const refused = new InvalidInput(`cwd: '${requested}' does not exist, is not a directory or is outside the allowed roots; ask the operator which folders jobs may use`, 'cwd');
  const real = await fs.promises.realpath(requested).catch(() => null);
  // realpath first: a symlink inside a root that points outside it must not pass.
  if (real === null || !roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) throw refused;
  if (!(await fs.promises.stat(real).then((s) => s.isDirectory(), () => false))) throw refused;
  return real;
}

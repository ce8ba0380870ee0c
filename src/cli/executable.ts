// Resolves a command the way a shell would: an absolute or relative path as given, a bare name
// through PATH (with PATHEXT on Windows). Used to find the claude CLI before anything runs it.
import fs from 'node:fs';
import path from 'node:path';

function isExecutableFile(file: string, platform: NodeJS.Platform): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findExecutable(command: string, env: Record<string, string | undefined> = process.env, platform: NodeJS.Platform = process.platform): string | null {
  if (command.includes('/') || (platform === 'win32' && command.includes('\\'))) {
    const file = path.resolve(command);
    return isExecutableFile(file, platform) ? file : null;
  }
  const exts = platform === 'win32' ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').filter(Boolean)] : [''];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, command + ext);
      if (isExecutableFile(file, platform)) return file;
    }
  }
  return null;
}

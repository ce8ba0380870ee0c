// Resolves a command the way a shell would: an absolute or relative path as given, a bare name
// through PATH (with PATHEXT on Windows, where `claude` is `claude.cmd`). Used to find the claude
// CLI before anything runs it. The platform is a parameter so every branch is testable anywhere.
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

/** Windows keeps PATH as `Path`; environment names there are case-insensitive. */
function envValue(env: Record<string, string | undefined>, name: string, platform: NodeJS.Platform): string | undefined {
  if (platform !== 'win32') return env[name];
  const key = Object.keys(env).find((k) => k.toUpperCase() === name);
  return key === undefined ? undefined : env[key];
}

export function findExecutable(command: string, env: Record<string, string | undefined> = process.env, platform: NodeJS.Platform = process.platform): string | null {
  // Files are probed with this host's path rules (win32 on Windows); only the search rules follow `platform`.
  if (command.includes('/') || (platform === 'win32' && command.includes('\\'))) {
    const file = path.resolve(command);
    if (isExecutableFile(file, platform)) return file;
    return platform === 'win32' && !path.win32.extname(command) ? withExtensions(file, env, platform) : null;
  }
  for (const dir of (envValue(env, 'PATH', platform) ?? '').split(platform === 'win32' ? ';' : ':')) {
    if (!dir) continue;
    const file = path.join(dir, command);
    const found = platform === 'win32' ? withExtensions(file, env, platform) : (isExecutableFile(file, platform) ? file : null);
    if (found) return found;
  }
  return null;
}

/** `claude` → `claude.exe`, `claude.cmd`… in PATHEXT order; a name that has its extension is tried as is. */
function withExtensions(base: string, env: Record<string, string | undefined>, platform: NodeJS.Platform): string | null {
  const exts = (envValue(env, 'PATHEXT', platform) ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  const given = path.win32.extname(base).toUpperCase();
  const candidates = given && exts.some((e) => e.toUpperCase() === given) ? [base] : exts.map((ext) => base + ext.toLowerCase());
  for (const file of candidates) if (isExecutableFile(file, platform)) return file;
  return null;
}

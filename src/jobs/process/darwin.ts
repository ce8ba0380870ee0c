// macOS (and other POSIX without /proc): start times and states from ps(1). The locale is pinned
// (LC_ALL=C) so `lstart` is always `Mon Dec  2 06:51:23 2026` whatever the user's language: a
// runner.json written under one locale must still match when read under another.
import { posixHost, type Kill } from './posix.js';
import { runCommand, type RunCommand } from './run-command.js';
import type { ProcessHost } from './types.js';

const C_LOCALE = { ...process.env, LC_ALL: 'C', LANG: 'C' };

/**
 * `ps -o stat= -o lstart= -p <pid>` output → the start time as one normalised line, or null: ps
 * prints nothing for a gone pid, and a zombie (state Z) has exited though it still has a start time.
 */
export function parseStatLstart(stdout: string): string | null {
  const match = /^\s*(\S+)\s+(.+?)\s*$/.exec(stdout.split('\n').find((l) => l.trim()) ?? '');
  if (!match || match[1]!.startsWith('Z')) return null;
  const lstart = match[2]!.replace(/\s+/g, ' ');
  // weekday month day hh:mm:ss year, as ps(1) prints it in the C locale
  return /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2} \d{4}$/.test(lstart) ? lstart : null;
}

/** `ps -o stat=` output → true when the process is stopped (state letter T). */
function parseStoppedState(stdout: string): boolean {
  return stdout.trim().startsWith('T');
}

export function darwinHost(run: RunCommand = runCommand, kill?: Kill, platform: NodeJS.Platform = 'darwin'): ProcessHost {
  const startTime = (pid: number): string | null => {
    if (!Number.isInteger(pid) || pid <= 0) return null;
    const out = run('ps', ['-o', 'stat=', '-o', 'lstart=', '-p', String(pid)], C_LOCALE);
    return out.status === 0 ? parseStatLstart(out.stdout) : null;
  };
  return {
    ...posixHost(platform, startTime, kill),
    isStopped: (pid) => parseStoppedState(run('ps', ['-o', 'stat=', '-p', String(pid)], C_LOCALE).stdout),
    // No /proc: the runner could be found by its title in `ps`, but not claude by its stdin; a
    // cancel with runner.json unreadable says so rather than guess.
    findJobProcesses: () => null,
  };
}

// Is this pid still *our* process? A pid alone is not enough: after a reboot or a long uptime the
// kernel reuses pids, and a stranger's process must never read as our runner. We record the
// process start time next to the pid and compare both.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

/** The kernel's start time of a process (clock ticks since boot on Linux, a date string elsewhere), or null if gone. */
export function processStartTime(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === 'linux') {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
    // The command name (field 2) may contain spaces and parentheses: parse from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); a zombie has exited and only waits to be reaped.
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null; // field 22: starttime
  }
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim() || null;
  } catch {
    return null;
  }
}

export function isSameProcessAlive(pid: number | undefined | null, startTime: string | undefined | null): boolean {
  if (!pid || !startTime) return false;
  return processStartTime(pid) === startTime;
}

/** Sends a signal to a whole process group; false if the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

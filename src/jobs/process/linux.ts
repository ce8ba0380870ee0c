// Linux: start times and states from /proc/<pid>/stat; a job's processes found through /proc
// (the runner by its title or argv, claude by the prompt file on its stdin).
import fs from 'node:fs';
import path from 'node:path';
import type { JobPaths } from '../layout.js';
import { posixHost } from './posix.js';
import { RUNNER_TITLE, type JobProcesses, type ProcessHost } from './types.js';

/** Fields from the third on (state first): the command name (field 2) may hold spaces and ')'. */
function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Clock ticks since boot (field 22), or null when gone; a zombie has exited and only waits to be reaped. */
function linuxStartTime(pid: number): string | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const fields = statFields(pid);
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null;
}

function findJobProcesses(paths: JobPaths): JobProcesses | null {
  if (!fs.existsSync('/proc/self/cmdline')) return null;
  const found: JobProcesses = { runners: [], claude: [] };
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return found;
  }
  for (const name of pids) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const argv = cmdline.split('\0').filter(Boolean);
      // The runner renames itself (process.title rewrites its cmdline); before that, its argv names the folder.
      const titled = cmdline.replace(/[\0\s]+$/, '') === `${RUNNER_TITLE} ${path.basename(paths.dir)}`;
      if (titled || (argv.length >= 2 && argv[argv.length - 1] === paths.dir && argv.some((a) => a.endsWith('runner.js')))) {
        found.runners.push({ pid, startTime: linuxStartTime(pid) });
        continue;
      }
    } catch {
      continue; // gone, or not ours to read
    }
    try {
      if (fs.readlinkSync(`/proc/${name}/fd/0`) === paths.prompt) found.claude.push({ pid, startTime: linuxStartTime(pid) });
    } catch {
      // no access to its fds: not one of ours
    }
  }
  return found;
}

export function linuxHost(): ProcessHost {
  return {
    ...posixHost('linux', linuxStartTime),
    isStopped: (pid) => statFields(pid)?.[0] === 'T',
    findJobProcesses,
  };
}

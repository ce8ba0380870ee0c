// Finds a job's processes without runner.json (it may be unreadable): the runner is the node process
// whose last argument is the job folder, and claude (with everything it started that kept its
// stdin) reads the job's prompt.txt on fd 0. Linux only (/proc); elsewhere the answer is "cannot tell".
import fs from 'node:fs';
import path from 'node:path';
import type { JobPaths } from './layout.js';
import { processStartTime } from './process-info.js';

export interface FoundProcess {
  pid: number;
  startTime: string | null;
}

export interface JobProcesses {
  runners: FoundProcess[];
  /** Processes reading the job's prompt on stdin: claude and what it started. */
  claude: FoundProcess[];
}

/** The runner's process title: `claude-async-runner <jobId>`. */
export const RUNNER_TITLE = 'claude-async-runner';

export const canFindJobProcesses = () => process.platform === 'linux' && fs.existsSync('/proc/self/cmdline');

export function findJobProcesses(paths: JobPaths): JobProcesses {
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
        found.runners.push({ pid, startTime: processStartTime(pid) });
        continue;
      }
    } catch {
      continue; // gone, or not ours to read
    }
    try {
      if (fs.readlinkSync(`/proc/${name}/fd/0`) === paths.prompt) found.claude.push({ pid, startTime: processStartTime(pid) });
    } catch {
      // no access to its fds: not one of ours
    }
  }
  return found;
}

/** One letter of /proc/<pid>/stat: R, S, D, T (stopped), Z…; null when gone or unknown. */
export function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

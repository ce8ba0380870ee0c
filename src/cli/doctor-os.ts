// doctor's checks of the OS-specific pieces the engine relies on: reading a process's start time
// (/proc on Linux, ps on macOS, PowerShell on Windows), stopping a tree (taskkill on Windows), and
// how claude will be started (a .cmd shim found through PATHEXT runs through cmd.exe).
import { processHost as defaultHost, type ProcessHost } from '../jobs/process/index.js';
import { isBatchFile } from '../jobs/process/cmd-quote.js';
import { runCommand, type RunCommand } from '../jobs/process/run-command.js';
import { tasklistHasPid } from '../jobs/process/win32.js';
import type { CheckResult } from './doctor.js';

export interface OsProbes {
  host?: ProcessHost;
  run?: RunCommand;
  pid?: number;
}

const START_TIME_FIX: Partial<Record<NodeJS.Platform, string>> = {
  linux: '/proc must be mounted and readable (it is, on any ordinary Linux)',
  darwin: 'ps(1) must be at /bin/ps and accept `ps -o stat= -o lstart= -p <pid>` (it does on every macOS)',
  win32: 'powershell.exe must be on Path and allowed to run `Get-Process` (it gives each process\'s start time)',
};

export function checkProcessLayer(claudeBin: string | null, probes: OsProbes = {}): CheckResult[] {
  const host = probes.host ?? defaultHost;
  const pid = probes.pid ?? process.pid;
  const results: CheckResult[] = [];
  const started = host.startTime(pid);
  results.push(started
    ? { name: 'process start times', level: 'ok', detail: `${host.platform}: read for pid ${pid} (${started}), so a reused pid is never taken for a runner` }
    : { name: 'process start times', level: 'fail', detail: `${host.platform}: could not read this process's start time, so no running job can be told from a dead one`, fix: START_TIME_FIX[host.platform] ?? 'a ps(1) that takes -o lstart= must be on PATH' });
  if (host.platform === 'win32') {
    const listed = (probes.run ?? runCommand)('tasklist', ['/FI', `PID eq ${pid}`, '/FO', 'CSV', '/NH']);
    results.push(tasklistHasPid(listed.stdout, pid)
      ? { name: 'tasklist/taskkill', level: 'ok', detail: 'present: cancel and timeouts stop a job\'s tree with taskkill /T, then /F' }
      : { name: 'tasklist/taskkill', level: 'fail', detail: 'tasklist did not list this process: taskkill (%SystemRoot%\\System32) is needed to stop jobs', fix: 'put %SystemRoot%\\System32 on Path' });
    if (claudeBin && isBatchFile(claudeBin)) {
      results.push({ name: 'claude launch', level: 'ok', detail: `${claudeBin} is a .cmd shim (found through PATHEXT): it runs through cmd.exe with every argument quoted; the prompt goes on stdin` });
    }
  }
  return results;
}

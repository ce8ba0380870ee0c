// Windows: no process groups or signals. A process's start time comes from PowerShell
// (Get-Process StartTime; Win32_Process CreationDate when listing), a tree is stopped with
// `taskkill /T` and then `taskkill /T /F`, and a `.cmd` shim (npm's `claude.cmd`) is started
// through cmd.exe with every argument quoted (cmd-quote.ts). Tested on Linux with the recorded
// outputs in test/fixtures/windows/ injected through `run` and `kill`.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { JobPaths } from '../layout.js';
import { cmdInvocation, isBatchFile } from './cmd-quote.js';
import { findExecutable } from './executable.js';
import type { Kill } from './posix.js';
import { runCommand, type RunCommand } from './run-command.js';
import type { JobProcesses, ProcessHost, StopHow } from './types.js';

const POWERSHELL = 'powershell.exe';
const PS_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command'];

/**
 * A DateTime as ConvertTo-Json writes it → ms since the epoch, or null. Windows PowerShell 5.1
 * writes `\/Date(1733131883123)\/` (sometimes wrapped as {"value": …, "DateTime": …}); PowerShell 7
 * writes ISO 8601 with an offset and 7 fraction digits, which we cut to ms ourselves.
 */
export function parsePowerShellDate(value: unknown): number | null {
  if (value && typeof value === 'object' && 'value' in value) return parsePowerShellDate((value as { value: unknown }).value);
  if (typeof value !== 'string') return null;
  const legacy = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(value);
  if (legacy) return Number(legacy[1]);
  const iso = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!iso) return null;
  const ms = (iso[2] ?? '').padEnd(3, '0').slice(0, 3);
  const parsed = Date.parse(`${iso[1]}.${ms}${iso[3] ?? 'Z'}`);
  return Number.isNaN(parsed) ? null : parsed;
}

function parseJsonRows(stdout: string): Record<string, unknown>[] {
  const text = stdout.trim();
  if (!text) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    const rows = Array.isArray(parsed) ? parsed : [parsed]; // one match is an object, several an array
    return rows.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null);
  } catch {
    return [];
  }
}

/** `Get-Process -Id <pid> | Select-Object Id,StartTime | ConvertTo-Json` → the start time (ms, as a string) of that pid. */
export function parseGetProcessStartTime(stdout: string, pid: number): string | null {
  const row = parseJsonRows(stdout).find((r) => r.Id === pid);
  const ms = row ? parsePowerShellDate(row.StartTime) : null;
  return ms === null ? null : String(ms);
}

/** `Get-CimInstance Win32_Process | Select-Object ProcessId,CommandLine,CreationDate | ConvertTo-Json` rows. */
export function parseCimProcesses(stdout: string): { pid: number; commandLine: string; startTime: string | null }[] {
  return parseJsonRows(stdout)
    .filter((r) => typeof r.ProcessId === 'number')
    .map((r) => {
      const ms = parsePowerShellDate(r.CreationDate);
      return { pid: r.ProcessId as number, commandLine: typeof r.CommandLine === 'string' ? r.CommandLine : '', startTime: ms === null ? null : String(ms) };
    });
}

/** `tasklist /FI "PID eq <pid>" /FO CSV /NH` → whether that pid is listed (the "INFO: No tasks…" line is not). */
export function tasklistHasPid(stdout: string, pid: number): boolean {
  return stdout.split(/\r?\n/).some((line) => {
    const cells = line.match(/"([^"]*)"/g)?.map((c) => c.slice(1, -1));
    return cells !== undefined && cells.length >= 2 && cells[1] === String(pid);
  });
}

const envValue = (env: NodeJS.ProcessEnv, name: string) => {
  const key = Object.keys(env).find((k) => k.toUpperCase() === name);
  return key === undefined ? undefined : env[key];
};

/**
 * How claude is started: an .exe directly; a .cmd/.bat through cmd.exe with every argument quoted
 * (Node refuses to spawn them itself since 20.12). The prompt is not among the arguments: it is on stdin.
 */
export function windowsSpawnPlan(file: string, args: readonly string[], env: NodeJS.ProcessEnv): { file: string; args: string[]; verbatim: boolean } {
  const resolved = findExecutable(file, env, 'win32') ?? file;
  if (!isBatchFile(resolved)) return { file: resolved, args: [...args], verbatim: false };
  const invocation = cmdInvocation(path.win32.normalize(resolved), args, envValue(env, 'COMSPEC') ?? 'cmd.exe');
  return { ...invocation, verbatim: true };
}

export function win32Host(run: RunCommand = runCommand, kill: Kill = process.kill.bind(process)): ProcessHost {
  const alive = (pid: number) => {
    try {
      kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const startTime = (pid: number): string | null => {
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null; // the cheap check first: PowerShell costs ~0.3 s
    const out = run(POWERSHELL, [...PS_ARGS, `Get-Process -Id ${pid} -ErrorAction SilentlyContinue | Select-Object Id,StartTime | ConvertTo-Json -Compress`]);
    return out.status === 0 ? parseGetProcessStartTime(out.stdout, pid) : null;
  };
  const taskkill = (pid: number, how: StopHow, tree: boolean): boolean => {
    const out = run('taskkill', ['/PID', String(pid), ...(tree ? ['/T'] : []), ...(how === 'force' ? ['/F'] : [])]);
    // Without /F a windowless console process refuses ("can only be terminated forcefully"): it is
    // still there to be forced, so that counts as something to stop.
    return out.status === 0 || alive(pid);
  };
  return {
    platform: 'win32',
    startTime,
    isSameProcessAlive(pid, recorded) {
      if (!pid || !recorded) return false;
      return startTime(pid) === recorded;
    },
    startDetached(file, args, { cwd, env }) {
      const child = spawn(file, args, { detached: true, stdio: 'ignore', cwd, env, windowsHide: true });
      child.on('error', () => {});
      child.unref();
      if (!child.pid) throw new Error('the runner could not be started');
      return child.pid;
    },
    startGroupLeader(file, args, { cwd, env, stdio }) {
      const plan = windowsSpawnPlan(file, args, env);
      // detached: a new process group with no console of its own, so the server's Ctrl+C does not reach it.
      return spawn(plan.file, plan.args, { cwd, env, stdio, detached: true, windowsHide: true, windowsVerbatimArguments: plan.verbatim });
    },
    stopTree: (pid, how) => taskkill(pid, how, true),
    stopProcess: (pid, how) => taskkill(pid, how, false),
    // taskkill /T walks children from a live root; once claude itself is gone its leftovers cannot be found.
    treeAlive: alive,
    canAskToStop: false,
    isStopped: () => false,
    findJobProcesses(paths: JobPaths): JobProcesses | null {
      const filter = "Name='node.exe'";
      const out = run(POWERSHELL, [...PS_ARGS, `Get-CimInstance Win32_Process -Filter "${filter}" | Select-Object ProcessId,CommandLine,CreationDate | ConvertTo-Json -Compress`]);
      if (out.status !== 0) return null;
      const runners = parseCimProcesses(out.stdout)
        .filter((p) => /runner\.js"?\s/i.test(p.commandLine) && p.commandLine.trimEnd().replace(/"$/, '').endsWith(paths.dir))
        .map((p) => ({ pid: p.pid, startTime: p.startTime }));
      // Claude cannot be told by its stdin here; the runner, once found, stops it.
      return { runners, claude: [] };
    },
    resolveExecutable: (command, env) => findExecutable(command, env, 'win32'),
  };
}

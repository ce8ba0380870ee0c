// A small synchronous command runner for the process probes (ps, PowerShell, taskkill), injectable
// so each OS branch is tested on any host with recorded outputs.
import { spawnSync } from 'node:child_process';

export interface CommandResult {
  /** null when the command could not be started or was killed (then stdout is ''). */
  status: number | null;
  stdout: string;
}

export type RunCommand = (file: string, args: string[], env?: NodeJS.ProcessEnv) => CommandResult;

/** Probes must never hang a status check: a stuck PowerShell is killed after this long. */
const PROBE_TIMEOUT_MS = 10_000;

export const runCommand: RunCommand = (file, args, env) => {
  const result = spawnSync(file, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: PROBE_TIMEOUT_MS,
    windowsHide: true,
    ...(env ? { env } : {}),
  });
  if (result.error) return { status: null, stdout: '' };
  return { status: result.status, stdout: result.stdout ?? '' };
};

// What Linux and macOS share: process groups and signals. A stop reaches the whole group claude
// leads (SIGTERM, then SIGKILL); the runner and claude are started `detached`, which on POSIX
// means setsid(): their own session and group, out of reach of the server's signals.
import { spawn } from 'node:child_process';
import type { ProcessHost, StopHow } from './types.js';
import { findExecutable } from './executable.js';

export type Kill = (pid: number, signal: NodeJS.Signals | 0) => void;

const signalOf = (how: StopHow): NodeJS.Signals => (how === 'force' ? 'SIGKILL' : 'SIGTERM');

function trySignal(kill: Kill, pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The POSIX parts of a host; the OS file adds start times, states and the process finder. */
export function posixHost(platform: NodeJS.Platform, startTime: (pid: number) => string | null, kill: Kill = process.kill.bind(process)):
    Omit<ProcessHost, 'isStopped' | 'findJobProcesses'> {
  return {
    platform,
    startTime,
    isSameProcessAlive(pid, recorded) {
      if (!pid || !recorded) return false;
      return startTime(pid) === recorded;
    },
    startDetached(file, args, { cwd, env }) {
      const child = spawn(file, args, {
        detached: true, // own process group and session: survives the server and its signals
        stdio: 'ignore',
        cwd,
        env,
      });
      child.on('error', () => {}); // reported through the missing claim; never crash the caller
      child.unref();
      if (!child.pid) throw new Error('the runner could not be started');
      return child.pid;
    },
    startGroupLeader(file, args, { cwd, env, stdio }) {
      // Its own process group, so a stop reaches every process claude started.
      return spawn(file, args, { cwd, stdio, detached: true, env });
    },
    stopTree: (pid, how) => trySignal(kill, -pid, signalOf(how)),
    stopProcess: (pid, how) => trySignal(kill, pid, signalOf(how)),
    treeAlive: (pid) => trySignal(kill, -pid, 0),
    canAskToStop: true,
    resolveExecutable: (command, env) => findExecutable(command, env, platform),
  };
}

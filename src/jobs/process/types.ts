// The one interface the engine uses to start, find and stop processes. Each OS has its own
// implementation (linux.ts, darwin.ts, win32.ts); index.ts picks the one for this host.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { JobPaths } from '../layout.js';

export interface FoundProcess {
  pid: number;
  startTime: string | null;
}

export interface JobProcesses {
  runners: FoundProcess[];
  /** Processes reading the job's prompt on stdin: claude and what it started. */
  claude: FoundProcess[];
}

export interface StartOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** How a whole tree is stopped: asked first (SIGTERM / taskkill), then forced (SIGKILL / taskkill /F). */
export type StopHow = 'graceful' | 'force';

export interface ProcessHost {
  readonly platform: NodeJS.Platform;
  /**
   * The start time of a live process as an opaque string, comparable only on this host; null when
   * the pid is gone (or a zombie). A pid alone is not enough: pids are reused, and a stranger's
   * process must never read as our runner.
   */
  startTime(pid: number): string | null;
  /** The pid is alive *and* is the process that had this start time. */
  isSameProcessAlive(pid: number | undefined | null, startTime: string | undefined | null): boolean;
  /** Starts a process that outlives us (the runner): no stdio, its own group, not waited for. */
  startDetached(file: string, args: string[], options: StartOptions): number;
  /** Starts claude as the leader of its own group, so a stop reaches everything it started. */
  startGroupLeader(file: string, args: string[], options: StartOptions & { stdio: StdioOptions }): ChildProcess;
  /** Stops a process and everything it started; false when there was nothing to stop. */
  stopTree(pid: number, how: StopHow): boolean;
  /** Stops one process only; false when it was gone. */
  stopProcess(pid: number, how: StopHow): boolean;
  /** Whether anything of the tree led by pid still runs. */
  treeAlive(pid: number): boolean;
  /**
   * Whether a graceful stop of a process lets it act first (POSIX SIGTERM: the runner records the
   * cancel). On Windows a console process without a window cannot be asked, only ended.
   */
  readonly canAskToStop: boolean;
  /** Stopped by SIGSTOP (it will act on a signal only once continued). */
  isStopped(pid: number): boolean;
  /** A job's processes found without runner.json; null when this host cannot list them. */
  findJobProcesses(paths: JobPaths): JobProcesses | null;
  /** Resolves a command the way a shell would (PATH, and PATHEXT on Windows); null when not found. */
  resolveExecutable(command: string, env: Record<string, string | undefined>): string | null;
}

/** The runner's process title: `claude-async-runner <jobId>`. */
export const RUNNER_TITLE = 'claude-async-runner';

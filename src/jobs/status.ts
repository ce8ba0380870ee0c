// What a job's status *is*: one pure function over facts read from disk. The I/O that gathers the
// facts sits beside it (readJobFacts) so the rules can be tested with plain values.
import fs from 'node:fs';
import type { JobPaths } from './layout.js';
import type { ExitRecord, RunnerRecord } from './records.js';
import type { JobStatus } from './schemas.js';
import { isSameProcessAlive } from './process-info.js';
import { withLoginHint } from './login-hint.js';

export interface JobFacts {
  spec: 'ok' | 'missing' | 'unreadable';
  runner: RunnerRecord | null | 'unreadable';
  exit: ExitRecord | null | 'unreadable';
  /** The runner pid is alive *and* has the recorded start time (a reused pid is not ours). */
  runnerAlive: boolean;
}

export interface DerivedStatus {
  status: JobStatus;
  reason?: string;
}

export function deriveStatus(facts: JobFacts): DerivedStatus {
  if (facts.exit === 'unreadable') return { status: 'unknown', reason: 'exit.json is unreadable' };
  if (facts.exit) return statusFromExit(facts.exit);
  if (facts.spec === 'missing') return { status: 'unknown', reason: 'the job folder has no spec.json (half-made job)' };
  if (facts.spec === 'unreadable') return { status: 'unknown', reason: 'spec.json is unreadable' };
  if (facts.runner === 'unreadable') return { status: 'unknown', reason: 'runner.json is unreadable' };
  if (!facts.runner) return { status: 'queued' };
  if (facts.runnerAlive) return { status: 'running' };
  return { status: 'orphaned', reason: 'the runner process is gone (host rebooted or it was killed) and no exit was recorded' };
}

export function statusFromExit(exit: ExitRecord): DerivedStatus {
  if (exit.reason === 'cancelled') return { status: 'cancelled' };
  if (exit.reason === 'timed_out') return { status: 'timed_out', reason: 'the job ran past its timeout and was stopped' };
  if (exit.error) return { status: 'failed', reason: exit.error };
  const result = exit.result;
  // After the watchdog ended a claude that hung past its result line, the result decides.
  if (exit.watchdog && result) {
    return result.isError
      ? { status: 'failed', reason: `claude reported an error: ${clip(result.result)}` }
      : { status: 'completed', reason: 'claude hung after its result and was ended by the watchdog' };
  }
  if (exit.exitCode === 0 && !result?.isError) return { status: 'completed' };
  if (result?.isError) return { status: 'failed', reason: `claude reported an error: ${clip(result.result)}` };
  if (exit.signal) return { status: 'failed', reason: `claude was killed by ${exit.signal}` };
  return { status: 'failed', reason: `claude exited with code ${exit.exitCode}` };
}

const clip = (text: string) => withLoginHint(text.length > 300 ? `${text.slice(0, 300)}…` : text);

async function readRecord<T>(file: string): Promise<T | null | 'unreadable'> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : 'unreadable';
  }
}

async function specState(file: string): Promise<JobFacts['spec']> {
  try {
    JSON.parse(await fs.promises.readFile(file, 'utf8'));
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
}

/** Reads only what the answer needs: a finished job is decided by exit.json alone. */
export async function readJobFacts(paths: JobPaths, specKnownGood = false): Promise<JobFacts> {
  const exit = await readRecord<ExitRecord>(paths.exit);
  if (exit) return { spec: 'ok', runner: null, exit, runnerAlive: false };
  const [spec, runner] = await Promise.all([
    specKnownGood ? ('ok' as const) : specState(paths.spec),
    readRecord<RunnerRecord>(paths.runner),
  ]);
  const runnerAlive = runner !== null && runner !== 'unreadable' && isSameProcessAlive(runner.runnerPid, runner.runnerStartTime);
  // The runner may have written exit.json between our two reads; look once more before calling it orphaned.
  if (runner && runner !== 'unreadable' && !runnerAlive) {
    const late = await readRecord<ExitRecord>(paths.exit);
    if (late) return { spec, runner, exit: late, runnerAlive: false };
  }
  return { spec, runner, exit, runnerAlive };
}

// What a job's status *is*: one pure function over facts read from disk. The I/O that gathers the
// facts sits beside it (readJobFacts) so the rules can be tested with plain values.
import fs from 'node:fs';
import type { JobPaths } from './layout.js';
import type { ExitRecord, RunnerRecord } from './records.js';
import type { JobStatus, ResultSummary } from './schemas.js';
import { processHost } from './process/index.js';
import { fileSize, parseResultLine, readRange } from './output.js';
import { withLoginHint } from './login-hint.js';

export interface JobFacts {
  spec: 'ok' | 'missing' | 'unreadable';
  runner: RunnerRecord | null | 'unreadable';
  exit: ExitRecord | null | 'unreadable';
  /** The runner pid is alive *and* has the recorded start time (a reused pid is not ours). */
  runnerAlive: boolean;
  /** Claude (by pid and start time) still runs: it may outlive a killed runner. */
  claudeAlive?: boolean;
  /** With no exit.json and nothing alive: the result line out.jsonl ends with, if any. */
  logResult?: ResultSummary | null;
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
  if (facts.claudeAlive) {
    // Claude still holds its slot; the server ends it, since nobody records its output any more.
    return { status: 'running', reason: 'the runner is gone while claude still runs; claude is being stopped' };
  }
  if (facts.logResult) {
    const judged = judgeByResult(facts.logResult);
    return { status: judged.status, reason: `${judged.reason ?? 'claude finished'}; its runner was killed before it recorded the exit, so the job is judged by the result line in its log` };
  }
  return { status: 'orphaned', reason: 'the runner process is gone (host rebooted or it was killed) and no exit was recorded' };
}

function judgeByResult(result: ResultSummary): DerivedStatus {
  return result.isError ? { status: 'failed', reason: errorReason(result) } : { status: 'completed' };
}

const errorReason = (result: ResultSummary) => `claude reported an error: ${clip(result.result || result.subtype || 'no details given')}`;

/** A log that stopped early says so, whatever the outcome. */
function withLogStop(derived: DerivedStatus, exit: ExitRecord): DerivedStatus {
  if (!exit.logStopped) return derived;
  const note = `${exit.logStopped.reason}: the log stopped after ${exit.logStopped.atBytes} bytes (whole lines), later output was not recorded`;
  return { status: derived.status, reason: derived.reason ? `${note}; ${derived.reason}` : note };
}

export function statusFromExit(exit: ExitRecord): DerivedStatus {
  return withLogStop(statusFromExitAlone(exit), exit);
}

function statusFromExitAlone(exit: ExitRecord): DerivedStatus {
  if (exit.reason === 'cancelled') return { status: 'cancelled' };
  if (exit.reason === 'timed_out') return { status: 'timed_out', reason: 'the job ran past its timeout and was stopped' };
  if (exit.error) return { status: 'failed', reason: exit.error };
  const result = exit.result;
  // After the watchdog ended a claude that hung past its result line, the result decides.
  if (exit.watchdog && result) {
    return result.isError
      ? { status: 'failed', reason: errorReason(result) }
      : { status: 'completed', reason: 'claude hung after its result and was ended by the watchdog' };
  }
  if (exit.exitCode === 0 && !result?.isError) return { status: 'completed' };
  if (result?.isError) return { status: 'failed', reason: errorReason(result) };
  if (exit.signal) return { status: 'failed', reason: `claude was killed by ${exit.signal}` };
  const said = exit.stderrTail ? `: ${clip(exit.stderrTail.split('\n').filter(Boolean).pop() ?? '')}` : '';
  return { status: 'failed', reason: `claude exited with code ${exit.exitCode}${said}` };
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
  let [spec, runner] = await Promise.all([
    specKnownGood ? ('ok' as const) : specState(paths.spec),
    readRecord<RunnerRecord>(paths.runner),
  ]);
  // No runner yet looks queued; make sure the job is still there (another process may have removed it).
  if (runner === null && specKnownGood) spec = await specState(paths.spec);
  const runnerAlive = runner !== null && runner !== 'unreadable' && processHost.isSameProcessAlive(runner.runnerPid, runner.runnerStartTime);
  // The runner may have written exit.json between our two reads; look once more before calling it orphaned.
  if (runner && runner !== 'unreadable' && !runnerAlive) {
    const late = await readRecord<ExitRecord>(paths.exit);
    if (late) return { spec, runner, exit: late, runnerAlive: false };
    if (runner.claimedBy) return { spec, runner, exit, runnerAlive };
    const claudeAlive = processHost.isSameProcessAlive(runner.claudePid, runner.claudeStartTime);
    if (claudeAlive) return { spec, runner, exit, runnerAlive, claudeAlive };
    return { spec, runner, exit, runnerAlive, claudeAlive, logResult: await lastResultLine(paths.out) };
  }
  return { spec, runner, exit, runnerAlive };
}

/** How far back from the end of out.jsonl a result line is looked for. */
const RESULT_LOOKBACK_BYTES = 256 * 1024;

/** The result line a log ends with (claude's answer), or null: only the log's last window is read. */
async function lastResultLine(file: string): Promise<ResultSummary | null> {
  try {
    const size = await fileSize(file);
    const start = Math.max(0, size - RESULT_LOOKBACK_BYTES);
    const lines = (await readRange(file, start, size - start)).toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]!;
      if (!line.includes('"type":"result"')) continue;
      try {
        const parsed = parseResultLine(JSON.parse(line));
        if (parsed) return parsed;
      } catch {
        // a cut line, not the result
      }
    }
  } catch {
    // no log: nothing to judge by
  }
  return null;
}

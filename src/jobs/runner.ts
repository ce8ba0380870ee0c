// The detached worker: one per job, its own process group, outliving any server restart.
// Usage: node runner.js <jobDir>. It claims the job (runner.json), runs claude with the prompt on
// stdin, copies stdout to out.jsonl under a size cap, enforces the timeout and the post-result
// watchdog, and writes exit.json last, atomically.
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createFileExclusiveSync, writeFileAtomicSync } from '../files/atomic.js';
import { exitWithoutClaude } from './claim.js';
import { isJobId } from './ids.js';
import { jobPaths } from './layout.js';
import { DEFAULT_MAX_LINE_BYTES, LOG_CAPPED_TYPE, parseResultLine } from './output.js';
import { LineSplitter } from './line-splitter.js';
import { LogFile } from './log-file.js';
import { releaseSlot } from './slots.js';
import { processHost, RUNNER_TITLE } from './process/index.js';
import type { EndReason, ExitRecord, JobSpecRecord, RunnerRecord } from './records.js';
import type { ResultSummary } from './schemas.js';

/** stderr is for diagnostics; a runaway stderr must not fill the disk either. */
const MAX_ERR_BYTES = 10 * 1024 * 1024;
/** After claude exits, how long to wait for its pipes to drain before finishing anyway. */
const PIPE_DRAIN_MS = 2000;
const RESULT_MARKER = Buffer.from('"type":"result"');
/** How much of claude's stderr is kept in memory to explain a failure that printed nothing else. */
const STDERR_TAIL_BYTES = 4096;
/** Longest wait between two tries of a write the full disk refused. */
const MAX_RETRY_DELAY_MS = 2000;

export async function runJob(jobDir: string): Promise<void> {
  const jobId = path.basename(jobDir);
  if (!isJobId(jobId)) throw new Error(`not a job folder: ${jobDir}`);
  const paths = jobPaths(path.dirname(jobDir), jobId);
  const spec = JSON.parse(fs.readFileSync(paths.spec, 'utf8')) as JobSpecRecord;
  const startedAt = Date.now();
  const claim: RunnerRecord = { runnerPid: process.pid, runnerStartTime: processHost.startTime(process.pid), startedAt };
  // Exactly one runner per job: a second one (a re-dispatch after a server crash) or a cancel that
  // got here first makes this claim fail, and we leave quietly.
  if (!createFileExclusiveSync(paths.runner, JSON.stringify(claim))) return;
  process.title = `${RUNNER_TITLE} ${jobId}`;

  let endReason: EndReason = 'exited';
  let stopping = false;
  let watchdogFired = false;
  let result: ResultSummary | null = null;
  let logCapped = false;
  let errBytes = 0;
  let errTail = Buffer.alloc(0);
  let child: ChildProcess | undefined;
  let out: LogFile | undefined;
  let err: LogFile | undefined;
  const timers: NodeJS.Timeout[] = [];
  const maxLineBytes = spec.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;

  const finish = async (exit: Omit<ExitRecord, 'endedAt' | 'startedAt' | 'logCapped' | 'watchdog' | 'result' | 'reason'>) => {
    timers.forEach(clearTimeout);
    const record: ExitRecord = { reason: endReason, startedAt, endedAt: Date.now(), logCapped, watchdog: watchdogFired, result, ...exit };
    if (out?.stopped) record.logStopped = out.stopped;
    await writeExitRetrying(paths.exit, JSON.stringify(record));
    releaseSlot(path.dirname(jobDir), jobId);
  };

  /** SIGTERM the whole group, then SIGKILL whatever is left after the grace period. */
  const stopGroup = () => {
    if (!child?.pid) return;
    const pgid = child.pid;
    processHost.stopTree(pgid, 'graceful');
    timers.push(setTimeout(() => processHost.stopTree(pgid, 'force'), spec.killGraceMs));
  };
  const stop = (reason: EndReason) => {
    if (stopping) return;
    stopping = true;
    endReason = reason;
    stopGroup();
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop('cancelled'));
  process.on('SIGHUP', () => {});

  // Checked again here, not only when the job was made: the folder may have been swapped for a
  // link that leads elsewhere while the job was queued. Claude runs in the path checked now.
  const cwd = resolveCwd(spec);
  if ('error' in cwd) {
    await finish({ exitCode: null, signal: null, error: cwd.error });
    return;
  }

  out = LogFile.open(paths.out);
  err = LogFile.open(paths.err);
  const stdin = fs.openSync(paths.prompt, 'r');

  const noteResult = (parsed: ResultSummary) => {
    result = parsed;
    // The known CLI hang: the result is out but the process never exits.
    if (!watchdogFired && !stopping) {
      timers.push(setTimeout(() => {
        watchdogFired = true;
        stopGroup();
      }, spec.resultWatchdogMs));
    }
  };
  const noteResults = (lines: Buffer) => {
    if (lines.indexOf(RESULT_MARKER) < 0) return;
    for (const line of lines.toString('utf8').split('\n')) {
      if (!line.includes('"type":"result"')) continue;
      const parsed = parseResultLine(safeParse(line));
      if (parsed) noteResult(parsed);
    }
  };

  /** Writes whole lines only, so a reader (and the cap) never splits a JSON line. */
  const writeLines = (lines: Buffer) => {
    noteResults(lines);
    if (!logCapped && out!.size + lines.length <= spec.maxLogBytes) {
      out!.write(lines);
      return;
    }
    if (!logCapped) {
      logCapped = true;
      out!.write(`${JSON.stringify({ type: LOG_CAPPED_TYPE, subtype: 'log_capped', maxLogBytes: spec.maxLogBytes })}\n`);
    }
    // Past the cap only the result line is still kept: it is the job's answer.
    for (const line of lines.toString('utf8').split('\n')) {
      if (line.includes('"type":"result"') && parseResultLine(safeParse(line))) out!.write(`${line}\n`);
    }
  };
  const splitter = new LineSplitter(maxLineBytes, {
    lines: writeLines,
    longLine: (head, bytes) => {
      const text = head.toString('utf8').replace(/\uFFFD+$/, '');
      // A result too long to keep still decides the job: its head says whether it was an error.
      if (text.startsWith('{"type":"result"')) {
        noteResult({
          result: `[the result line was ${bytes} bytes, over the ${maxLineBytes}-byte line cap; it was not stored]`,
          sessionId: /"session_id":"([^"]+)"/.exec(text)?.[1] ?? null,
          isError: /"is_error":true/.test(text),
          subtype: /"subtype":"([^"]+)"/.exec(text)?.[1] ?? null,
          costUsd: null, numTurns: null, durationMs: null,
        });
      }
      const marker = { type: LOG_CAPPED_TYPE, subtype: 'line_truncated', bytes, maxLineBytes, head: text.slice(0, 500) };
      writeLines(Buffer.from(`${JSON.stringify(marker)}\n`));
    },
  });

  try {
    child = processHost.startGroupLeader(spec.claudeBin, spec.args, { cwd: cwd.path, stdio: [stdin, 'pipe', 'pipe'], env: process.env });
  } catch (error) {
    await finish({ exitCode: null, signal: null, error: spawnErrorText(spec.claudeBin, error) });
    return;
  }
  fs.closeSync(stdin);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child!.once('error', (error) => resolve({ code: null, signal: null, error: spawnErrorText(spec.claudeBin, error) }));
    child!.once('exit', (code, signal) => resolve({ code, signal }));
  });

  if (child.pid) {
    const record: RunnerRecord = { ...claim, claudePid: child.pid, claudeStartTime: processHost.startTime(child.pid) };
    // On a full disk this waits for space; claude runs meanwhile and the output is still copied.
    void recordClaude(paths.runner, JSON.stringify(record), () => child!.exitCode !== null || child!.signalCode !== null);
    timers.push(setTimeout(() => stop('timed_out'), spec.timeoutMs));
    if (stopping) stopGroup(); // a cancel arrived while we were starting
  }

  child.stdout!.on('data', (chunk: Buffer) => splitter.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => {
    errTail = Buffer.concat([errTail, chunk.subarray(-STDERR_TAIL_BYTES)]).subarray(-STDERR_TAIL_BYTES);
    if (errBytes >= MAX_ERR_BYTES) return;
    err!.write(chunk.subarray(0, MAX_ERR_BYTES - errBytes));
    errBytes += chunk.length;
  });
  const drained = new Promise<void>((resolve) => child!.once('close', () => resolve()));

  const { code, signal, error } = await exited;
  // A grandchild may hold the pipes open; do not wait for it forever.
  await Promise.race([drained, new Promise((r) => setTimeout(r, PIPE_DRAIN_MS))]);
  child.stdout!.destroy();
  child.stderr!.destroy();
  splitter.end();
  const stderrTail = errTail.toString('utf8').replace(/^\uFFFD+/, '').trim();
  const current = result as ResultSummary | null;
  const saidNothing = current ? current.isError && current.result === '' : code !== 0 && endReason === 'exited';
  if (saidNothing && stderrTail) {
    // An error with no words in the result: stderr is the only account of what went wrong.
    if (current) current.result = lastLines(stderrTail, 1000);
    writeLines(Buffer.from(`${JSON.stringify({ type: LOG_CAPPED_TYPE, subtype: 'stderr', text: lastLines(stderrTail, 2000) })}\n`));
  }
  out.close();
  err.close();
  if (child.pid) await endStragglers(child.pid, spec.killGraceMs);
  await finish({ exitCode: code, signal, ...(error ? { error } : {}), ...(saidNothing && stderrTail ? { stderrTail: lastLines(stderrTail, 1000) } : {}) });
}

/** The job's cwd, resolved again now; refused if it no longer exists or now leads outside the roots. */
function resolveCwd(spec: JobSpecRecord): { path: string } | { error: string } {
  let real: string;
  try {
    real = fs.realpathSync(spec.cwd);
  } catch {
    return { error: `the job's working directory no longer exists: ${spec.cwd}` };
  }
  const roots = spec.allowedRoots;
  if (roots && !roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) {
    return { error: `the job's working directory ${spec.cwd} was replaced after the job was accepted and now leads outside the allowed roots; the job was not run` };
  }
  try {
    if (!fs.statSync(real).isDirectory()) return { error: `the job's working directory ${spec.cwd} is no longer a directory` };
  } catch {
    return { error: `the job's working directory no longer exists: ${spec.cwd}` };
  }
  return { path: real };
}

const isOutOfSpace = (error: unknown) => ['ENOSPC', 'EDQUOT'].includes((error as NodeJS.ErrnoException).code ?? '');
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** exit.json is the job's last word: on a full disk, wait for space rather than leave none. */
async function writeExitRetrying(file: string, data: string): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
    try {
      writeFileAtomicSync(file, data);
      return;
    } catch (error) {
      if (!isOutOfSpace(error)) throw error;
    }
    await pause(delay);
  }
}

/** Adds claude's pid to runner.json, retrying while the disk is full and claude still runs. */
async function recordClaude(file: string, data: string, claudeEnded: () => boolean): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS)) {
    try {
      writeFileAtomicSync(file, data);
      return;
    } catch (error) {
      if (!isOutOfSpace(error) || claudeEnded()) return;
    }
    await pause(delay);
  }
}

function lastLines(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `…${text.slice(text.length - maxChars)}`;
}

function safeParse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

// The reason is shown to the client: it names the CLI, never where it lives on the server, and
// says what went wrong by error code, not by a message that may carry paths or argv.
function spawnErrorText(bin: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const name = path.basename(bin);
  if (code === 'ENOENT') return `the claude CLI was not found ('${name}'): install it (npm i -g @anthropic-ai/claude-code) or set CLAUDE_ASYNC_CLAUDE_BIN`;
  if (code === 'EACCES') return `the claude CLI ('${name}') is not executable`;
  return `could not start the claude CLI ('${name}'): ${code ?? (error as Error).name}`;
}

/** The job is over: processes it left in its group (servers, watchers) end with it. */
async function endStragglers(pgid: number, graceMs: number): Promise<void> {
  if (!processHost.stopTree(pgid, 'graceful')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!processHost.treeAlive(pgid)) return;
  }
  processHost.stopTree(pgid, 'force');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const jobDir = process.argv[2];
  if (!jobDir) {
    process.stderr.write('usage: runner.js <jobDir>\n');
    process.exit(2);
  }
  runJob(path.resolve(jobDir)).then(
    () => process.exit(0),
    (error: unknown) => {
      // Last resort: record the failure so the job does not read as orphaned forever.
      try {
        const exitFile = path.join(path.resolve(jobDir), 'exit.json');
        if (!fs.existsSync(exitFile)) {
          writeFileAtomicSync(exitFile, JSON.stringify(exitWithoutClaude('exited', { error: `the runner failed: ${(error as Error).message}` })));
        }
      } finally {
        process.exit(1);
      }
    },
  );
}

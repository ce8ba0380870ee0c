// The detached worker: one per job, its own process group, outliving any server restart.
// Usage: node runner.js <jobDir>. It claims the job (runner.json), runs claude with the prompt on
// stdin, copies stdout to out.jsonl under a size cap, enforces the timeout and the post-result
// watchdog, and writes exit.json last, atomically.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createFileExclusiveSync, writeFileAtomicSync } from './atomic.js';
import { exitWithoutClaude } from './claim.js';
import { isJobId } from './ids.js';
import { jobPaths } from './layout.js';
import { LOG_CAPPED_TYPE, parseResultLine } from './output.js';
import { processStartTime, signalGroup } from './process-info.js';
import type { EndReason, ExitRecord, JobSpecRecord, RunnerRecord } from './records.js';
import type { ResultSummary } from './schemas.js';

/** stderr is for diagnostics; a runaway stderr must not fill the disk either. */
const MAX_ERR_BYTES = 10 * 1024 * 1024;
/** After claude exits, how long to wait for its pipes to drain before finishing anyway. */
const PIPE_DRAIN_MS = 2000;
const RESULT_MARKER = Buffer.from('"type":"result"');

export async function runJob(jobDir: string): Promise<void> {
  const jobId = path.basename(jobDir);
  if (!isJobId(jobId)) throw new Error(`not a job folder: ${jobDir}`);
  const paths = jobPaths(path.dirname(jobDir), jobId);
  const spec = JSON.parse(fs.readFileSync(paths.spec, 'utf8')) as JobSpecRecord;
  const startedAt = Date.now();
  const claim: RunnerRecord = { runnerPid: process.pid, runnerStartTime: processStartTime(process.pid), startedAt };
  // Exactly one runner per job: a second one (a re-dispatch after a server crash) or a cancel that
  // got here first makes this claim fail, and we leave quietly.
  if (!createFileExclusiveSync(paths.runner, JSON.stringify(claim))) return;
  process.title = `claude-async-runner ${jobId}`;

  let endReason: EndReason = 'exited';
  let stopping = false;
  let watchdogFired = false;
  let result: ResultSummary | null = null;
  let logCapped = false;
  let outBytes = 0;
  let errBytes = 0;
  let child: ChildProcess | undefined;
  const timers: NodeJS.Timeout[] = [];

  const finish = (exit: Omit<ExitRecord, 'endedAt' | 'startedAt' | 'logCapped' | 'watchdog' | 'result' | 'reason'>) => {
    timers.forEach(clearTimeout);
    const record: ExitRecord = { reason: endReason, startedAt, endedAt: Date.now(), logCapped, watchdog: watchdogFired, result, ...exit };
    writeFileAtomicSync(paths.exit, JSON.stringify(record));
  };

  /** SIGTERM the whole group, then SIGKILL whatever is left after the grace period. */
  const stopGroup = () => {
    if (!child?.pid) return;
    const pgid = child.pid;
    signalGroup(pgid, 'SIGTERM');
    timers.push(setTimeout(() => signalGroup(pgid, 'SIGKILL'), spec.killGraceMs));
  };
  const stop = (reason: EndReason) => {
    if (stopping) return;
    stopping = true;
    endReason = reason;
    stopGroup();
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stop('cancelled'));
  process.on('SIGHUP', () => {});

  if (!fs.existsSync(spec.cwd)) {
    finish({ exitCode: null, signal: null, error: `the job's working directory no longer exists: ${spec.cwd}` });
    return;
  }

  const out = fs.openSync(paths.out, 'a', 0o600);
  const err = fs.openSync(paths.err, 'a', 0o600);
  const stdin = fs.openSync(paths.prompt, 'r');
  let pending: Buffer = Buffer.alloc(0);

  const noteResults = (lines: Buffer) => {
    if (lines.indexOf(RESULT_MARKER) < 0) return;
    for (const line of lines.toString('utf8').split('\n')) {
      if (!line.includes('"type":"result"')) continue;
      try {
        const parsed = parseResultLine(JSON.parse(line));
        if (parsed) {
          result = parsed;
          // The known CLI hang: the result is out but the process never exits.
          if (!watchdogFired && !stopping) {
            timers.push(setTimeout(() => {
              watchdogFired = true;
              stopGroup();
            }, spec.resultWatchdogMs));
          }
        }
      } catch {
        // not JSON after all: plain output that mentions the marker
      }
    }
  };

  /** Writes whole lines only, so a reader (and the cap) never splits a JSON line. */
  const writeLines = (lines: Buffer) => {
    noteResults(lines);
    if (!logCapped && outBytes + lines.length <= spec.maxLogBytes) {
      fs.writeSync(out, lines);
      outBytes += lines.length;
      return;
    }
    if (!logCapped) {
      logCapped = true;
      const marker = `${JSON.stringify({ type: LOG_CAPPED_TYPE, subtype: 'log_capped', maxLogBytes: spec.maxLogBytes })}\n`;
      fs.writeSync(out, marker);
    }
    // Past the cap only the result line is still kept: it is the job's answer.
    for (const line of lines.toString('utf8').split('\n')) {
      if (line.includes('"type":"result"') && parseResultLine(safeParse(line))) fs.writeSync(out, `${line}\n`);
    }
  };

  try {
    child = spawn(spec.claudeBin, spec.args, {
      cwd: spec.cwd,
      stdio: [stdin, 'pipe', 'pipe'],
      // Its own process group, so a stop reaches every process claude started.
      detached: true,
      env: process.env,
    });
  } catch (error) {
    finish({ exitCode: null, signal: null, error: spawnErrorText(spec.claudeBin, error) });
    return;
  }
  fs.closeSync(stdin);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child!.once('error', (error) => resolve({ code: null, signal: null, error: spawnErrorText(spec.claudeBin, error) }));
    child!.once('exit', (code, signal) => resolve({ code, signal }));
  });

  if (child.pid) {
    const record: RunnerRecord = { ...claim, claudePid: child.pid, claudeStartTime: processStartTime(child.pid) };
    writeFileAtomicSync(paths.runner, JSON.stringify(record));
    timers.push(setTimeout(() => stop('timed_out'), spec.timeoutMs));
    if (stopping) stopGroup(); // a cancel arrived while we were starting
  }

  child.stdout!.on('data', (chunk: Buffer) => {
    const data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const cut = data.lastIndexOf(10);
    if (cut < 0) {
      pending = data;
      return;
    }
    writeLines(data.subarray(0, cut + 1));
    pending = Buffer.from(data.subarray(cut + 1));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (errBytes >= MAX_ERR_BYTES) return;
    fs.writeSync(err, chunk.subarray(0, MAX_ERR_BYTES - errBytes));
    errBytes += chunk.length;
  });
  const drained = new Promise<void>((resolve) => child!.once('close', () => resolve()));

  const { code, signal, error } = await exited;
  // A grandchild may hold the pipes open; do not wait for it forever.
  await Promise.race([drained, new Promise((r) => setTimeout(r, PIPE_DRAIN_MS))]);
  child.stdout!.destroy();
  child.stderr!.destroy();
  if (pending.length) writeLines(Buffer.concat([pending, Buffer.from('\n')]));
  fs.closeSync(out);
  fs.closeSync(err);
  if (child.pid) await endStragglers(child.pid, spec.killGraceMs);
  finish({ exitCode: code, signal, ...(error ? { error } : {}) });
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
  if (!signalGroup(pgid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!signalGroup(pgid, 0 as unknown as NodeJS.Signals)) return;
  }
  signalGroup(pgid, 'SIGKILL');
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

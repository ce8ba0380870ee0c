// `claude-async selftest`: proves detach → poll → exit on this machine with no model and no login,
// using a tiny stand-in for the claude CLI written to a temp folder. Prints each step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFor } from '../config.js';
import { isEnded } from '../jobs/schemas.js';
import { JobService } from '../jobs/service.js';
import { jobPaths } from '../jobs/layout.js';
import type { RunnerRecord } from '../jobs/records.js';

// Just enough of the CLI contract: prompt on stdin, stream-json lines, a result, SIGTERM → 143.
const STAND_IN = `
process.on('SIGTERM', () => process.exit(143));
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const sid = 'selftest-session';
  const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  out({ type: 'system', subtype: 'init', session_id: sid, model: 'stand-in' });
  const wait = /sleep/.test(input) ? 60000 : 300;
  setTimeout(() => {
    out({ type: 'assistant', message: { content: [{ type: 'text', text: 'stand-in saw ' + input.length + ' bytes' }] } });
    out({ type: 'result', subtype: 'success', is_error: false, result: 'selftest ok', session_id: sid, num_turns: 1, duration_ms: wait, total_cost_usd: 0 });
  }, wait);
});
`;

function pgidOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return null;
  }
}

export async function selftest(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<boolean> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-async-selftest-'));
  const bin = path.join(dir, 'claude-stand-in');
  fs.writeFileSync(bin, `#!${process.execPath}\n${STAND_IN}`, { mode: 0o755 });
  const work = path.join(dir, 'work');
  fs.mkdirSync(work);
  const config = configFor({ dataDir: path.join(dir, 'data'), claudeBin: bin, defaultCwd: work, allowedRoots: [work], killGraceMs: 1000, retentionMs: 0 });
  const service = await JobService.open(config);
  const me = { id: 'selftest', admin: false };
  let ok = true;
  const step = (pass: boolean, text: string) => {
    write(`${pass ? 'ok  ' : 'FAIL'}  ${text}`);
    ok &&= pass;
  };
  try {
    const t0 = performance.now();
    const { jobId } = await service.start({ prompt: 'hello from selftest' }, me);
    step(true, `start returned job ${jobId} in ${(performance.now() - t0).toFixed(1)} ms`);

    const paths = jobPaths(config.jobsDir, jobId);
    // Generous: on a busy box a runner may take seconds to start; a selftest failing for that alone
    // would send the user looking for a fault that is not there.
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(paths.runner) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const runner = JSON.parse(fs.readFileSync(paths.runner, 'utf8')) as RunnerRecord;
    const group = process.platform === 'linux' ? pgidOf(runner.runnerPid) : runner.runnerPid;
    step(runner.runnerPid !== process.pid && group === runner.runnerPid, `runner ${runner.runnerPid} is detached in its own process group`);

    let polls = 0;
    let check = await service.check(jobId, me);
    while (!isEnded(check.status) && Date.now() < deadline) {
      polls++;
      await new Promise((r) => setTimeout(r, 100));
      check = await service.check(jobId, me);
    }
    step(check.status === 'completed', `polled ${polls} times from disk; status ${check.status}${check.statusReason ? ` (${check.statusReason})` : ''}`);
    step(check.exitCode === 0 && check.result?.result === 'selftest ok', `exit.json recorded exit code ${check.exitCode} and result "${check.result?.result ?? ''}"`);
    step(/stand-in saw 19 bytes/.test(check.tail), 'the prompt reached the CLI on stdin and its output was rendered');

    const slow = await service.start({ prompt: 'sleep please' }, me);
    while (!fs.existsSync(jobPaths(config.jobsDir, slow.jobId).runner) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const cancelled = await service.cancel(slow.jobId, me);
    step(cancelled.status === 'cancelled', `cancel ended a running job: ${cancelled.status}`);
  } catch (error) {
    step(false, `unexpected error: ${(error as Error).message}`);
  } finally {
    await service.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  write(ok ? 'selftest passed' : 'selftest FAILED');
  return ok;
}

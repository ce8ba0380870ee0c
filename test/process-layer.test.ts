// The process layer's macOS and Windows branches, run on any host: the platform is chosen by hand
// and the outputs of ps, PowerShell, tasklist and taskkill are the recorded ones in
// test/fixtures/os/ (see its README for where each format comes from). The cmd.exe quoting is
// checked by replaying the command line through a model of cmd.exe's two parses (cmd /c, then the
// batch file's %*) and the MSVCRT argv rules, so an injected `&` or a lost quote fails the test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT, tempDir } from './support/helpers.js';
import { darwinHost, parseStatLstart } from '../src/jobs/process/darwin.js';
import { parseCimProcesses, parseGetProcessStartTime, parsePowerShellDate, tasklistHasPid, win32Host, windowsSpawnPlan } from '../src/jobs/process/win32.js';
import { cmdInvocation, CmdArgumentError, quoteCmdArgument, quoteCmdCommand } from '../src/jobs/process/cmd-quote.js';
import { findExecutable } from '../src/jobs/process/executable.js';
import { hostFor, processHost } from '../src/jobs/process/index.js';
import { posixHost } from '../src/jobs/process/posix.js';
import { jobEnvironment } from '../src/jobs/environment.js';
import { jobPaths } from '../src/jobs/layout.js';
import type { CommandResult } from '../src/jobs/process/run-command.js';
import { checkProcessLayer } from '../src/cli/doctor-os.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'os');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

interface Call { file: string; args: string[]; env?: NodeJS.ProcessEnv }
function recorder(answer: (call: Call) => CommandResult) {
  const calls: Call[] = [];
  return { calls, run: (file: string, args: string[], env?: NodeJS.ProcessEnv) => { const call = { file, args, ...(env ? { env } : {}) }; calls.push(call); return answer(call); } };
}
const liveKill = (alive: Set<number>) => (pid: number) => { if (!alive.has(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' }); };

describe('macOS: start times from ps with the locale pinned', () => {
  it('reads lstart from recorded ps output, one- and two-digit days alike', () => {
    assert.equal(parseStatLstart(fixture('darwin/ps-stat-lstart-running.txt')), 'Tue Dec 3 09:12:44 2024');
    assert.equal(parseStatLstart(fixture('darwin/ps-stat-lstart-two-digit-day.txt')), 'Mon Nov 25 14:03:09 2024');
  });

  it('a zombie, a gone pid and an unpinned locale give no start time', () => {
    assert.equal(parseStatLstart(fixture('darwin/ps-stat-lstart-zombie.txt')), null);
    assert.equal(parseStatLstart(''), null);
    assert.equal(parseStatLstart(fixture('darwin/ps-stat-lstart-de_DE-unpinned.txt')), null);
  });

  it('asks ps with LC_ALL=C, compares pid and start time, and sees a stopped process', () => {
    const { calls, run } = recorder((call) => ({ status: call.args.at(-1) === '4242' ? 0 : 1, stdout: call.args.at(-1) === '4242' ? fixture(call.args.includes('lstart=') ? 'darwin/ps-stat-lstart-running.txt' : 'darwin/ps-stat-lstart-stopped.txt') : '' }));
    const host = darwinHost(run, liveKill(new Set([4242])));
    assert.equal(host.platform, 'darwin');
    assert.equal(host.startTime(4242), 'Tue Dec 3 09:12:44 2024');
    assert.deepEqual(calls[0]!.args, ['-o', 'stat=', '-o', 'lstart=', '-p', '4242']);
    assert.equal(calls[0]!.env?.LC_ALL, 'C');
    assert.equal(host.isSameProcessAlive(4242, 'Tue Dec 3 09:12:44 2024'), true);
    assert.equal(host.isSameProcessAlive(4242, 'Tue Dec 3 09:12:45 2024'), false, 'a reused pid has another start time');
    assert.equal(host.isSameProcessAlive(4243, 'Tue Dec 3 09:12:44 2024'), false);
    assert.equal(host.isStopped(4242), true);
    assert.equal(host.findJobProcesses(jobPaths('/tmp/jobs', '01kbdx3j8q4w6t2n5m7p9r1s3v')), null, 'no /proc: says it cannot tell');
  });

  it('the same code against this machine\'s real ps: our own start time is stable, a dead pid has none', (t) => {
    if (spawnSync('ps', ['-o', 'stat=', '-o', 'lstart=', '-p', String(process.pid)]).status !== 0) return t.skip('no ps(1) that takes -o stat= -o lstart= on this host (Debian: apt-get install procps)');
    const host = darwinHost();
    const mine = host.startTime(process.pid);
    assert.ok(mine, 'ps gave no start time for this process');
    assert.equal(host.startTime(process.pid), mine);
    const gone = spawnSync(process.execPath, ['-e', '']).pid!;
    assert.equal(host.startTime(gone), null);
  });
});

describe('POSIX: a stop reaches the whole process group', () => {
  it('graceful is SIGTERM to -pgid, force is SIGKILL, alive is signal 0; a gone group is false', () => {
    const sent: [number, NodeJS.Signals | 0][] = [];
    const host = posixHost('linux', () => null, (pid, signal) => { sent.push([pid, signal]); if (pid === -99) throw new Error('ESRCH'); });
    assert.equal(host.stopTree(42, 'graceful'), true);
    assert.equal(host.stopTree(42, 'force'), true);
    assert.equal(host.treeAlive(42), true);
    assert.equal(host.stopProcess(42, 'graceful'), true);
    assert.equal(host.stopTree(99, 'force'), false);
    assert.deepEqual(sent, [[-42, 'SIGTERM'], [-42, 'SIGKILL'], [-42, 0], [42, 'SIGTERM'], [-99, 'SIGKILL']]);
    assert.equal(host.canAskToStop, true);
  });

  it('this host gets the implementation for its OS', () => {
    assert.equal(processHost.platform, process.platform === 'win32' || process.platform === 'linux' ? process.platform : processHost.platform);
    assert.equal(hostFor('linux').platform, 'linux');
    assert.equal(hostFor('darwin').platform, 'darwin');
    assert.equal(hostFor('win32').platform, 'win32');
    assert.equal(hostFor('win32').canAskToStop, false);
  });
});

describe('Windows: start times from PowerShell, trees stopped with taskkill', () => {
  it('reads StartTime from Windows PowerShell 5.1 (both shapes) and PowerShell 7 as the same instant', () => {
    for (const name of ['get-process-ps51.json', 'get-process-ps51-ets.json', 'get-process-ps7.json']) {
      assert.equal(parseGetProcessStartTime(fixture(`windows/${name}`), 12345), '1733131883123', name);
    }
    assert.equal(parseGetProcessStartTime(fixture('windows/get-process-ps7.json'), 12346), null, 'another pid\'s row is not ours');
    assert.equal(parseGetProcessStartTime('', 12345), null);
    assert.equal(parsePowerShellDate('2019-11-19T22:32:50Z'), Date.parse('2019-11-19T22:32:50Z'));
    assert.equal(parsePowerShellDate('not a date'), null);
  });

  it('a dead pid costs no PowerShell; a live one is asked by Get-Process and compared', () => {
    const { calls, run } = recorder(() => ({ status: 0, stdout: fixture('windows/get-process-ps7.json') }));
    const host = win32Host(run, liveKill(new Set([12345])));
    assert.equal(host.startTime(777), null);
    assert.equal(calls.length, 0);
    assert.equal(host.startTime(12345), '1733131883123');
    assert.equal(calls[0]!.file, 'powershell.exe');
    assert.match(calls[0]!.args.at(-1)!, /^Get-Process -Id 12345 -ErrorAction SilentlyContinue \| Select-Object Id,StartTime \| ConvertTo-Json -Compress$/);
    assert.equal(host.isSameProcessAlive(12345, '1733131883123'), true);
    assert.equal(host.isSameProcessAlive(12345, '1733131883124'), false, 'a reused pid has another start time');
  });

  it('PowerShell missing or failing reads as "cannot confirm", not as alive', () => {
    const host = win32Host(() => ({ status: null, stdout: '' }), liveKill(new Set([12345])));
    assert.equal(host.startTime(12345), null);
    assert.equal(host.isSameProcessAlive(12345, '1733131883123'), false);
  });

  it('stops a tree with taskkill /T, forcing with /F; a refused graceful stop still counts as something to force', () => {
    const alive = new Set([12345]);
    const answers: Record<string, CommandResult> = {
      graceful: { status: 1, stdout: fixture('windows/taskkill-needs-force.txt') },
      force: { status: 0, stdout: fixture('windows/taskkill-tree-success.txt') },
    };
    const { calls, run } = recorder((call) => (call.args.includes('/F') ? answers.force! : answers.graceful!));
    const host = win32Host(run, liveKill(alive));
    assert.equal(host.stopTree(12345, 'graceful'), true);
    assert.equal(host.stopTree(12345, 'force'), true);
    assert.equal(host.stopProcess(12345, 'force'), true);
    assert.deepEqual(calls.map((c) => [c.file, ...c.args]), [
      ['taskkill', '/PID', '12345', '/T'],
      ['taskkill', '/PID', '12345', '/T', '/F'],
      ['taskkill', '/PID', '12345', '/F'],
    ]);
    alive.clear();
    const gone = win32Host(() => ({ status: 128, stdout: fixture('windows/taskkill-not-found.txt') }), liveKill(alive));
    assert.equal(gone.stopTree(12345, 'force'), false);
    assert.equal(gone.treeAlive(12345), false);
    assert.equal(gone.isStopped(12345), false);
  });

  it('finds a job\'s runner by its command line in Win32_Process, with and without spaces in the paths', () => {
    const rows = parseCimProcesses(fixture('windows/get-ciminstance-node.json'));
    assert.equal(rows.length, 3);
    assert.equal(rows[2]!.startTime, String(Date.parse('2024-12-02T09:31:25.500Z')));
    const host = win32Host(() => ({ status: 0, stdout: fixture('windows/get-ciminstance-node.json') }), liveKill(new Set()));
    const plain = host.findJobProcesses({ ...jobPaths('/x', '01kbdx3j8q4w6t2n5m7p9r1s3v'), dir: 'C:\\Users\\alice\\.claude-async\\jobs\\01kbdx3j8q4w6t2n5m7p9r1s3v' });
    assert.deepEqual(plain?.runners.map((r) => r.pid), [4242]);
    const spaced = host.findJobProcesses({ ...jobPaths('/x', '01kbdx3j8q4w6t2n5m7p9r1s3v'), dir: 'C:\\Users\\alice\\My Data\\jobs\\01kbdx3j8q4w6t2n5m7p9r1s3v' });
    assert.deepEqual(spaced?.runners.map((r) => r.pid), [6001]);
    assert.equal(win32Host(() => ({ status: 1, stdout: '' })).findJobProcesses(jobPaths('/x', '01kbdx3j8q4w6t2n5m7p9r1s3v')), null);
  });

  it('reads tasklist CSV: our pid listed, the "No tasks" answer not', () => {
    assert.equal(tasklistHasPid(fixture('windows/tasklist-found.csv'), 12345), true);
    assert.equal(tasklistHasPid(fixture('windows/tasklist-found.csv'), 1234), false);
    assert.equal(tasklistHasPid(fixture('windows/tasklist-none.txt'), 12345), false);
  });
});

// ---- a model of cmd.exe and of the MSVCRT argv rules, to replay what our command lines become ----

/** One cmd.exe parse: %var% expansion (command-line rules: an undefined name stays), then ^ and quotes. */
function cmdParse(line: string, vars: Record<string, string>, expandPercent: boolean): string {
  let text = line;
  if (expandPercent) {
    let expanded = '';
    for (let i = 0; i < text.length; i++) {
      const end = text[i] === '%' ? text.indexOf('%', i + 1) : -1;
      const name = end > i ? text.slice(i + 1, end) : undefined;
      if (name !== undefined && name in vars) {
        expanded += vars[name];
        i = end;
      } else {
        expanded += text[i];
      }
    }
    text = expanded;
  }
  let out = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      quoted = !quoted;
      out += c;
    } else if (!quoted && c === '^') {
      out += text[++i] ?? '';
    } else if (!quoted && '&|<>'.includes(c)) {
      throw new Error(`cmd.exe would act on an unescaped '${c}' in: ${text}`);
    } else {
      out += c;
    }
  }
  return out;
}

/** CommandLineToArgvW / MSVCRT rules (learn.microsoft.com "Parsing C command-line arguments"). */
function parseArgv(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let started = false;
  let quoted = false;
  for (let i = 0; i < line.length;) {
    const c = line[i]!;
    if (c === '\\') {
      let n = 0;
      while (line[i] === '\\') { n++; i++; }
      if (line[i] === '"') {
        current += '\\'.repeat(Math.floor(n / 2));
        if (n % 2) current += '"'; else quoted = !quoted;
        i++;
      } else {
        current += '\\'.repeat(n);
      }
      started = true;
    } else if (c === '"') {
      if (quoted && line[i + 1] === '"') { current += '"'; i += 2; } else { quoted = !quoted; i++; }
      started = true;
    } else if ((c === ' ' || c === '\t') && !quoted) {
      if (started) args.push(current);
      current = '';
      started = false;
      i++;
    } else {
      current += c;
      started = true;
      i++;
    }
  }
  if (started) args.push(current);
  return args;
}

/** What node.exe receives when cmd.exe runs npm's claude.cmd (`"%_prog%" "%dp0%\…\cli.js" %*`). */
function replayThroughShim(file: string, args: string[], vars: Record<string, string>): string[] {
  const invocation = cmdInvocation(file, args);
  assert.deepEqual(invocation.args.slice(0, 3), ['/d', '/s', '/c']);
  const outer = invocation.args[3]!;
  assert.ok(outer.startsWith('"') && outer.endsWith('"'));
  const first = cmdParse(outer.slice(1, -1), vars, true); // /s strips the outer quotes, then one parse
  assert.ok(first.startsWith(`${file} `) || first === file, `cmd.exe would not find the file: ${first}`);
  const percentStar = first.slice(file.length + 1);
  const shimLine = `"C:\\Program Files\\nodejs\\node.exe"  "C:\\Users\\alice\\AppData\\Roaming\\npm\\node_modules\\@anthropic-ai\\claude-code\\cli.js" ${percentStar}`;
  return parseArgv(cmdParse(shimLine, vars, false)).slice(2); // %* is substituted once, not expanded again
}

describe('cmd.exe quoting for claude.cmd: every argument arrives as given', () => {
  const shim = 'C:\\Users\\alice\\AppData\\Roaming\\npm\\claude.cmd';
  const vars = { PATH: 'C:\\Windows', USERNAME: 'alice', dp0: 'C:\\x\\' };
  const hostile = [
    'a & calc.exe', 'x | more', 'in < file', 'out > file', 'caret ^ here', '^^', '100% sure', '%PATH%', '%USERNAME%%PATH%',
    'say "hi"', 'a"&calc', '"', '""', '', ' ', 'two  spaces', 'trailing\\', 'C:\\dir with space\\', 'back\\"quote', '\\\\"',
    '!PATH!', '(paren)', 'semi;colon', 'comma,arg', 'ünïcødé', 'Bash(git log:*)', '--allowedTools', 'Edit,Write',
  ];

  it('the metacharacters & | < > ^ % " and spaces survive both parses unchanged', () => {
    for (const arg of hostile) assert.deepEqual(replayThroughShim(shim, ['-p', arg, '--verbose'], vars), ['-p', arg, '--verbose'], JSON.stringify(arg));
    assert.deepEqual(replayThroughShim(shim, hostile, vars), hostile);
  });

  it('a shim path with spaces is found, and arguments still arrive', () => {
    const spaced = 'C:\\Program Files\\nodejs\\claude.cmd';
    assert.equal(quoteCmdCommand(spaced), 'C:\\Program^ Files\\nodejs\\claude.cmd');
    assert.deepEqual(replayThroughShim(spaced, ['a & b', '%PATH%'], vars), ['a & b', '%PATH%']);
  });

  it('escaping once is not enough for a batch file that forwards %* (the model catches the injection)', () => {
    const once = (arg: string) => {
      const line = `${quoteCmdCommand(shim)} ${quoteCmdArgument(arg, 1)}`;
      const first = cmdParse(line, vars, true).slice(shim.length + 1);
      return parseArgv(cmdParse(`"node.exe" "cli.js" ${first}`, vars, false)).slice(2);
    };
    assert.throws(() => once('a"&calc'), /unescaped '&'/);
  });

  it('known escapes, for review: quotes doubled-backslashed, every metacharacter carets twice', () => {
    assert.equal(quoteCmdArgument('a&b'), '^^^"a^^^&b^^^"');
    assert.equal(quoteCmdArgument('x"y'), '^^^"x\\^^^"y^^^"');
    assert.equal(quoteCmdArgument('end\\'), '^^^"end\\\\^^^"');
    assert.equal(quoteCmdArgument('50%', 1), '^"50^%^"');
  });

  it('a line break cannot cross cmd.exe: refused with a reason, nothing started', () => {
    assert.throws(() => cmdInvocation(shim, ['--append-system-prompt', 'one\ntwo']), (e: unknown) => e instanceof CmdArgumentError && /line break/.test((e as Error).message));
  });
});

describe('Windows: claude resolved through PATHEXT and started safely', () => {
  function npmGlobalDir(withExe = false): string {
    const dir = tempDir('ca-win-');
    // What `npm i -g` leaves in %APPDATA%\npm: a sh script, a .cmd shim and a .ps1 one.
    fs.writeFileSync(path.join(dir, 'claude'), '#!/bin/sh\n');
    fs.writeFileSync(path.join(dir, 'claude.cmd'), '@ECHO off\r\n"%_prog%" "%dp0%\\node_modules\\@anthropic-ai\\claude-code\\cli.js" %*\r\n');
    fs.writeFileSync(path.join(dir, 'claude.ps1'), '');
    if (withExe) fs.writeFileSync(path.join(dir, 'claude.exe'), '');
    return dir;
  }

  it('finds claude.cmd, not the extensionless sh script, through Path and PATHEXT (any case)', (t) => {
    const dir = npmGlobalDir();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const env = { Path: `C:\\nowhere;${dir}`, PATHEXT: '.COM;.EXE;.BAT;.CMD;.VBS;.JS' };
    assert.equal(findExecutable('claude', env, 'win32'), path.join(dir, 'claude.cmd'));
    assert.equal(findExecutable('claude.cmd', env, 'win32'), path.join(dir, 'claude.cmd'));
    assert.equal(findExecutable('nope', env, 'win32'), null);
  });

  it('a .cmd runs through COMSPEC with verbatim, quoted arguments; an .exe runs directly; the prompt is on neither', (t) => {
    const dir = npmGlobalDir();
    const exeDir = npmGlobalDir(true);
    t.after(() => { fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(exeDir, { recursive: true, force: true }); });
    const args = ['-p', '--output-format', 'stream-json', '--verbose', '--append-system-prompt', 'be brief & "exact"'];
    const plan = windowsSpawnPlan('claude', args, { Path: dir, PATHEXT: '.EXE;.CMD', ComSpec: 'C:\\Windows\\system32\\cmd.exe' });
    assert.equal(plan.file, 'C:\\Windows\\system32\\cmd.exe');
    assert.equal(plan.verbatim, true);
    assert.deepEqual(plan.args, cmdInvocation(path.win32.normalize(path.join(dir, 'claude.cmd')), args, 'C:\\Windows\\system32\\cmd.exe').args);
    assert.deepEqual(replayThroughShim(path.win32.normalize(path.join(dir, 'claude.cmd')), args, {}), args);
    const direct = windowsSpawnPlan('claude', args, { PATH: exeDir, PATHEXT: '.EXE;.CMD' });
    assert.deepEqual(direct, { file: path.join(exeDir, 'claude.exe'), args, verbatim: false });
  });

  it('a Windows job keeps what processes need to start (SystemRoot, Path, PATHEXT, ComSpec) and still no secrets', () => {
    const server = { Path: 'C:\\Windows', SystemRoot: 'C:\\Windows', PATHEXT: '.EXE;.CMD', ComSpec: 'cmd.exe', USERPROFILE: 'C:\\Users\\alice', APPDATA: 'C:\\Users\\alice\\AppData\\Roaming', CLAUDE_ASYNC_TOKEN: 'cas_secret', GITHUB_TOKEN: 'ghp_x' };
    const windows = jobEnvironment(server, [], 'win32');
    assert.deepEqual(Object.keys(windows).sort(), ['APPDATA', 'ComSpec', 'PATHEXT', 'Path', 'SystemRoot', 'USERPROFILE']);
    const linux = jobEnvironment(server, [], 'linux');
    assert.deepEqual(Object.keys(linux), [], 'Linux jobs get exactly what they got before');
  });
});

describe('doctor checks the OS-specific pieces', () => {
  it('Windows: start times through PowerShell, taskkill present, claude.cmd found through PATHEXT', () => {
    const run = (file: string, args: string[]): CommandResult => {
      if (file === 'powershell.exe') return { status: 0, stdout: fixture('windows/get-process-ps7.json') };
      if (file === 'tasklist') return { status: 0, stdout: args.includes('PID eq 12345') ? fixture('windows/tasklist-found.csv') : fixture('windows/tasklist-none.txt') };
      return { status: null, stdout: '' };
    };
    const checks = checkProcessLayer('C:\\Users\\alice\\AppData\\Roaming\\npm\\claude.cmd', { host: win32Host(run, liveKill(new Set([12345]))), run, pid: 12345 });
    assert.deepEqual(checks.map((c) => [c.name, c.level]), [['process start times', 'ok'], ['tasklist/taskkill', 'ok'], ['claude launch', 'ok']]);
    assert.match(checks[2]!.detail, /cmd\.exe with every argument quoted/);
    const broken = checkProcessLayer(null, { host: win32Host(() => ({ status: null, stdout: '' }), liveKill(new Set([12345]))), run: () => ({ status: 0, stdout: fixture('windows/tasklist-none.txt') }), pid: 12345 });
    assert.deepEqual(broken.map((c) => [c.name, c.level]), [['process start times', 'fail'], ['tasklist/taskkill', 'fail']]);
    assert.match(broken[0]!.fix!, /powershell\.exe/);
  });

  it('macOS: a missing or failing ps is a failure that names ps', () => {
    const ok = checkProcessLayer('/usr/local/bin/claude', { host: darwinHost(() => ({ status: 0, stdout: fixture('darwin/ps-stat-lstart-running.txt') })), pid: 4242 });
    assert.deepEqual(ok.map((c) => [c.name, c.level]), [['process start times', 'ok']]);
    const missing = checkProcessLayer('/usr/local/bin/claude', { host: darwinHost(() => ({ status: null, stdout: '' })), pid: 4242 });
    assert.equal(missing[0]!.level, 'fail');
    assert.match(missing[0]!.fix!, /ps\(1\)/);
  });
});

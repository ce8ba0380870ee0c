// The package as a user gets it: `npm pack` (prepack builds dist/), `npm install <tarball>` into an
// empty folder, then the installed bin runs --version, selftest, stdio and serve.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectStdio } from './support/mcp-client.js';
import { REPO_ROOT, isAlive, tempDir, waitFor } from './support/helpers.js';
import { needsPosix } from './support/platform.js';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TOKEN = 'cas_install_test_token_0123456789';

interface PackResult {
  filename: string;
  files: { path: string; mode: number }[];
}

describe('the npm package, packed and installed into an empty folder', { skip: needsPosix('checks the bin\'s executable bit and stops the installed server with SIGTERM'),  timeout: 180_000 }, () => {
  let tmp = '';
  let pack: PackResult;
  let bin = '';
  const children: ChildProcess[] = [];

  before(async () => {
    tmp = tempDir('ca-install-');
    // --json keeps stdout to the file list; prepack's build output goes to stderr.
    const packed = await run(NPM, ['pack', '--pack-destination', tmp, '--json'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    pack = (JSON.parse(packed.stdout) as PackResult[])[0]!;
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'install-test', private: true }));
    await run(NPM, ['install', path.join(tmp, pack.filename), '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
    bin = path.join(app, 'node_modules', '.bin', 'claude-async');
  });

  after(() => {
    for (const child of children) if (child.pid && isAlive(child.pid)) child.kill('SIGKILL');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** An environment with nothing of the caller's claude-async settings, homed in the temp folder. */
  const cleanEnv = (extra: Record<string, string> = {}) => {
    const home = path.join(tmp, 'home');
    fs.mkdirSync(home, { recursive: true });
    return { PATH: process.env.PATH ?? '', HOME: home, CLAUDE_ASYNC_DATA_DIR: path.join(home, 'data'), ...extra };
  };

  it('ships dist/ with the runner and spawner entries, and no sources, tests or secrets', () => {
    const paths = pack.files.map((f) => f.path);
    for (const entry of ['dist/index.js', 'dist/stdio.js', 'dist/jobs/runner.js', 'dist/jobs/spawner.js', 'dist/web/index.html', 'dist/web/main.js', 'dist/web/style.css', 'package.json', 'README.md', 'LICENSE']) {
      assert.ok(paths.includes(entry), `${entry} is missing from the tarball`);
    }
    const pointedAt = ['.env.example', 'deploy/claude-async.service', 'deploy/Caddyfile', 'deploy/nginx.conf', 'deploy/Caddyfile.scale', 'deploy/nginx.scale.conf'];
    const stray = paths.filter((p) => !/^(dist|docs)\//.test(p) && !['package.json', 'README.md', 'LICENSE', ...pointedAt].includes(p));
    assert.deepEqual(stray, [], 'only dist/, docs/, the files the CLI points at and the package metadata belong in the tarball');
    assert.ok(!paths.some((p) => /^(src|test|\.test-build)\//.test(p) || (p.includes('.env') && p !== '.env.example')));
  });

  it('carries every file its own output and README point at (--help, doctor, README links)', () => {
    const paths = new Set(pack.files.map((f) => f.path));
    const installed = path.join(tmp, 'app', 'node_modules', 'claude-async');
    const mentioned = new Set<string>();
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    for (const file of walk(path.join(installed, 'dist')).filter((f) => f.endsWith('.js'))) {
      for (const match of fs.readFileSync(file, 'utf8').matchAll(/(?<![\w/.-])((?:deploy|docs)\/[\w.-]+\.?[\w-]*|\.env\.example)/g)) mentioned.add(match[1]!);
    }
    const readme = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
    for (const match of readme.matchAll(/\]\((?!https?:|#)([^)#\s]+)/g)) mentioned.add(match[1]!);
    // Every deploy/ file the README names, but those it says to use from the clone: the Docker build
    // files (they build from the sources) and what a user makes next to them.
    const fromTheClone = new Set(['deploy/Dockerfile', 'deploy/compose.yaml', 'deploy/compose.scale.yaml', 'deploy/.env.example', 'deploy/.env', 'deploy/workspace']);
    assert.match(readme, /the Dockerfiles and compose file\s+build from the sources, so use them from the clone/, 'the README still says which deploy files are used from the clone');
    const named = [...readme.matchAll(/(?<![\w/.-])deploy\/[\w.-]*\w/g)].map((m) => m[0]).filter((file) => !fromTheClone.has(file));
    assert.ok(named.includes('deploy/nginx.scale.conf') && named.includes('deploy/Caddyfile.scale'), `the README scan found too little: ${named.join(', ')}`);
    for (const file of named) mentioned.add(file);
    assert.ok(mentioned.has('.env.example') && mentioned.has('deploy/claude-async.service'), `the scan found too little: ${[...mentioned].join(', ')}`);
    for (const file of mentioned) {
      assert.ok(paths.has(file), `${file} is mentioned by the package but not in it`);
      assert.ok(fs.existsSync(path.join(installed, file)), `${file} is not in the installed package`);
    }
  });

  it('installs a bin with a node shebang that prints the version', async () => {
    const real = fs.realpathSync(bin);
    assert.equal(fs.readFileSync(real, 'utf8').split('\n')[0], '#!/usr/bin/env node');
    if (process.platform !== 'win32') assert.ok(fs.statSync(real).mode & 0o100, 'the bin is not executable');
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await run(bin, ['--version'], { env: cleanEnv() });
    assert.equal(stdout.trim(), version.version);
  });

  it('runs through npx in the installing project', async () => {
    const { stdout } = await run(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--no-install', 'claude-async', '--help'], { cwd: path.join(tmp, 'app'), env: cleanEnv() });
    assert.match(stdout, /^claude-async \S+: run long Claude Code jobs/);
  });

  it('is no library: importing it fails at once and runs no command', async () => {
    const probe = "import('claude-async').then(() => console.log('imported'), (e) => console.log(e.code))";
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: path.join(tmp, 'app'), env: cleanEnv() });
    assert.equal(stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED');
    assert.equal(stderr, '', 'the CLI did not run');
  });

  it('passes its selftest (detach → poll → exit) from the installed copy', async () => {
    // On failure, the steps it printed say which one failed (execFile's error leaves stdout out).
    const { stdout } = await run(bin, ['selftest'], { env: cleanEnv(), timeout: 120_000 }).catch((error: { stdout?: string; stderr?: string }) => {
      assert.fail(`selftest failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    assert.match(stdout, /selftest passed/);
  });

  it('answers tools/list over stdio with no secrets set', async () => {
    const { client } = await connectStdio({ command: bin, args: ['stdio'], env: cleanEnv(), stderr: 'pipe', cwd: path.join(tmp, 'app') });
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'claude_start'));
    } finally {
      await client.close();
    }
  });

  it('serves /healthz and the jobs page on a free port and wants the token on /mcp', async () => {
    const child = spawn(bin, ['serve'], {
      env: cleanEnv({ CLAUDE_ASYNC_PORT: '0', CLAUDE_ASYNC_TOKEN: TOKEN, CLAUDE_ASYNC_LOG_LEVEL: 'info' }),
      cwd: path.join(tmp, 'app'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const url = await waitFor(() => /"url":"(http:[^"]+)"/.exec(out)?.[1], 30_000, `serve to listen; output so far:\n${out}`);
    const health = await fetch(`${url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { ok: boolean }).ok, true);
    assert.equal((await fetch(`${url}/mcp`, { method: 'POST' })).status, 401);
    // The jobs page comes with the package: its HTML and the modules it loads, without a token.
    const ui = await fetch(`${url}/ui/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /<script type="module" src="main.js"><\/script>/);
    assert.equal((await fetch(`${url}/ui/main.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});

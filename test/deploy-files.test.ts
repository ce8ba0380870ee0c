// Each file in deploy/ (and the root Dockerfile, glama.json) checked by the tool it is written for,
// installed from Debian: nginx -t, caddy validate, systemd-analyze verify and security. The unit's
// SystemCallFilter= is applied for real (libseccomp, as systemd does) to what jobs run: git, npm,
// a C compiler and the server's selftest. Where Docker cannot run (no engine here), the Dockerfiles'
// pins are checked against the Debian archive and each other; deploy-image.test.ts runs their steps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { readRepoFile, REPO_ROOT, tempDir } from './support/helpers.js';
import { SERVER_BIN } from './support/server-process.js';
import { PUBLIC_NAME, DEPLOY, findCommand, missing, nginxTest, stockNginxTree, withCertificates } from './support/deploy.js';
import { selfSignedCertificate } from './support/tls.js';
import { needsLinux } from './support/platform.js';

const UNIT = path.join(DEPLOY, 'claude-async.service');
const SECCOMP_EXEC = path.join(REPO_ROOT, 'test', 'fixtures', 'seccomp-exec.py');

function run(command: string, args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  return { status: result.status, signal: result.signal, output: `${String(result.stdout ?? '')}${String(result.stderr ?? '')}` };
}

let tmp = '';
before(() => { tmp = tempDir('ca-deploy-'); });
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

describe('deploy/nginx.conf', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  it('passes nginx -t dropped into conf.d/ of the stock Debian nginx.conf (default site included)', { skip: missing('nginx', 'nginx') }, () => {
    const root = path.join(tmp, 'nginx-t');
    const cert = selfSignedCertificate(path.join(root, 'certs'), PUBLIC_NAME);
    const tree = stockNginxTree(root, (site) => withCertificates(site, cert), { withDefaultSite: true });
    const checked = nginxTest(tree);
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /syntax is ok/);
    assert.match(checked.output, /test is successful/);
  });

  it('is right about the `http2 on;` form its header gives for nginx 1.25.1+ (refused before, accepted from)', { skip: missing('nginx', 'nginx') }, () => {
    const version = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(run(findCommand('nginx')!, ['-v']).output);
    assert.ok(version, 'nginx -v printed no version');
    const [major, minor, patch] = version.slice(1).map(Number) as [number, number, number];
    const modern = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
    const root = path.join(tmp, 'nginx-http2-on');
    const cert = selfSignedCertificate(path.join(root, 'certs'), PUBLIC_NAME);
    const tree = stockNginxTree(root, (site) => withCertificates(site, cert)
      .replace(/listen 443 ssl http2;/, 'listen 443 ssl;\n    http2 on;')
      .replace(/listen \[::\]:443 ssl http2;/, 'listen [::]:443 ssl;'));
    const checked = nginxTest(tree);
    if (modern) assert.equal(checked.status, 0, checked.output);
    else assert.match(checked.output, /unknown directive "http2"/);
  });

  it('says where it goes and how to write HTTP/2 on nginx 1.25.1 and newer', () => {
    const site = readRepoFile('deploy/nginx.conf');
    assert.match(site, /\/etc\/nginx\/conf\.d\/claude-async\.conf/);
    assert.match(site, /inside http \{\}/);
    assert.match(site, /^\s*listen 443 ssl http2;/m);
    assert.match(site, /1\.25\.1[\s\S]*`http2 on;`/);
    assert.doesNotMatch(site, /^\s*http2 on;/m, 'a bare `http2 on;` fails on Debian 12 nginx 1.22');
  });
});

describe('deploy/Caddyfile', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  it('passes caddy validate', { skip: missing('caddy', 'caddy') }, () => {
    // Caddy wants a writable home for its storage even when it only validates.
    const home = path.join(tmp, 'caddy-home');
    fs.mkdirSync(home, { recursive: true });
    const checked = run(findCommand('caddy')!, ['validate', '--config', path.join(DEPLOY, 'Caddyfile'), '--adapter', 'caddyfile'], {
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home },
    });
    assert.equal(checked.status, 0, checked.output);
    assert.match(checked.output, /Valid configuration/);
  });
});

describe('deploy/claude-async.service', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  const unitText = () => readRepoFile('deploy/claude-async.service');
  const directive = (name: string) => [...unitText().matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

  it('passes systemd-analyze verify, and the same unit with a bin that is not there does not', { skip: missing('systemd-analyze', 'systemd') }, () => {
    const checked = run('systemd-analyze', ['verify', UNIT]);
    assert.equal(checked.status, 0, checked.output);
    assert.equal(checked.output.trim(), '', 'verify printed warnings');
    // The check is real: verify looks for the ExecStart binary. /usr/bin/env is on every box, and
    // env finds claude-async on systemd's service PATH wherever npm put it (/usr/bin or /usr/local/bin).
    assert.deepEqual(directive('ExecStart'), ['/usr/bin/env claude-async serve']);
    const broken = path.join(tmp, 'claude-async.service');
    fs.writeFileSync(broken, unitText().replace(/^ExecStart=.*$/m, `ExecStart=${path.join(tmp, 'no-such-dir', 'claude-async')} serve`));
    const refused = run('systemd-analyze', ['verify', broken]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /is not executable|No such file/);
  });

  it('rates 2.0 or better in systemd-analyze security --offline=yes', { skip: missing('systemd-analyze', 'systemd') }, () => {
    const checked = run('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT]);
    assert.equal(checked.status, 0, checked.output);
    const level = /Overall exposure level for claude-async\.service: (\d+\.\d+)/.exec(checked.output);
    assert.ok(level, checked.output);
    assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]} is above 2.0:\n${checked.output}`);
    for (const line of ['CapabilityBoundingSet=', 'SystemCallArchitectures=native', 'ProtectProc=invisible', 'PrivateMounts=yes', 'SystemCallFilter=@system-service']) {
      assert.match(unitText(), new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `${line} is not in the unit`);
    }
  });

  it('creates the ReadWritePaths root in its set-up steps, owned by the service user', () => {
    for (const root of directive('ReadWritePaths').flatMap((v) => v.split(/\s+/))) {
      if (root.startsWith('-')) continue; // optional paths need no set-up step
      assert.match(unitText(), new RegExp(`install -d -o claude-async -g claude-async -m 7\\d0 ${root}\\b`), `no set-up step creates ${root}`);
    }
    assert.match(unitText(), /^UMask=0077$/m);
    assert.match(unitText(), /SupplementaryGroups=/, 'the unit explains how a team gets group-readable files');
  });

  describe('its SystemCallFilter=, applied with libseccomp to what jobs run', () => {
    const python = '/usr/bin/python3';
    const noSeccomp = (() => {
      if (!fs.existsSync(python)) return 'Debian python3 is not installed (.ci/run installs python3-seccomp)';
      if (run(python, ['-c', 'import seccomp']).status !== 0) return 'python3-seccomp is not installed (.ci/run installs it: apt-get install python3-seccomp)';
      return missing('systemd-analyze', 'systemd');
    })();
    let allowList = '';
    let action = 'kill';
    const work = () => path.join(tmp, 'seccomp-work');
    const underFilter = (command: string, args: string[], options: SpawnSyncOptions = {}) =>
      run(python, [SECCOMP_EXEC, allowList, action, command, ...args], { cwd: work(), ...options });

    before(() => {
      if (noSeccomp) return;
      // The unit's filter, expanded the way systemd expands it: groups from `systemd-analyze syscall-filter`.
      const groups = new Map<string, string[]>();
      let current: string[] | undefined;
      for (const line of run('systemd-analyze', ['syscall-filter', '--no-pager']).output.split('\n')) {
        if (/^@[\w-]+/.test(line)) groups.set(line.trim(), (current = []));
        else if (current && /^\s+[@\w]/.test(line) && !/^\s+#/.test(line)) current.push(line.trim());
      }
      const names = new Set<string>();
      const expand = (entry: string, seen: Set<string>) => {
        if (!entry.startsWith('@')) return void names.add(entry);
        if (seen.has(entry)) return;
        seen.add(entry);
        const members = groups.get(entry);
        assert.ok(members, `systemd knows no syscall group ${entry}`);
        for (const member of members) expand(member, seen);
      };
      const filters = unitText().match(/^SystemCallFilter=(.*)$/gm) ?? [];
      assert.ok(filters.length > 0, 'the unit has no SystemCallFilter=');
      for (const filter of filters) {
        const value = filter.slice('SystemCallFilter='.length).trim();
        assert.ok(!value.startsWith('~'), 'this test reads allow-lists only');
        for (const entry of value.split(/\s+/)) expand(entry, new Set());
      }
      allowList = path.join(tmp, 'allowed-syscalls.txt');
      fs.writeFileSync(allowList, [...names].join('\n'));
      // SystemCallErrorNumber=EPERM refuses; without it systemd kills the process.
      action = /^SystemCallErrorNumber=EPERM$/m.test(unitText()) ? 'eperm' : 'kill';
      fs.mkdirSync(work(), { recursive: true });
    });

    it('lets git init, add and commit', { skip: noSeccomp }, () => {
      const git = (args: string[]) => underFilter('git', ['-c', 'user.name=job', '-c', 'user.email=job@example.com', ...args]);
      const repo = path.join(work(), 'repo');
      fs.mkdirSync(repo);
      fs.writeFileSync(path.join(repo, 'a.txt'), 'hello\n');
      for (const args of [['init', '-q', repo], ['-C', repo, 'add', 'a.txt'], ['-C', repo, 'commit', '-qm', 'first']]) {
        const done = git(args);
        assert.equal(done.status, 0, `git ${args.join(' ')}: ${done.output}`);
      }
      assert.match(git(['-C', repo, 'log', '--oneline']).output, /first/);
    });

    it('lets a C compiler build and run a program', { skip: noSeccomp || missing('cc', 'gcc') }, () => {
      fs.writeFileSync(path.join(work(), 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from cc"); return 0; }\n');
      const built = underFilter('cc', ['-O2', '-o', 'hello', 'hello.c']);
      assert.equal(built.status, 0, built.output);
      assert.match(underFilter('./hello', []).output, /hello from cc/);
    });

    it('lets npm pack a package and run a script, and node start its JIT', { skip: noSeccomp }, () => {
      const pkg = path.join(work(), 'pkg');
      fs.mkdirSync(pkg);
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'seccomp-probe', version: '1.0.0', scripts: { hello: 'node -e "console.log(\'script ran\')"' } }));
      const env = { ...process.env, npm_config_cache: path.join(work(), 'npm-cache'), npm_config_update_notifier: 'false' };
      const packed = underFilter('npm', ['pack', '--silent'], { cwd: pkg, env });
      assert.equal(packed.status, 0, packed.output);
      assert.ok(fs.existsSync(path.join(pkg, 'seccomp-probe-1.0.0.tgz')));
      const script = underFilter('npm', ['run', '--silent', 'hello'], { cwd: pkg, env });
      assert.equal(script.status, 0, script.output);
      assert.match(script.output, /script ran/);
    });

    it('lets the server detach a runner and poll it to the end (selftest)', { skip: noSeccomp }, () => {
      const home = path.join(work(), 'home');
      fs.mkdirSync(home, { recursive: true });
      const selftest = underFilter(process.execPath, [SERVER_BIN, 'selftest'], { env: { PATH: process.env.PATH ?? '', HOME: home, CLAUDE_ASYNC_DATA_DIR: path.join(home, 'data') } });
      assert.equal(selftest.status, 0, selftest.output);
      assert.match(selftest.output, /selftest passed/);
    });

    it('really filters: a syscall outside the list (swapoff) is refused with EPERM', { skip: noSeccomp }, () => {
      const probe = "import ctypes; libc = ctypes.CDLL(None, use_errno=True); libc.swapoff(b'/nonexistent-swap'); print('errno', ctypes.get_errno())";
      assert.match(run(python, ['-c', probe]).output, /errno (2|1)\b/); // ENOENT as root, EPERM otherwise
      const filtered = underFilter(python, ['-c', probe]);
      if (action === 'kill') assert.equal(filtered.signal, 'SIGSYS');
      else assert.match(filtered.output, /errno 1\b/);
    });
  });
});

describe('the Dockerfiles (deploy/Dockerfile and the root stdio one)', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  const files = { deploy: readRepoFile('deploy/Dockerfile'), root: readRepoFile('Dockerfile') };
  const arg = (text: string, name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(text)?.[1];

  it('pin the same base image by digest and the same claude CLI version, with how to bump them', () => {
    for (const [name, text] of Object.entries(files)) {
      const image = arg(text, 'NODE_IMAGE');
      assert.match(image ?? '', /^node:22\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/, `${name}: the base image is not pinned by digest`);
      assert.match(arg(text, 'CLAUDE_CODE_VERSION') ?? '', /^\d+\.\d+\.\d+$/, `${name}: no pinned default CLAUDE_CODE_VERSION`);
      for (const from of text.match(/^FROM .*/gm) ?? []) assert.match(from, /^FROM \$\{NODE_IMAGE\}/, `${name}: ${from} does not use the pinned image`);
      assert.match(text, /npm install -g [^\n]*"@anthropic-ai\/claude-code@\$\{CLAUDE_CODE_VERSION\}"/, `${name}: does not install the pinned claude CLI`);
      assert.match(text, /ENTRYPOINT \["\/usr\/bin\/tini", "--"/, `${name}: tini is not PID 1`);
    }
    assert.equal(arg(files.deploy, 'NODE_IMAGE'), arg(files.root, 'NODE_IMAGE'));
    assert.equal(arg(files.deploy, 'CLAUDE_CODE_VERSION'), arg(files.root, 'CLAUDE_CODE_VERSION'));
    assert.match(files.deploy, /docker buildx imagetools inspect node:22-bookworm-slim/);
    assert.match(files.deploy, /npm view @anthropic-ai\/claude-code version/);
  });

  it('never suggest --init or init: true on top of their own tini', () => {
    for (const text of [files.deploy, readRepoFile('deploy/compose.yaml'), readRepoFile('README.md')]) {
      for (const line of text.split('\n').filter((l) => /--init\b|init: true/.test(l))) {
        assert.match(line, /\b(no|not|No|Not)\b/, `suggests a second init: ${line}`);
      }
    }
  });

  it('install apt packages whose pins resolve in Debian 12 (bookworm), the images\' base', { skip: debianBookworm() }, () => {
    for (const [name, text] of Object.entries(files)) {
      const install = /apt-get install -y --no-install-recommends ([^\\\n]+)/.exec(text);
      assert.ok(install, `${name}: no apt-get install line`);
      const packages = install[1]!.trim().split(/\s+/).map((p) => p.replace(/^'|'$/g, ''));
      assert.ok(packages.some((p) => p.startsWith('tini=')), `${name}: tini is not pinned`);
      const simulated = run('apt-get', ['install', '-s', '--no-install-recommends', ...packages]);
      assert.equal(simulated.status, 0, `${name}: apt-get install -s ${packages.join(' ')}:\n${simulated.output}`);
    }
  });
});

function debianBookworm(): string | false {
  const release = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
  if (!/^VERSION_CODENAME=bookworm$/m.test(release)) return 'not a Debian 12 host: the images\' apt pins are checked against bookworm\'s archive';
  return missing('apt-get', 'apt');
}

describe('deploy/compose.yaml', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  const compose = readRepoFile('deploy/compose.yaml');

  it('says it needs Compose v2 and starts without a hand-made .env', () => {
    assert.match(compose, /^name: claude-async$/m);
    assert.match(compose, /Compose v2\.24 or newer/);
    assert.match(compose, /env_file:\n\s+- path: \.env[^\n]*\n\s+required: false/);
    assert.doesNotMatch(compose, /^\s*env_file: \.env/m);
    // The image supplies a public URL, so the 0.0.0.0 bind inside the container starts without .env.
    assert.match(readRepoFile('deploy/Dockerfile'), /CLAUDE_ASYNC_PUBLIC_URL=http:\/\/127\.0\.0\.1:8787/);
  });
});

describe('glama.json', { skip: needsLinux('the nginx, Caddy, systemd, seccomp and Docker deploy paths are Linux') }, () => {
  it('carries no placeholder maintainer', () => {
    const glama = JSON.parse(readRepoFile('glama.json')) as { $schema: string; maintainers: unknown[] };
    assert.equal(glama.$schema, 'https://glama.ai/mcp/schemas/server.json');
    assert.ok(Array.isArray(glama.maintainers));
    for (const m of glama.maintainers) assert.match(String(m), /^[A-Za-z0-9-]+$/, `${String(m)} is not a GitHub user name`);
    assert.doesNotMatch(readRepoFile('glama.json'), /REPLACE/);
  });
});

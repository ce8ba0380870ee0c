// Scaffolding for tests of the files in deploy/: which real tools this machine has, a copy of the
// stock Debian nginx configuration with deploy/nginx.conf dropped into its conf.d/ (the way the
// file's header says to install it), pointed at a test certificate, and a live nginx.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, isAlive, waitFor } from './helpers.js';
import type { Certificate } from './tls.js';

export const DEPLOY = path.join(REPO_ROOT, 'deploy');
export const PUBLIC_NAME = 'claude-async.example.com';

/** The absolute path of a command on PATH (or in sbin, where Debian puts nginx), or undefined. */
export function findCommand(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${name}`], { encoding: 'utf8' });
  const where = found.stdout.trim();
  return found.status === 0 && where.startsWith('/') ? where : undefined;
}

/** Why a test that needs `command` cannot run here, or false when it can. */
export function missing(command: string, install: string): string | false {
  return findCommand(command) ? false : `${command} is not installed (.ci/run installs it: apt-get install ${install})`;
}

export interface NginxTree {
  /** The copied main nginx.conf to pass to nginx -c. */
  mainConf: string;
  /** Where deploy/nginx.conf was dropped (conf.d/claude-async.conf in the copy). */
  siteConf: string;
  errorLog: string;
  pidFile: string;
}

/**
 * Copies /etc/nginx as the Debian package installed it into root/etc/nginx, points its absolute
 * paths (includes, logs, pid) into root, and drops deploy/nginx.conf into its conf.d/ with only
 * `edit` applied (the certificate paths at least, since no Let's Encrypt certificate exists here).
 */
export function stockNginxTree(root: string, edit: (site: string) => string, options: { withDefaultSite?: boolean } = {}): NginxTree {
  const etc = path.join(root, 'etc', 'nginx');
  fs.mkdirSync(path.dirname(etc), { recursive: true });
  fs.cpSync('/etc/nginx', etc, { recursive: true, dereference: false, verbatimSymlinks: true });
  const logs = path.join(root, 'log');
  fs.mkdirSync(logs, { recursive: true });
  const pidFile = path.join(root, 'nginx.pid');
  const mainConf = path.join(etc, 'nginx.conf');
  let main = fs.readFileSync(mainConf, 'utf8');
  if (!/include \/etc\/nginx\/conf\.d\/\*\.conf;/.test(main)) throw new Error('the stock nginx.conf no longer includes conf.d/*.conf inside http {}');
  main = main
    .replaceAll('/etc/nginx/', `${etc}/`)
    .replaceAll('/var/log/nginx/', `${logs}/`)
    .replace(/^\s*pid\s+[^;]+;/m, `pid ${pidFile};`);
  if (!options.withDefaultSite) main = main.replace(/^\s*include [^;]*sites-enabled[^;]*;/m, '');
  fs.writeFileSync(mainConf, main);
  const siteConf = path.join(etc, 'conf.d', 'claude-async.conf');
  fs.writeFileSync(siteConf, edit(fs.readFileSync(path.join(DEPLOY, 'nginx.conf'), 'utf8')));
  return { mainConf, siteConf, errorLog: path.join(logs, 'startup-error.log'), pidFile };
}

/** deploy/nginx.conf with only the certificate paths changed to files that exist. */
export function withCertificates(site: string, cert: Certificate): string {
  const live = `/etc/letsencrypt/live/${PUBLIC_NAME}/`;
  if (!site.includes(`${live}fullchain.pem`) || !site.includes(`${live}privkey.pem`)) throw new Error('deploy/nginx.conf no longer names the Let\'s Encrypt paths this test replaces');
  return site.replaceAll(`${live}fullchain.pem`, cert.certFile).replaceAll(`${live}privkey.pem`, cert.keyFile);
}

export function nginxTest(tree: NginxTree): { status: number | null; output: string } {
  const run = spawnSync(findCommand('nginx') ?? 'nginx', ['-t', '-c', tree.mainConf, '-e', tree.errorLog], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

export interface LiveNginx {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** nginx in the foreground as our child, in its own process group so its workers end with it. */
export async function startNginx(tree: NginxTree, probeUrl: () => Promise<boolean>): Promise<LiveNginx> {
  const child = spawn(findCommand('nginx') ?? 'nginx', ['-c', tree.mainConf, '-e', tree.errorLog, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // fast shutdown: the master ends its workers
      const timer = setTimeout(() => { if (child.pid && isAlive(child.pid)) process.kill(-child.pid, 'SIGKILL'); }, 5000);
      await exited;
      clearTimeout(timer);
    }
    // A worker that outlived its master (it should not) is still in the group.
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is empty
    }
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited at start:\n${out}\n${fs.existsSync(tree.errorLog) ? fs.readFileSync(tree.errorLog, 'utf8') : ''}`);
      return probeUrl().catch(() => false);
    }, 20_000, 'nginx to listen');
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, output: () => out, stop };
}

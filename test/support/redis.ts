// A real redis-server (Debian's) per test: its own temp dir, a free loopback port, no RDB snapshots,
// AOF when asked. Tests use it to show what shared limits, idempotency and the Redis backend do when
// Redis is up, frozen (SIGSTOP), gone (SIGKILL/stop) and back (restart on the same dir + port, which
// replays the AOF). Every server is ended by its pid; a guard SIGKILLs any left at process exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './helpers.js';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';

/** Why Redis tests cannot run here (say it in `skip`), or null when redis-server is installed. */
export function redisMissing(): string | null {
  if (process.platform === 'win32') return 'redis-server tests run on Linux/macOS only';
  const probe = spawnSync(REDIS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `${REDIS_SERVER_BIN} is not installed (apt-get install redis-server; .ci/run does it as root)`;
  return null;
}

export interface RedisServerOptions {
  /** Keep an append-only file so a restart replays acknowledged writes. Default false. */
  appendonly?: boolean;
  /** AOF fsync policy when appendonly is on. Default 'always' (tests want no loss window). */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** How long start/restart may take before failing. Default 15 s (a busy 2-core box). */
  readyTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export class RedisServer {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly options: Required<RedisServerOptions>,
  ) {}

  /** Starts a server on a fresh port in a fresh temp dir and resolves once it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const full: Required<RedisServerOptions> = { appendonly: false, appendfsync: 'always', readyTimeoutMs: 15_000, ...options };
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ca-redis-')));
    // freePort can race another test taking the port between probe and bind: try a few ports.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(dir, await freePort(), full);
      try {
        await server.launch();
        return server;
      } catch (err) {
        lastError = err;
        if (!/address already in use/i.test(String(err))) break;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Freezes the server: connections stay open, nothing is answered. */
  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  /** SIGKILL, as when the host loses power: no shutdown work, only what the AOF already holds survives. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = waitExit(child);
    this.signal('SIGKILL');
    await exited;
  }

  /** Orderly shutdown (SIGTERM; resumes a paused server first). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = waitExit(child);
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    await exited;
  }

  /**
   * The two ways Redis goes away, in turn: `check('frozen')` while it is SIGSTOPped (connections stay
   * open, nothing answers), then `check('killed')` after SIGKILL. It stays down: restart() brings it back.
   */
  async frozenThenKilled(check: (how: 'frozen' | 'killed') => Promise<void>): Promise<void> {
    this.pause();
    try {
      await check('frozen');
    } finally {
      this.resume();
    }
    await this.kill();
    await check('killed');
  }

  /** Starts again on the same dir and port (after stop/kill); with AOF on, the data comes back. */
  async restart(): Promise<void> {
    if (this.child) await this.stop();
    await this.launch();
  }

  /** Stops the server and removes its dir. Safe to call twice. */
  async dispose(): Promise<void> {
    const child = this.child;
    if (child) {
      const exited = waitExit(child);
      this.signal('SIGKILL');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** What the server printed (for assertion messages). */
  log(): string {
    return this.output;
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(pid, sig);
    } catch {
      // already exited: waitExit has resolved or will
    }
  }

  private async launch(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.options.appendonly ? 'yes' : 'no',
      '--appendfsync', this.options.appendfsync,
      '--daemonize', 'no',
      '--logfile', '',
      '--loglevel', 'notice',
    ];
    const child = spawn(REDIS_SERVER_BIN, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    const exitedEarly = waitExit(child);
    child.once('exit', () => {
      live.delete(child);
      if (this.child === child) this.child = null;
    });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (b: Buffer) => (this.output += b.toString('utf8')));
    const deadline = Date.now() + this.options.readyTimeoutMs;
    for (;;) {
      const early = await Promise.race([exitedEarly.then(() => true), ping(this.port).then((ok) => (ok ? false : null))]);
      if (early === true) throw new Error(`redis-server exited before answering PING on ${this.port}:\n${this.output}`);
      if (early === false) return;
      if (Date.now() > deadline) {
        await this.dispose();
        throw new Error(`redis-server did not answer PING on ${this.port} within ${this.options.readyTimeoutMs} ms:\n${this.output}`);
      }
      await new Promise((r) => setTimeout(r, 30));
    }
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** One PING over a raw socket: true only on +PONG (a server still replaying its AOF answers -LOADING). */
export function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (b) => {
      reply += b.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
  });
}

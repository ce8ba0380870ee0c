// Creates a job's folder (spec + prompt, before anything runs) and starts its runner without
// waiting for it. Behind the `Launcher` interface so another backend (a queue with a worker per
// host) can replace it without touching the service or the faces.
import fs from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../files/atomic.js';
import { JobConflict, StorageError } from './errors.js';
import type { JobPaths } from './layout.js';
import type { JobSpecRecord } from './records.js';
import { spawnRunner, type SpawnReply } from './spawner.js';

export interface Launcher {
  /** Writes the job's folder; throws StorageError and leaves nothing behind if the disk refuses. */
  create(paths: JobPaths, spec: JobSpecRecord, prompt: string): Promise<void>;
  /** Starts the runner; resolves once it is spawned (not once it runs). */
  launch(jobId: string, paths: JobPaths): Promise<number>;
  close(): void;
}

export class ProcessLauncher implements Launcher {
  private spawner: ChildProcess | undefined;
  private readonly waiting = new Map<string, { resolve: (pid: number) => void; reject: (e: Error) => void }>();

  /** @param jobEnv the allowlisted environment every runner (and so claude) gets */
  constructor(private readonly jobEnv: Record<string, string>) {}

  async create(paths: JobPaths, spec: JobSpecRecord, prompt: string): Promise<void> {
    try {
      await fs.promises.mkdir(paths.dir, { mode: 0o700 });
    } catch (error) {
      // Not ours to clean up: a folder that exists already belongs to a job made under this id.
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'EEXIST') throw new JobConflict(`a job with id ${spec.jobId} exists already`);
      throw new StorageError(`Could not create the job on disk (${code}): check that the jobs folder is writable and has space.`);
    }
    try {
      // The prompt first: a folder whose spec.json exists is a job, and a job always has its prompt.
      await writeFileAtomic(paths.prompt, prompt);
      await writeFileAtomic(paths.spec, JSON.stringify(spec));
    } catch (error) {
      await fs.promises.rm(paths.dir, { recursive: true, force: true }).catch(() => {});
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new StorageError(`Could not create the job on disk (${code}): check that the jobs folder is writable and has space.`);
    }
  }

  launch(jobId: string, paths: JobPaths): Promise<number> {
    const spawner = this.ensureSpawner();
    if (!spawner) return Promise.resolve(spawnRunner(paths.dir, this.jobEnv));
    return new Promise((resolve, reject) => {
      this.waiting.set(jobId, { resolve, reject });
      spawner.send({ jobId, jobDir: paths.dir });
    });
  }

  close(): void {
    this.spawner?.disconnect();
    this.spawner = undefined;
  }

  private ensureSpawner(): ChildProcess | undefined {
    if (this.spawner?.connected) return this.spawner;
    let child: ChildProcess;
    try {
      child = fork(fileURLToPath(new URL('./spawner.js', import.meta.url)), [], {
        env: this.jobEnv,
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        execArgv: [],
      });
    } catch {
      return undefined; // spawn in-process instead: slower for other requests, but it works
    }
    child.on('message', (reply: SpawnReply) => {
      const waiter = this.waiting.get(reply.jobId);
      this.waiting.delete(reply.jobId);
      if ('pid' in reply) waiter?.resolve(reply.pid);
      else waiter?.reject(new Error(reply.error));
    });
    child.on('exit', () => {
      if (this.spawner === child) this.spawner = undefined;
      for (const waiter of this.waiting.values()) waiter.reject(new Error('the spawner process exited'));
      this.waiting.clear();
    });
    child.unref();
    (child as unknown as { channel?: { unref(): void } }).channel?.unref();
    this.spawner = child;
    return child;
  }
}

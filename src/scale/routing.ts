// Which live worker takes a job: one whose roots contain the job's cwd and, when the job names
// labels, that carries every one of them; of those, the one with the most free slots. Pure: the
// facts (live workers' heartbeats) are read by workers.ts.
import path from 'node:path';
import { missingLabels } from '../jobs/labels.js';

/** What a worker says about itself in its heartbeat. */
export interface WorkerInfo {
  workerId: string;
  /** The real paths of the roots it holds on its host. */
  roots: string[];
  labels: string[];
  slots: number;
  /** Jobs it runs now. */
  running: number;
  host: string;
  pid: number;
  startedAt: number;
}

/** True when `cwd` is one of the roots or inside one (by path, on the worker's side of the wire). */
export function rootsHold(roots: readonly string[], cwd: string): boolean {
  return roots.some((root) => cwd === root || cwd.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
}

export function canTake(worker: WorkerInfo, cwd: string, labels: readonly string[] = []): boolean {
  return rootsHold(worker.roots, cwd) && missingLabels(worker.labels, labels).length === 0;
}

/** The worker a job goes to, or null when no live worker holds its cwd (and labels). */
export function chooseWorker(live: readonly WorkerInfo[], cwd: string, labels: readonly string[] = []): WorkerInfo | null {
  let best: WorkerInfo | null = null;
  for (const worker of live) {
    if (!canTake(worker, cwd, labels)) continue;
    if (!best || worker.slots - worker.running > best.slots - best.running) best = worker;
  }
  return best;
}

// A long-lived helper process that spawns runners for the server. spawn(2) blocks the calling
// event loop for ~10-20 ms on a small box; doing it here keeps every HTTP request off that cost.
// It exits when the server goes (IPC disconnect); the runners it started are detached and stay.
import { fileURLToPath } from 'node:url';
import { processHost } from './process/index.js';

export interface SpawnRequest { jobId: string; jobDir: string }
export type SpawnReply = { jobId: string; pid: number } | { jobId: string; error: string };

const runnerPath = fileURLToPath(new URL('./runner.js', import.meta.url));

export function spawnRunner(jobDir: string, env: NodeJS.ProcessEnv = process.env): number {
  // Detached: its own process group (and session on POSIX), so it survives the server and its signals.
  return processHost.startDetached(process.execPath, [runnerPath, jobDir], { cwd: jobDir, env });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.on('message', (message: SpawnRequest) => {
    let reply: SpawnReply;
    try {
      reply = { jobId: message.jobId, pid: spawnRunner(message.jobDir) };
    } catch (error) {
      reply = { jobId: message.jobId, error: (error as Error).message };
    }
    // The server may have gone while we spawned: a failed send must not crash us with EPIPE (the
    // runner is started and detached either way; the server finds it by its claim).
    if (process.connected) process.send?.(reply, undefined, undefined, () => {});
  });
  process.on('disconnect', () => process.exit(0));
}

// `claude-async worker`: the process on each host of a shared (Redis) deployment that runs jobs.
// SIGTERM/SIGINT stop it taking jobs; the jobs it runs keep running and are adopted on its next start.
import pino from 'pino';
import type { Config } from '../config.js';

export async function workerCommand(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, redact: ['*.prompt'] });
  if (!config.redisUrl) {
    process.stderr.write('claude-async: worker needs CLAUDE_ASYNC_REDIS_URL (the Redis the fronts use)\n');
    process.exitCode = 78;
    return;
  }
  const { JobWorker } = await import('../scale/worker.js');
  const worker = new JobWorker(config, { log });
  try {
    await worker.start();
  } catch (error) {
    process.stderr.write(`claude-async: worker: ${(error as Error).message}\n`);
    await worker.close().catch(() => {});
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'worker stopping; running jobs keep running');
    worker.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

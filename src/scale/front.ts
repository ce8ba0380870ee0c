// What `serve` needs to be a front of the shared backend (CLAUDE_ASYNC_REDIS_URL): the Redis
// backend for the JobService, and the start limiter, failed-auth limiter and Idempotency-Key records
// shared by every front, all on one fail-fast Redis client (Redis away → 503, never a hang).
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AuthFailureLimiter } from '../auth/middleware.js';
import type { IdempotencyRecords } from '../http/idempotency-records.js';
import type { JobBackend } from '../jobs/backend.js';
import type { StartLimit } from '../jobs/start-limiter.js';
import { RedisAuthFailureLimiter } from './auth-failure-limiter.js';
import { RedisBackend } from './backend.js';
import { openFrontRedis } from './front-redis.js';
import { RedisIdempotencyRecords } from './idempotency-records.js';
import { RedisStartLimiter } from './start-limiter.js';

export interface RedisFront {
  service: { backend: JobBackend; limiter: StartLimit };
  app: { failureLimiter: AuthFailureLimiter; idempotencyRecords: IdempotencyRecords };
  /** Closes the Redis client once the service (and its backend) are closed. */
  close(): void;
}

export function openRedisFront(config: Config, log: Logger): RedisFront {
  const redis = openFrontRedis(config.redisUrl!, { onError: (err) => log.debug({ err: err.message }, 'redis connection problem') });
  return {
    service: { backend: new RedisBackend(redis, config, log), limiter: new RedisStartLimiter(redis, config.maxStartsPerMinute) },
    app: { failureLimiter: new RedisAuthFailureLimiter(redis, config.authFailuresPerMinute), idempotencyRecords: new RedisIdempotencyRecords(redis) },
    close: () => redis.disconnect(),
  };
}

// Failed authentications per client IP, counted in Redis so a guesser spreading tries over several
// fronts meets one limit. Same semantics as the in-process limiter (createAuthFailureLimiter in
// src/auth/middleware.ts): a fixed one-minute window that starts at the first failure; at the limit,
// every request from that address (right token or not) waits until the window ends. The window is the
// key's TTL, so no sweeping is needed and memory is bounded by the last minute's failures.
import type { Redis } from 'ioredis';
import type { AuthFailureLimiter } from '../auth/middleware.js';
import { limitKeys } from './limit-keys.js';
import { onRedis } from './front-redis.js';

const WINDOW_MS = 60_000;

// The first failure creates the counter with the window as its TTL; later ones only count.
const RECORD = `
if redis.call('SET', KEYS[1], 0, 'PX', ARGV[1], 'NX') then end
return redis.call('INCR', KEYS[1])
`;

export class RedisAuthFailureLimiter implements AuthFailureLimiter {
  constructor(private readonly redis: Redis, private readonly failuresPerMinute: number) {}

  async retryAfterSeconds(ip: string): Promise<number> {
    const key = limitKeys.authFailures(ip);
    const [failures, ttlMs] = await onRedis('checking failed sign-ins', async () => {
      const replies = await this.redis.multi().get(key).pttl(key).exec();
      if (!replies) throw new Error('the transaction was discarded');
      for (const [error] of replies) if (error) throw error;
      return [Number(replies[0]![1] ?? 0), Number(replies[1]![1])] as const;
    });
    if (failures < this.failuresPerMinute || ttlMs <= 0) return 0;
    return Math.max(1, Math.ceil(ttlMs / 1000));
  }

  async recordFailure(ip: string): Promise<void> {
    await onRedis('counting a failed sign-in', () => this.redis.eval(RECORD, 1, limitKeys.authFailures(ip), WINDOW_MS));
  }
}

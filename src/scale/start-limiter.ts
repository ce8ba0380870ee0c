// Job starts per principal per minute, counted in Redis so every front draws on one budget. Same
// semantics as the in-process StartLimiter (src/jobs/start-limiter.ts): a sliding one-minute
// window; a refused start records nothing and says how many seconds to wait. The check and the
// record are one Lua script, so two fronts racing for the last start cannot both get it.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { StartLimit } from '../jobs/start-limiter.js';
import { limitKeys } from './limit-keys.js';
import { onRedis } from './front-redis.js';

const WINDOW_MS = 60_000;

// ARGV: now (ms, or -1 for Redis's own clock, so fronts with skewed clocks agree), window, limit, member.
// Returns {1} when the start is recorded, or {0, now, oldest} when refused.
const TAKE = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, now, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1}
`;

export class RedisStartLimiter implements StartLimit {
  /**
   * @param now a clock for tests; by default the window runs on Redis's clock (TIME), one for all fronts.
   */
  constructor(private readonly redis: Redis, private readonly perMinute: number, private readonly now?: () => number) {}

  async take(principal: string): Promise<number | null> {
    const answer = (await onRedis('counting starts per minute', () => this.redis.eval(TAKE, 1, limitKeys.starts(principal), this.now?.() ?? -1, WINDOW_MS, this.perMinute, randomUUID()))) as number[];
    if (answer[0] === 1) return null;
    const [, now, oldest] = answer as [number, number, number];
    return Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
  }
}

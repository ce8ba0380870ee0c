// Idempotency-Key records in Redis, so a client retrying a start through another front (its first
// front died, or the proxy sent it elsewhere) still gets its first job. Same records and semantics as
// the file store (src/http/idempotency-records.ts): SET NX is the exclusive create, and the record's
// TTL is the key's age limit, so nothing needs sweeping. A Redis that does not answer is
// Unavailable (503), never "no record": guessing "none" could start a second job.
import type { Redis } from 'ioredis';
import type { IdempotencyRecord, IdempotencyRecords } from '../http/idempotency-records.js';
import { limitKeys } from './limit-keys.js';
import { onRedis } from './front-redis.js';

const WHAT = 'the Idempotency-Key';

export class RedisIdempotencyRecords implements IdempotencyRecords {
  constructor(private readonly redis: Redis) {}

  async read(id: string): Promise<IdempotencyRecord | null> {
    const raw = await onRedis(`looking up ${WHAT}`, () => this.redis.get(limitKeys.idempotency(id)));
    return raw === null ? null : (JSON.parse(raw) as IdempotencyRecord);
  }

  async createExclusive(id: string, record: IdempotencyRecord, ttlMs: number): Promise<boolean> {
    const reply = await onRedis(`recording ${WHAT}`, () => this.redis.set(limitKeys.idempotency(id), JSON.stringify(record), 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    return reply === 'OK';
  }

  async write(id: string, record: IdempotencyRecord): Promise<void> {
    // XX: a record that expired meanwhile is not brought back; KEEPTTL: its age limit stays.
    await onRedis(`recording ${WHAT}`, () => this.redis.set(limitKeys.idempotency(id), JSON.stringify(record), 'KEEPTTL', 'XX'));
  }

  async remove(id: string): Promise<void> {
    await onRedis(`forgetting ${WHAT}`, () => this.redis.del(limitKeys.idempotency(id)));
  }

  async sweep(): Promise<void> {
    // Each record carries its TTL: Redis forgets it on time.
  }
}

// Limits that several fronts share through one real redis-server: the start budget per principal,
// failed authentications per IP and Idempotency-Keys behave like the in-process versions, but two
// instances (two fronts) draw on one count. Redis frozen or gone → Unavailable, never a guess.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createAuthFailureLimiter } from '../src/auth/middleware.js';
import { Unavailable } from '../src/jobs/errors.js';
import { StartLimiter } from '../src/jobs/start-limiter.js';
import { IdempotencyCache, type IdempotentStarts } from '../src/http/idempotency.js';
import { problemFor } from '../src/http/problem.js';
import { protocolError, toolError } from '../src/mcp/errors.js';
import { RedisAuthFailureLimiter } from '../src/scale/auth-failure-limiter.js';
import { openFrontRedis } from '../src/scale/front-redis.js';
import { RedisIdempotencyRecords } from '../src/scale/idempotency-records.js';
import { limitKeys } from '../src/scale/limit-keys.js';
import { RedisStartLimiter } from '../src/scale/start-limiter.js';
import { RedisServer, redisMissing } from './support/redis.js';

const missing = redisMissing();

/** A shared "backend": jobs by id, creating an existing id conflicts (as the job store does). */
function backend() {
  const jobs = new Map<string, { jobId: string }>();
  let creates = 0;
  const starts: IdempotentStarts<{ jobId: string }> = {
    async create(jobId) {
      creates++;
      await new Promise((r) => setImmediate(r));
      if (jobs.has(jobId)) throw new Error(`job ${jobId} exists`);
      jobs.set(jobId, { jobId });
      return { jobId };
    },
    async existing(jobId) {
      return jobs.get(jobId) ?? null;
    },
  };
  return { jobs, starts, creates: () => creates };
}

describe('limits shared through Redis', { skip: missing ?? false }, () => {
  let server: RedisServer;
  const clients: Redis[] = [];
  /** One client per front, as two processes would have. */
  const front = async (): Promise<Redis> => {
    const client = openFrontRedis(server.url, { commandTimeoutMs: 500 });
    clients.push(client);
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    return client;
  };
  let run = 0;
  /** A principal/IP name no other test uses (they share one server). */
  const fresh = (name: string) => `${name}-${++run}`;

  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    for (const client of clients) client.disconnect();
    await server.dispose();
  });

  describe('start limiter', () => {
    it('answers exactly like the in-process limiter, and two fronts share one budget', async () => {
      let clock = 1_000_000;
      const now = () => clock;
      const local = new StartLimiter(3, now);
      const [a, b] = [new RedisStartLimiter(await front(), 3, now), new RedisStartLimiter(await front(), 3, now)];
      const alice = fresh('token:alice');
      const bob = fresh('token:bob');
      // Starts alternate between the two fronts; the local limiter sees them all in one process.
      const steps: Array<[number, string]> = [[0, alice], [10_000, alice], [20_000, bob], [30_000, alice], [30_000, alice], [45_000, alice], [60_000, alice], [60_001, alice], [75_000, alice], [91_000, alice], [91_000, bob]];
      const seen: Array<[number | null, number | null]> = [];
      for (const [i, [at, who]] of steps.entries()) {
        clock = 1_000_000 + at;
        const shared = await (i % 2 === 0 ? a : b).take(who);
        seen.push([local.take(who), shared]);
      }
      for (const [i, [expected, actual]] of seen.entries()) assert.equal(actual, expected, `step ${i} (${JSON.stringify(steps[i])})`);
      // The sequence exercised both answers: refusals with a wait, and the window sliding open again.
      assert.deepEqual(seen.map(([x]) => x), [null, null, null, null, 30, 15, null, 10, null, null, null]);
    });

    it('on Redis\'s own clock: the budget holds across fronts, with a wait of at most a minute', async () => {
      const fronts = [new RedisStartLimiter(await front(), 5), new RedisStartLimiter(await front(), 5)];
      const who = fresh('token:carol');
      // 20 racing starts through two fronts: the check-and-record is atomic, so exactly 5 pass.
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => fronts[i % 2]!.take(who)));
      assert.equal(answers.filter((x) => x === null).length, 5);
      for (const wait of answers.filter((x) => x !== null)) assert.ok(wait! >= 1 && wait! <= 60, `wait ${wait}`);
      const ttl = await clients[0]!.pttl(limitKeys.starts(who));
      assert.ok(ttl > 0 && ttl <= 60_000, `the window key expires by itself (pttl ${ttl})`);
    });
  });

  describe('failed-auth limiter', () => {
    it('counts failures from one IP across fronts, like the in-process one within a process', async () => {
      const [a, b] = [new RedisAuthFailureLimiter(await front(), 3), new RedisAuthFailureLimiter(await front(), 3)];
      const local = createAuthFailureLimiter({ failuresPerMinute: 3 });
      const ip = fresh('203.0.113.7');
      const other = fresh('198.51.100.2');
      for (const [i, limiter] of [a, b, a].entries()) {
        assert.equal(await limiter.retryAfterSeconds(ip), 0, `failure ${i + 1} is still allowed`);
        assert.equal(local.retryAfterSeconds(ip), 0);
        await limiter.recordFailure(ip);
        local.recordFailure(ip);
      }
      const blockedLocal = local.retryAfterSeconds(ip);
      for (const limiter of [a, b]) {
        const wait = await limiter.retryAfterSeconds(ip);
        assert.ok(wait >= 59 && wait <= 60, `blocked on every front for the rest of the minute (got ${wait})`);
        assert.ok(Math.abs(wait - blockedLocal) <= 1);
      }
      assert.equal(await b.retryAfterSeconds(other), 0, 'another address is not touched');
      const ttl = await clients[0]!.pttl(limitKeys.authFailures(ip));
      assert.ok(ttl > 0 && ttl <= 60_000, 'the window is the key\'s TTL, started by the first failure');
    });
  });

  describe('Idempotency-Key records', () => {
    it('the same key through two fronts gives one job id, at once or one after the other', async () => {
      const fronts = [new IdempotencyCache<{ jobId: string }>({ records: new RedisIdempotencyRecords(await front()) }), new IdempotencyCache<{ jobId: string }>({ records: new RedisIdempotencyRecords(await front()) })];
      const shared = backend();
      const owner = fresh('token:dave');
      const body = { prompt: 'hello' };
      const racing = fronts.map((f) => f.run(owner, 'key-1', body, shared.starts));
      const [first, second] = await Promise.all(racing.map((r) => r.result));
      assert.equal(first!.jobId, second!.jobId);
      assert.deepEqual((await Promise.all(racing.map((r) => r.replayed))).sort(), [false, true]);
      const later = fronts[1]!.run(owner, 'key-1', body, shared.starts);
      assert.equal((await later.result).jobId, first!.jobId);
      assert.equal(await later.replayed, true);
      assert.equal(shared.jobs.size, 1);
      // A different body under the same key is the client's bug on every front.
      await assert.rejects(fronts[0]!.run(owner, 'key-1', { prompt: 'other' }, shared.starts).result, /already used/);
      await assert.rejects(fronts[1]!.run(owner, 'key-1', { prompt: 'other' }, shared.starts).result, /already used/);
      // Keys are per owner.
      const theirs = await fronts[0]!.run(fresh('token:erin'), 'key-1', body, shared.starts).result;
      assert.notEqual(theirs.jobId, first!.jobId);
      const ttl = await clients[0]!.pttl((await clients[0]!.keys(limitKeys.idempotency('*')))[0]!);
      assert.ok(ttl > 23 * 3_600_000 && ttl <= 24 * 3_600_000, `keys expire after 24 h (pttl ${ttl})`);
    });

    it('a front that died after writing the key down: another front creates the job under that id', async () => {
      const client = await front();
      const owner = fresh('token:frank');
      const shared = backend();
      // Front A records the key and dies before creating the job.
      let chosen = '';
      const dying: IdempotentStarts<{ jobId: string }> = {
        create: async (jobId) => {
          chosen = jobId;
          return new Promise<never>(() => {}); // never answers: the process is gone
        },
        existing: async () => null,
      };
      void new IdempotencyCache<{ jobId: string }>({ records: new RedisIdempotencyRecords(client) }).run(owner, 'k', {}, dying).result;
      await new Promise<void>((resolve) => {
        const check = () => (chosen ? resolve() : setTimeout(check, 10));
        check();
      });
      const retry = new IdempotencyCache<{ jobId: string }>({ records: new RedisIdempotencyRecords(await front()) }).run(owner, 'k', {}, shared.starts);
      assert.equal((await retry.result).jobId, chosen);
      assert.equal(await retry.replayed, true);
    });
  });

  describe('Redis frozen or gone', () => {
    it('every shared limit fails as Unavailable (503 + Retry-After, a clear MCP error), and works again when Redis is back', async () => {
      const client = await front();
      const limiter = new RedisStartLimiter(client, 5);
      const auth = new RedisAuthFailureLimiter(client, 5);
      const keys = new IdempotencyCache<{ jobId: string }>({ records: new RedisIdempotencyRecords(client) });
      const shared = backend();
      const calls = () => [
        limiter.take(fresh('token:gina')),
        auth.retryAfterSeconds(fresh('192.0.2.1')),
        auth.recordFailure(fresh('192.0.2.2')),
        keys.run(fresh('token:hank'), 'k', {}, shared.starts).result,
      ];
      const expectUnavailable = async (label: string) => {
        for (const [i, call] of calls().entries()) {
          await assert.rejects(call, (error: unknown) => {
            assert.ok(error instanceof Unavailable, `${label} call ${i}: ${String(error)}`);
            assert.match(error.message, /Redis\) did not answer .*nothing was changed\. Try again in 5 s\./);
            assert.doesNotMatch(error.message, /127\.0\.0\.1|redis:\/\//, 'the message does not carry the address');
            return true;
          });
        }
      };
      await server.frozenThenKilled(expectUnavailable);
      assert.equal(shared.creates(), 0, 'no job was started while Redis could not record its key');

      const error = await limiter.take('x').catch((e: unknown) => e);
      const answer = problemFor(error);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers['Retry-After'], '5');
      assert.equal(answer.body.type, 'https://claude-async.dev/problems/service-unavailable');
      assert.equal(answer.body.retryAfterSeconds, 5);
      const tool = toolError(error);
      assert.equal(tool.isError, true);
      assert.match((tool.content[0] as { text: string }).text, /Redis\) did not answer.*Try again in 5 s/);
      const rpc = protocolError(error);
      assert.match(rpc.message, /did not answer/);
      assert.deepEqual(rpc.data, { retryAfterSeconds: 5 });

      await server.restart();
      // The client reconnects by itself; the first calls after the restart may still fail fast.
      const deadline = Date.now() + 15_000;
      while (client.status !== 'ready') {
        assert.ok(Date.now() < deadline, `the client did not reconnect (status ${client.status})`);
        await new Promise((resolve) => client.once('ready', resolve));
      }
      assert.equal(await limiter.take(fresh('token:ivy')), null);
      assert.equal((await keys.run(fresh('token:jay'), 'k', {}, shared.starts).result).jobId.length > 0, true);
    });
  });
});

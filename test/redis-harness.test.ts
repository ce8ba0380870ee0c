// The Redis test harness itself: a real redis-server starts on a free loopback port, answers through
// ioredis, freezes on SIGSTOP and thaws on SIGCONT, dies on SIGKILL, and a restart on the same dir and
// port replays the AOF. Later Redis tests (shared limits, idempotency, the Redis backend) rely on each.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { isAlive } from './helpers.js';
import { RedisServer, ping, redisMissing } from './support/redis.js';

const missing = redisMissing();

function client(server: RedisServer): Redis {
  // Fail fast instead of queueing forever: the test wants to see "unreachable" as an error.
  return new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 500, retryStrategy: () => null, lazyConnect: true });
}

test('redis harness: start, pause/resume, kill, restart replays the AOF, stop', { skip: missing ?? false }, async () => {
  const server = await RedisServer.start({ appendonly: true, appendfsync: 'always' });
  try {
    assert.ok(server.pid && isAlive(server.pid));
    assert.ok(fs.existsSync(server.dir));
    const a = client(server);
    await a.connect();
    assert.equal(await a.ping(), 'PONG');
    assert.equal(await a.set('acknowledged', 'yes'), 'OK');

    server.pause();
    await assert.rejects(a.get('acknowledged'), /timed out/i, 'a frozen server answers nothing');
    server.resume();
    assert.equal(await a.get('acknowledged'), 'yes');
    a.disconnect();

    const pidBefore = server.pid!;
    await server.kill();
    assert.equal(isAlive(pidBefore), false);
    assert.equal(await ping(server.port), false, 'nothing answers on the port after SIGKILL');

    await server.restart();
    assert.notEqual(server.pid, pidBefore);
    const b = client(server);
    await b.connect();
    assert.equal(await b.get('acknowledged'), 'yes', `AOF replay lost the write; server log:\n${server.log()}`);
    b.disconnect();
    assert.ok(fs.readdirSync(server.dir).some((n) => n.startsWith('appendonly')), 'the AOF lives in the test dir');

    const pidRunning = server.pid!;
    await server.stop();
    assert.equal(isAlive(pidRunning), false);
    assert.equal(await ping(server.port), false);
  } finally {
    await server.dispose();
  }
  assert.equal(fs.existsSync(server.dir), false, 'dispose removes the dir');
});

test('redis harness: without AOF a restart comes back empty, and two servers get two ports and dirs', { skip: missing ?? false }, async () => {
  const [one, two] = await Promise.all([RedisServer.start(), RedisServer.start()]);
  try {
    assert.notEqual(one.port, two.port);
    assert.notEqual(path.resolve(one.dir), path.resolve(two.dir));
    const c = client(one);
    await c.connect();
    await c.set('volatile', '1');
    c.disconnect();
    await one.kill();
    await one.restart();
    const d = client(one);
    await d.connect();
    assert.equal(await d.get('volatile'), null, 'no AOF and --save "": nothing survives a kill');
    assert.deepEqual(fs.readdirSync(one.dir).filter((n) => n.endsWith('.rdb')), [], 'no RDB snapshot is written');
    d.disconnect();
  } finally {
    await Promise.all([one.dispose(), two.dispose()]);
  }
});

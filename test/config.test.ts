import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ENV_DEFAULTS, loadConfig, parseBytes, parseDuration } from '../src/config.js';
import { REPO_ROOT } from './support/helpers.js';

describe('configuration', () => {
  it('defaults are what the README promises', () => {
    const config = loadConfig({}, '/srv/work');
    assert.equal(config.claudeBin, 'claude');
    assert.equal(config.maxConcurrent, 4);
    assert.equal(config.jobTimeoutMs, 4 * 3_600_000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8787);
    assert.equal(config.auth, 'token');
    assert.equal(config.defaultCwd, '/srv/work');
    assert.deepEqual(config.allowedRoots, ['/srv/work']);
    assert.equal(config.jobsDir, path.join(config.dataDir, 'jobs'));
    assert.equal(config.maxPermissionMode, 'acceptEdits');
  });

  it('a bad value stops start-up with a message naming the variable', () => {
    const cases: Record<string, string> = {
      CLAUDE_ASYNC_MAX_CONCURRENT: 'lots',
      CLAUDE_ASYNC_JOB_TIMEOUT: 'forever',
      CLAUDE_ASYNC_MAX_LOG_BYTES: 'huge',
      CLAUDE_ASYNC_MAX_PERMISSION_MODE: 'godmode',
      CLAUDE_ASYNC_PORT: '70000',
      CLAUDE_ASYNC_AUTH: 'maybe',
      CLAUDE_ASYNC_PUBLIC_URL: 'not a url',
      CLAUDE_ASYNC_JOB_ENV: 'OK,CLAUDE_ASYNC_TOKEN',
      CLAUDE_ASYNC_TOKEN: 'short',
    };
    for (const [name, value] of Object.entries(cases)) {
      assert.throws(() => loadConfig({ [name]: value }), (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${name}:`), name);
    }
  });

  it('durations and sizes read the way people write them', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('4h'), 14_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('30'), 30_000);
    assert.equal(parseBytes('512k'), 512 * 1024);
    assert.equal(parseBytes('100MB'), 100 * 1024 * 1024);
    assert.throws(() => parseDuration('-1s'));
  });

  it('.env.example lists every variable config.ts reads, with its default', () => {
    const example = fs.readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
    const source = fs.readFileSync(path.join(REPO_ROOT, 'src', 'config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/read(?:<[^>]+>)?\(env, '(CLAUDE_ASYNC_[A-Z_]+)'/g)].map((m) => m[1]!));
    assert.ok(read.size >= 30);
    for (const name of read) {
      assert.ok(name in ENV_DEFAULTS, `${name} has no entry in ENV_DEFAULTS`);
      assert.match(example, new RegExp(`^# ${name}=`, 'm'), `${name} is missing from .env.example (run npm run build && node scripts/env-example.mjs)`);
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, parseBytes, parseDuration, SETTINGS } from '../src/config.js';
import { renderEnvExample, withReadmeSettings } from '../src/config-docs.js';
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

  it('every Config field but defaultTailBytes comes from exactly one table entry, each variable named once', () => {
    const keys = SETTINGS.map((s) => s.key);
    const names = SETTINGS.map((s) => s.env);
    assert.equal(new Set(keys).size, keys.length, 'a Config field is set by two entries');
    assert.equal(new Set(names).size, names.length, 'a variable has two entries');
    assert.deepEqual([...keys, 'defaultTailBytes'].sort(), Object.keys(loadConfig({}, '/srv/work')).sort());
  });

  it('a literal default is parsed from the text the docs show, so docs and behaviour cannot differ', () => {
    const config = loadConfig({}, '/srv/work');
    for (const entry of SETTINGS.filter((s) => !s.fallback)) {
      assert.deepEqual(config[entry.key], entry.parse(entry.default), entry.env);
      // The same default written by hand gives the same Config.
      assert.deepEqual(loadConfig({ [entry.env]: entry.default }, '/srv/work'), config, entry.env);
    }
  });

  it('.env.example and the README settings section are what the table generates (npm run gen:config)', () => {
    const example = fs.readFileSync(path.join(REPO_ROOT, '.env.example'), 'utf8');
    assert.equal(example, renderEnvExample(), '.env.example differs from the table in src/config.ts: run npm run gen:config');
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    assert.equal(readme, withReadmeSettings(readme), 'the README settings section differs from the table in src/config.ts: run npm run gen:config');
    for (const entry of SETTINGS) {
      assert.match(example, new RegExp(`^# ${entry.env}=`, 'm'), entry.env);
      assert.ok(readme.includes(`| \`${entry.env}\` |`), entry.env);
    }
  });

  it('every CLAUDE_ASYNC_ variable the docs, deploy files and code name is a setting', () => {
    const known = new Set(SETTINGS.map((s) => s.env));
    const files = ['README.md', 'Dockerfile', ...['deploy', 'docs', 'src'].flatMap((dir) => walk(path.join(REPO_ROOT, dir)))]
      .filter((file) => file !== path.join('src', 'config.ts'));
    for (const file of files) {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      for (const [name] of text.matchAll(/CLAUDE_ASYNC_[A-Z_]*[A-Z]/g)) assert.ok(known.has(name as `CLAUDE_ASYNC_${string}`), `${file} names ${name}, which is no setting`);
    }
  });

});

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && /\.(ts|md|service|conf|mjs|json)$|Caddyfile$/.test(d.name))
    .map((d) => path.relative(REPO_ROOT, path.join(d.parentPath, d.name)));
}

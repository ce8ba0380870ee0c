// The root Dockerfile's image (the stdio server Glama hosts), step by step where Docker cannot run:
// the pinned claude CLI installed with the Dockerfile's own npm command into a prefix, the server
// started the way its ENTRYPOINT starts it with the image's environment and no secret, answering
// tools/list, and a job that fails with a reason naming the variables that would have made it run.
// npm installs from its cache only (--offline): tests send nothing past loopback. .ci/run puts the
// pinned CLI in the cache; elsewhere the test says how to.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectStdio } from './support/mcp-client.js';
import { configFor } from '../src/config.js';
import { cleanupJobs, readRepoFile, tempDir } from './support/helpers.js';
import { SERVER_BIN } from './support/server-process.js';
import { needsLinux } from './support/platform.js';
import { isEnded, type JobStatus } from '../src/jobs/schemas.js';

const runFile = promisify(execFile);
const dockerfile = readRepoFile('Dockerfile');
const CLAUDE_CODE_VERSION = /^ARG CLAUDE_CODE_VERSION=(\S+)$/m.exec(dockerfile)?.[1] ?? '';

/** The Dockerfile's `npm install -g …` words, with ${CLAUDE_CODE_VERSION} filled in. */
function dockerfileNpmInstall(): string[] {
  const line = /npm install -g ([^\\\n]+)/.exec(dockerfile)?.[1];
  assert.ok(line, 'the root Dockerfile no longer installs the claude CLI with npm install -g');
  return ['install', '-g', ...line.trim().split(/\s+/)].map((word) => word.replace(/^"|"$/g, '').replace('${CLAUDE_CODE_VERSION}', CLAUDE_CODE_VERSION));
}

/** The image's ENV block as a plain object. */
function imageEnv(): Record<string, string> {
  const block = /^ENV ([\s\S]*?)(?=\n[A-Z]+ |\n#|\n$)/m.exec(dockerfile)?.[1] ?? '';
  return Object.fromEntries([...block.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

describe('the root Dockerfile\'s stdio image, its steps run outside Docker', { skip: needsLinux('the Docker image steps are Linux'),  timeout: 240_000 }, () => {
  let tmp = '';
  let prefix = '';
  let installError = '';
  let env: Record<string, string> = {};

  before(async () => {
    tmp = tempDir('ca-image-');
    prefix = path.join(tmp, 'usr-local');
    assert.match(CLAUDE_CODE_VERSION, /^\d+\.\d+\.\d+$/);
    try {
      await runFile('npm', [...dockerfileNpmInstall(), '--prefix', prefix, '--offline', '--loglevel=error'], {
        cwd: tmp, timeout: 180_000, maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, npm_config_update_notifier: 'false' },
      });
    } catch (error) {
      installError = String((error as { stderr?: string }).stderr ?? error);
    }
    // The image's environment, its paths moved into the temp dir, nothing else: no credentials.
    const home = path.join(tmp, 'home', 'node');
    const image = imageEnv();
    env = {
      ...Object.fromEntries(Object.entries(image).map(([k, v]) => [k, v.replace('/home/node', home)])),
      PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
      // Keeps the unauthenticated CLI from reaching for the network (tests stay on loopback).
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    };
    fs.mkdirSync(env.CLAUDE_ASYNC_DEFAULT_CWD!, { recursive: true });
  });

  after(() => {
    if (!tmp) return;
    if (env.CLAUDE_ASYNC_DATA_DIR) cleanupJobs(configFor({ dataDir: env.CLAUDE_ASYNC_DATA_DIR }));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('sets no secret and names claude as the CLI', () => {
    const image = imageEnv();
    assert.equal(image.CLAUDE_ASYNC_CLAUDE_BIN, 'claude');
    assert.ok(!Object.keys(image).some((k) => /KEY|TOKEN|SECRET/.test(k)), `the image bakes in ${Object.keys(image).join(', ')}`);
    assert.match(dockerfile, /ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/dist\/index\.js", "stdio"\]/);
  });

  it('installs the pinned claude CLI, and a job without credentials fails naming ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN while tools/list needs no secret', async (t) => {
    if (installError) {
      if (/ENOTCACHED|offline/i.test(installError)) {
        t.skip(`@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION} is not in npm's cache and tests stay offline: run .ci/run, or npm cache add it (${installError.split('\n')[0]})`);
        return;
      }
      assert.fail(`the Dockerfile's npm install failed:\n${installError}`);
    }
    const { stdout: version } = await runFile(path.join(prefix, 'bin', 'claude'), ['--version'], { env, timeout: 60_000 });
    assert.match(version, new RegExp(`^${CLAUDE_CODE_VERSION.replaceAll('.', '\\.')} `));

    const { client } = await connectStdio({ command: process.execPath, args: [SERVER_BIN, 'stdio'], env, cwd: tmp, stderr: 'pipe' });
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === 'claude_start'));

      const started = await client.callTool({ name: 'claude_start', arguments: { prompt: 'Say hello' } });
      assert.notEqual(started.isError, true, JSON.stringify(started.content));
      const { jobId } = started.structuredContent as { jobId: string };
      let check: { status: JobStatus; statusReason?: string } = { status: 'queued' };
      for (let i = 0; i < 10 && !isEnded(check.status); i++) {
        const waited = await client.callTool({ name: 'claude_wait', arguments: { jobId, timeoutSeconds: 20 } }, undefined, { timeout: 60_000 });
        check = waited.structuredContent as typeof check;
      }
      assert.equal(check.status, 'failed', JSON.stringify(check));
      assert.match(check.statusReason ?? '', /Not logged in/);
      assert.match(check.statusReason ?? '', /ANTHROPIC_API_KEY/);
      assert.match(check.statusReason ?? '', /CLAUDE_CODE_OAUTH_TOKEN/);
    } finally {
      await client.close();
    }
  });
});

// The real claude CLI (the version the Dockerfile pins, installed offline from npm's cache into a
// temp prefix; not logged in) run by a job with approvals on: its init line lists our approval
// server as connected, so the flags the runner passes are ones the real CLI accepts and acts on.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { APPROVAL_SERVER_NAME } from '../src/approvals/mcp-config.js';
import { openService, tempDir, waitFor, ALICE } from './helpers.js';
import { readRepoFile } from './deploy-support.js';

const runFile = promisify(execFile);
const CLAUDE_CODE_VERSION = /^ARG CLAUDE_CODE_VERSION=(\S+)$/m.exec(readRepoFile('Dockerfile'))?.[1] ?? '';

describe('the real claude CLI with approvals on', { timeout: 240_000 }, () => {
  let tmp = '';
  let installError = '';

  before(async () => {
    tmp = tempDir('ca-approvals-cli-');
    try {
      // --offline: tests send nothing past loopback; .ci/run puts the pinned CLI into npm's cache.
      await runFile('npm', ['install', '--prefix', tmp, '--offline', '--engine-strict=false', '--no-audit', '--no-fund', '--loglevel=error', `@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`], {
        cwd: tmp, timeout: 180_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' },
      });
    } catch (error) {
      installError = String((error as { stderr?: string }).stderr ?? error);
    }
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists the approval server as connected in its init line', async (t) => {
    if (installError) {
      if (/ENOTCACHED|offline/i.test(installError)) {
        t.skip(`@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION} is not in npm's cache and tests stay offline: run .ci/run, or npm cache add it (${installError.split('\n')[0]})`);
        return;
      }
      assert.fail(`npm install of the claude CLI failed:\n${installError}`);
    }
    const home = path.join(tmp, 'home');
    fs.mkdirSync(home);
    const { config, service } = await openService(t, { claudeBin: path.join(tmp, 'node_modules', '.bin', 'claude'), approvals: true }, {
      PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: home,
      // Keeps the unauthenticated CLI from reaching for the network (tests stay on loopback).
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });
    const { jobId } = await service.start({ prompt: 'Say hello', approvals: true }, ALICE);
    const out = path.join(config.jobsDir, jobId, 'out.jsonl');
    const init = await waitFor(() => {
      const first = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n')[0] : '';
      return first ? (JSON.parse(first) as { type: string; subtype: string; mcp_servers: { name: string; status: string }[]; claude_code_version?: string }) : null;
    }, 120_000, 'the real CLI\'s init line');
    assert.deepEqual([init.type, init.subtype], ['system', 'init']);
    assert.equal(init.claude_code_version, CLAUDE_CODE_VERSION);
    const ours = init.mcp_servers.find((s) => s.name === APPROVAL_SERVER_NAME);
    assert.equal(ours?.status, 'connected', JSON.stringify(init.mcp_servers));
    // Not logged in, it then fails and the job ends.
    const done = await service.wait(jobId, ALICE, { timeoutMs: 120_000 });
    assert.notEqual(done.status, 'running');
  });
});

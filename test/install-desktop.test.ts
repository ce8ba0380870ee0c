import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CONFIG_FILE_NAME, RegisterError, desktopConfigDir, registerDesktop, type RegisterDesktopContext,
} from '../src/cli/register-desktop.js';
import { tempDir, testConfig } from './support/helpers.js';
import { SERVER_BIN } from './support/server-process.js';

const run = promisify(execFile);
function sandbox(t: TestContext, platform: NodeJS.Platform = 'linux', env: Record<string, string> = {}): RegisterDesktopContext {
  const home = tempDir('ca-desktop-');
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  return { platform, homeDir: home, env: { PATH: process.env.PATH ?? '', ...env }, execPath: '/opt/node/bin/node', indexJs: '/opt/claude-async/dist/index.js', now: new Date('2026-01-02T03:04:05.678Z') };
}

function configWith(t: TestContext, overrides: Parameters<typeof testConfig>[0] = {}) {
  const config = testConfig(overrides);
  t.after(() => fs.rmSync(config.dataDir, { recursive: true, force: true }));
  return config;
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, any>;

describe('register-desktop', () => {
  it('merges into an existing config, keeping other servers and keys, after a timestamped backup', (t) => {
    const ctx = sandbox(t);
    const file = path.join(ctx.homeDir, '.config', 'Claude', CONFIG_FILE_NAME);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const original = JSON.stringify({ globalShortcut: 'Ctrl+Space', mcpServers: { filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'] } } }, null, 2);
    fs.writeFileSync(file, original);

    const result = registerDesktop(configWith(t), { url: 'https://box.example.com', token: 'cas_secret_token_123456' }, ctx);

    assert.equal(result.file, file);
    assert.equal(result.replaced, false);
    assert.equal(result.backup, `${file}.2026-01-02T03-04-05-678Z.bak`);
    assert.equal(fs.readFileSync(result.backup!, 'utf8'), original);
    const written = readJson(file);
    assert.equal(written.globalShortcut, 'Ctrl+Space');
    assert.deepEqual(written.mcpServers.filesystem, { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'] });
    assert.deepEqual(written.mcpServers['claude-async'], {
      command: 'npx',
      args: ['-y', 'mcp-remote', 'https://box.example.com/mcp', '--header', 'Authorization:Bearer ${CLAUDE_ASYNC_TOKEN}'],
      env: { CLAUDE_ASYNC_TOKEN: 'cas_secret_token_123456' },
    });
    // It may hold a token: private to the user, and no temp file left behind.
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((n) => n.endsWith('.tmp')), []);
  });

  it('writes the stdio form with this install\'s node and dist/index.js, pinning data dir, roots and the claude binary', (t) => {
    const ctx = sandbox(t);
    const config = configWith(t);
    const result = registerDesktop(config, { stdio: true }, ctx);
    assert.equal(result.backup, undefined, 'no backup when there was no config');
    const entry = readJson(result.file).mcpServers['claude-async'];
    assert.equal(entry.command, '/opt/node/bin/node');
    assert.deepEqual(entry.args, ['/opt/claude-async/dist/index.js', 'stdio']);
    assert.equal(entry.env.CLAUDE_ASYNC_DATA_DIR, config.dataDir);
    assert.equal(entry.env.CLAUDE_ASYNC_DEFAULT_CWD, config.defaultCwd);
    assert.equal(entry.env.CLAUDE_ASYNC_ALLOWED_ROOTS, config.allowedRoots.join(','));
    assert.equal(entry.env.CLAUDE_ASYNC_CLAUDE_BIN, config.claudeBin);
  });

  it('replaces its own earlier entry instead of adding a second one', (t) => {
    const ctx = sandbox(t);
    const config = configWith(t);
    registerDesktop(config, { url: 'http://127.0.0.1:8787' }, ctx);
    const again = registerDesktop(config, { url: 'http://127.0.0.1:9999/', token: 'cas_other_token_1234567' }, { ...ctx, now: new Date('2026-01-02T03:04:06Z') });
    assert.equal(again.replaced, true);
    const servers = readJson(again.file).mcpServers;
    assert.deepEqual(Object.keys(servers), ['claude-async']);
    assert.equal(servers['claude-async'].args[2], 'http://127.0.0.1:9999/mcp');
  });

  it('refuses a config that is not JSON and changes nothing', (t) => {
    const ctx = sandbox(t);
    const file = path.join(ctx.homeDir, '.config', 'Claude', CONFIG_FILE_NAME);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{ "mcpServers": { oops');
    assert.throws(() => registerDesktop(configWith(t), { url: 'http://127.0.0.1:8787' }, ctx), RegisterError);
    assert.equal(fs.readFileSync(file, 'utf8'), '{ "mcpServers": { oops');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), [CONFIG_FILE_NAME]);
  });

  it('finds the config folder on macOS, Linux (XDG) and Windows, preferring the Store (MSIX) copy', (t) => {
    const mac = sandbox(t, 'darwin');
    assert.equal(desktopConfigDir(mac), path.join(mac.homeDir, 'Library', 'Application Support', 'Claude'));
    const xdg = sandbox(t, 'linux', { XDG_CONFIG_HOME: '/srv/xdg' });
    assert.equal(desktopConfigDir(xdg), path.join('/srv/xdg', 'Claude'));

    const win = sandbox(t, 'win32');
    const appData = path.join(win.homeDir, 'AppData', 'Roaming');
    const localAppData = path.join(win.homeDir, 'AppData', 'Local');
    win.env = { APPDATA: appData, LOCALAPPDATA: localAppData };
    assert.equal(desktopConfigDir(win), path.join(appData, 'Claude'));
    fs.mkdirSync(path.join(localAppData, 'Packages', 'Claude_pzs8sxrjxfjjc'), { recursive: true });
    assert.equal(desktopConfigDir(win), path.join(localAppData, 'Packages', 'Claude_pzs8sxrjxfjjc', 'LocalCache', 'Roaming', 'Claude'));
  });

  it('works from the command line against a temp HOME', async (t) => {
    const home = tempDir('ca-desktop-cli-');
    t.after(() => fs.rmSync(home, { recursive: true, force: true }));
    const env = { PATH: process.env.PATH ?? '', HOME: home, CLAUDE_ASYNC_DATA_DIR: path.join(home, 'data') };
    const { stdout } = await run(process.execPath, [SERVER_BIN, 'register-desktop', '--stdio'], { env, cwd: home });
    assert.match(stdout, /Added "claude-async"/);
    const entry = readJson(path.join(home, '.config', 'Claude', CONFIG_FILE_NAME)).mcpServers['claude-async'];
    assert.deepEqual(entry.args, [SERVER_BIN, 'stdio']);
    assert.equal(entry.command, process.execPath);
  });
});

// `claude-async register-desktop`: adds claude-async to Claude Desktop's claude_desktop_config.json,
// keeping every other server and key, after a timestamped backup, with an atomic write (a crash
// mid-write must never leave Desktop with half a config).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFileAtomicSync } from '../files/atomic.js';
import type { Config } from '../config.js';
import { findExecutable } from '../jobs/process/executable.js';

export const CONFIG_FILE_NAME = 'claude_desktop_config.json';

/** Where Desktop lives differs by platform; everything the lookup reads is injectable for tests. */
interface DesktopHost {
  platform: NodeJS.Platform;
  homeDir: string;
  env: Record<string, string | undefined>;
}

interface McpServerEntry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export class RegisterError extends Error {
  override name = 'RegisterError';
}

/**
 * The folder Desktop reads its config from. On Windows the Microsoft Store (MSIX) build reads a
 * virtualised copy under its package's LocalCache, not %APPDATA%: writing %APPDATA% there has no
 * effect, so the MSIX folder wins when that package is installed.
 */
export function desktopConfigDir(host: DesktopHost): string {
  const { platform, homeDir, env } = host;
  if (platform === 'darwin') return path.join(homeDir, 'Library', 'Application Support', 'Claude');
  if (platform === 'win32') {
    const localAppData = env.LOCALAPPDATA ?? path.join(homeDir, 'AppData', 'Local');
    const packages = path.join(localAppData, 'Packages');
    let names: string[] = [];
    try {
      names = fs.readdirSync(packages).filter((name) => /^Claude_/i.test(name)).sort();
    } catch {
      // no Store packages folder: a classic install
    }
    if (names[0]) return path.join(packages, names[0], 'LocalCache', 'Roaming', 'Claude');
    return path.join(env.APPDATA ?? path.join(homeDir, 'AppData', 'Roaming'), 'Claude');
  }
  // Linux (unofficial builds) follows Electron's appData: $XDG_CONFIG_HOME or ~/.config.
  return path.join(env.XDG_CONFIG_HOME || path.join(homeDir, '.config'), 'Claude');
}

/** The mcp-remote bridge to a remote server, the same entry `claude-async connect` prints. */
function remoteEntry(url: string, token?: string): McpServerEntry {
  const mcpUrl = `${url.replace(/\/+$/, '').replace(/\/mcp$/, '')}/mcp`;
  if (!token) return { command: 'npx', args: ['-y', 'mcp-remote', mcpUrl] };
  // The token sits in env, referenced from args, so it never shows in Desktop's process list args.
  return {
    command: 'npx',
    args: ['-y', 'mcp-remote', mcpUrl, '--header', 'Authorization:Bearer ${CLAUDE_ASYNC_TOKEN}'],
    env: { CLAUDE_ASYNC_TOKEN: token },
  };
}

/**
 * This installation run over stdio by Desktop itself. Desktop starts it from an arbitrary cwd with a
 * thin environment (on macOS a GUI PATH lacks npm's bin folder), so the settings that would
 * otherwise come from the shell are written into the entry: data dir, job folders, the claude binary.
 */
function stdioEntry(options: { execPath: string; indexJs: string; env: Record<string, string> }): McpServerEntry {
  return { command: options.execPath, args: [options.indexJs, 'stdio'], env: options.env };
}

/** dist/index.js of this installation (this file is dist/cli/register-desktop.js). */
function installedIndexJs(): string {
  return fileURLToPath(new URL('../index.js', import.meta.url));
}

interface RegisterResult {
  file: string;
  backup: string | undefined;
  replaced: boolean;
}

/** Merges `entry` as mcpServers[name] into the config at `file`; other keys are left as they are. */
function registerServer(file: string, name: string, entry: McpServerEntry, now = new Date()): RegisterResult {
  let config: Record<string, unknown> = {};
  let backup: string | undefined;
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new RegisterError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new RegisterError(`${file} is not valid JSON (${(error as Error).message}); fix or move it, then run this again. Nothing was changed.`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new RegisterError(`${file} does not hold a JSON object; fix or move it, then run this again. Nothing was changed.`);
    }
    config = parsed as Record<string, unknown>;
  }
  if (text !== undefined) {
    backup = `${file}.${now.toISOString().replace(/[:.]/g, '-')}.bak`;
    fs.copyFileSync(file, backup, fs.constants.COPYFILE_EXCL);
  }
  const servers = config.mcpServers;
  const merged: Record<string, unknown> = typeof servers === 'object' && servers !== null && !Array.isArray(servers) ? { ...(servers as Record<string, unknown>) } : {};
  const replaced = name in merged;
  merged[name] = entry;
  config.mcpServers = merged;

  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Atomic: Desktop (or a crash) never sees a half-written file. 0600 because the entry may hold a
  // bearer token.
  try {
    writeFileAtomicSync(file, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  } catch (error) {
    throw new RegisterError(`could not write ${file}: ${(error as Error).message}`);
  }
  return { file, backup, replaced };
}

interface RegisterDesktopOptions {
  url?: string;
  token?: string;
  stdio?: boolean;
  name?: string;
}

/** What the command needs from its surroundings; tests pass a temp HOME and a fixed platform. */
export interface RegisterDesktopContext extends DesktopHost {
  execPath: string;
  indexJs: string;
  now?: Date;
}

function defaultContext(): RegisterDesktopContext {
  return { platform: process.platform, homeDir: os.homedir(), env: process.env, execPath: process.execPath, indexJs: installedIndexJs() };
}

/** The settings a Desktop-started stdio server cannot take from a shell, pinned from `config`. */
function stdioEnvironment(config: Config, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {
    CLAUDE_ASYNC_DATA_DIR: config.dataDir,
    CLAUDE_ASYNC_DEFAULT_CWD: config.defaultCwd,
    CLAUDE_ASYNC_ALLOWED_ROOTS: config.allowedRoots.join(','),
    CLAUDE_ASYNC_CLAUDE_BIN: findExecutable(config.claudeBin, env) ?? config.claudeBin,
  };
  if (config.jobsDir !== path.join(config.dataDir, 'jobs')) out.CLAUDE_ASYNC_JOBS_DIR = config.jobsDir;
  // claude is a node script (#!/usr/bin/env node): it needs a PATH with node on it.
  if (env.PATH) out.PATH = env.PATH;
  return out;
}

export function registerDesktop(config: Config, options: RegisterDesktopOptions, context: RegisterDesktopContext): RegisterResult & { entry: McpServerEntry } {
  const name = options.name ?? 'claude-async';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new RegisterError(`--name '${name}': use letters, digits, '.', '_' or '-'`);
  if (options.stdio && options.url) throw new RegisterError('give either --stdio or --url, not both');
  let entry: McpServerEntry;
  if (options.stdio) {
    entry = stdioEntry({ execPath: context.execPath, indexJs: context.indexJs, env: stdioEnvironment(config, context.env) });
  } else {
    const url = options.url ?? config.publicUrl;
    try {
      new URL(url);
    } catch {
      throw new RegisterError(`--url '${url}' is not a URL (e.g. https://box.example.com)`);
    }
    entry = remoteEntry(url, options.token ?? config.token);
  }
  const file = path.join(desktopConfigDir(context), CONFIG_FILE_NAME);
  return { ...registerServer(file, name, entry, context.now), entry };
}

/** The CLI command; returns the exit code. */
export function registerDesktopCommand(config: Config, args: string[], context: RegisterDesktopContext = defaultContext()): number {
  const { values } = parseArgs({ args, options: { url: { type: 'string' }, token: { type: 'string' }, stdio: { type: 'boolean' }, name: { type: 'string' } } });
  try {
    const result = registerDesktop(config, values, context);
    const how = values.stdio ? `stdio (${context.indexJs})` : `mcp-remote → ${result.entry.args[2]}`;
    process.stdout.write(`${result.replaced ? 'Updated' : 'Added'} "${values.name ?? 'claude-async'}" (${how}) in ${result.file}\n`);
    if (result.backup) process.stdout.write(`The previous config was saved as ${result.backup}\n`);
    if (!values.stdio && !result.entry.env) process.stderr.write('No token was given (--token or CLAUDE_ASYNC_TOKEN): this only works against a server with CLAUDE_ASYNC_AUTH=none.\n');
    process.stdout.write('Quit and reopen Claude Desktop to load it.\n');
    return 0;
  } catch (error) {
    if (!(error instanceof RegisterError)) throw error;
    process.stderr.write(`claude-async: ${error.message}\n`);
    return 1;
  }
}

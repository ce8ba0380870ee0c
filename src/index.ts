#!/usr/bin/env node
// The one bin: claude-async serve | stdio | selftest | token … | connect | doctor | register-desktop
// Heavy modules (express, the MCP SDK) are imported per command, so `--help` and `token` start fast.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, parseDuration, type Config } from './config.js';
import { TokenStore, TokenStoreError } from './auth/token-store.js';
import { defaultAudiences, isScope, type Scope } from './auth/types.js';
import { connectInstructions } from './cli/connect.js';
import { authOptions, tokensFile } from './auth/options.js';
import { VERSION } from './version.js';

const USAGE = `claude-async ${VERSION}: run long Claude Code jobs in the background, poll them over MCP or REST.

Usage:
  claude-async serve                       start the HTTP server (MCP at /mcp, REST at /v1)
  claude-async stdio                       serve the same tools over MCP stdio (no HTTP, no auth; logs on stderr)
  claude-async worker                      run jobs routed to this host by the fronts (needs CLAUDE_ASYNC_REDIS_URL)
  claude-async selftest                    prove detach → poll → exit on this machine (no model needed)
  claude-async token create --name N [--scopes jobs:read,jobs:write]
  claude-async token list | token revoke <name>
  claude-async token mint --sub S [--scopes …] [--ttl 8h]   (needs CLAUDE_ASYNC_JWT_SECRET)
  claude-async oauth clients               OAuth clients (connectors) and the grants each holds, by principal
  claude-async oauth revoke <client|grant> end a grant (grt_…) or remove a client and all its grants
  claude-async oauth rotate-key            new signing key; the old one verifies until its tokens expire
  claude-async connect [--url U] [--token T]   print client set-up (Claude Code, Desktop, Cursor, VS Code, curl)
  claude-async register-desktop [--url U] [--token T] [--stdio] [--name N]   add it to Claude Desktop's config
  claude-async doctor                      check node, the claude CLI, data dir, roots, URL and auth; say what to fix

Configuration is read from CLAUDE_ASYNC_* environment variables; see .env.example.`;

function fail(message: string, code = 1): never {
  process.stderr.write(`claude-async: ${message}\n`);
  process.exit(code);
}

function parseScopes(raw: string | undefined, fallback: Scope[]): Scope[] {
  if (!raw) return fallback;
  const scopes = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = scopes.filter((s) => !isScope(s));
  if (bad.length) fail(`unknown scope(s) ${bad.join(', ')}; use jobs:read, jobs:write, admin`);
  return scopes as Scope[];
}

async function serve(config: Config): Promise<void> {
  const log = pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.token', '*.prompt'] });
  const bootstrap = await bootstrapToken(config);
  const { StartupError, startServer } = await import('./server.js');
  let server;
  try {
    server = await startServer(config, log);
  } catch (error) {
    if (error instanceof StartupError) fail(error.message);
    throw error;
  }
  // With CLAUDE_ASYNC_PORT=0 the default public URL says ':0'; show the port really bound.
  const url = /:0$/.test(config.publicUrl) ? server.url : config.publicUrl;
  const page = `Jobs page: ${url}/ui/`;
  if (bootstrap) {
    // Printed once, to the terminal, never to the log: only its hash is kept.
    process.stderr.write(`\nA token was created for you (it is shown only this once):\n\n  ${bootstrap}\n\n${page} (paste the token there to sign in)\n\n${connectInstructions({ url, token: bootstrap })}\n\n`);
  } else {
    process.stderr.write(`${page}\n`);
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down; running jobs keep running');
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** First serve with auth on and no credential of any kind: make one, so the server is usable. */
async function bootstrapToken(config: Config): Promise<string | undefined> {
  if (config.auth !== 'token' || config.token || config.jwtSecret || config.jwksUrl) return undefined;
  const store = new TokenStore(tokensFile(config));
  if ((await store.list()).length > 0) return undefined;
  const { token } = await store.create('default', ['jobs:read', 'jobs:write', 'admin']);
  return token;
}

async function tokenCommand(config: Config, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { name: { type: 'string' }, scopes: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' } },
  });
  const store = new TokenStore(tokensFile(config));
  try {
    switch (sub) {
      case 'create': {
        if (!values.name) fail('token create needs --name');
        const { token } = await store.create(values.name, parseScopes(values.scopes, ['jobs:read', 'jobs:write']));
        process.stdout.write(`${token}\n`);
        process.stderr.write(`Token "${values.name}" created. It is shown only this once; only its hash is stored.\n`);
        return;
      }
      case 'list': {
        const tokens = await store.list();
        if (!tokens.length) process.stdout.write('No tokens.\n');
        for (const t of tokens) process.stdout.write(`${t.name}\t${t.scopes.join(',')}\tcreated ${t.createdAt}\n`);
        return;
      }
      case 'revoke': {
        const name = positionals[0] ?? values.name;
        if (!name) fail('token revoke needs a name');
        if (!(await store.revoke(name))) fail(`no token named "${name}"`);
        const { revokeGrantsOfToken } = await import('./cli/oauth.js');
        const grants = await revokeGrantsOfToken(config, name);
        process.stdout.write(`Token "${name}" revoked${grants ? `, and ${grants} OAuth grant(s) approved with it` : ''}.\n`);
        return;
      }
      case 'mint': {
        if (!config.jwtSecret) fail('token mint needs CLAUDE_ASYNC_JWT_SECRET');
        if (!values.sub) fail('token mint needs --sub');
        const ttlMs = parseDuration(values.ttl ?? '8h');
        const { mintToken } = await import('./auth/jwt.js');
        const token = await mintToken({
          secret: config.jwtSecret, sub: values.sub, scopes: parseScopes(values.scopes, ['jobs:read', 'jobs:write']),
          ttlSeconds: Math.round(ttlMs / 1000), audience: defaultAudiences(authOptions(config))[0]!,
          ...(config.jwtIssuer ? { issuer: config.jwtIssuer } : {}),
        });
        process.stdout.write(`${token}\n`);
        return;
      }
      default:
        fail('token needs one of: create, list, revoke, mint', 2);
    }
  } catch (error) {
    if (error instanceof TokenStoreError) fail(error.message);
    throw error;
  }
}

async function oauthCommand(config: Config, args: string[]): Promise<void> {
  const [sub, target] = args;
  const oauth = await import('./cli/oauth.js');
  const { StateFileError } = await import('./files/state-file.js');
  try {
    switch (sub) {
      case 'clients':
        process.stdout.write(`${await oauth.listClients(config)}\n`);
        return;
      case 'revoke': {
        if (!target) fail('oauth revoke needs a client id or a grant id (grt_…); see claude-async oauth clients');
        const done = await oauth.revokeClientOrGrant(config, target);
        if (!done) fail(`no OAuth client or grant "${target}"; see claude-async oauth clients`);
        process.stdout.write(`${done}\n`);
        return;
      }
      case 'rotate-key':
        process.stdout.write(`${await oauth.rotateKey(config)}\n`);
        return;
      default:
        fail('oauth needs one of: clients, revoke <client|grant>, rotate-key', 2);
    }
  } catch (error) {
    if (error instanceof StateFileError) fail(error.message);
    throw error;
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (command === 'doctor') {
    // Before loadConfig: a bad variable is one of the things doctor reports.
    const { doctorCommand } = await import('./cli/doctor.js');
    process.exitCode = await doctorCommand();
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(`configuration error: ${error.message}`, 78);
    throw error;
  }
  switch (command) {
    case 'serve':
      return serve(config);
    case 'stdio':
      return (await import('./stdio.js')).stdioCommand(config);
    case 'worker':
      return (await import('./cli/worker.js')).workerCommand(config);
    case 'register-desktop':
      process.exitCode = (await import('./cli/register-desktop.js')).registerDesktopCommand(config, args);
      return;
    case 'selftest':
      if (!(await (await import('./cli/selftest.js')).selftest())) process.exitCode = 1;
      return;
    case 'token':
      return tokenCommand(config, args);
    case 'oauth':
      return oauthCommand(config, args);
    case 'connect': {
      const { values } = parseArgs({ args, options: { url: { type: 'string' }, token: { type: 'string' } } });
      process.stdout.write(`${connectInstructions({ url: values.url ?? config.publicUrl, ...(values.token ? { token: values.token } : {}) })}\n`);
      return;
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => fail((error as Error).stack ?? String(error)));

// Config → the auth layer's options: the one place the two vocabularies meet.
import path from 'node:path';
import type { Config } from '../config.js';
import type { AuthOptions } from './types.js';

export function tokensFile(config: Config): string {
  return path.join(config.dataDir, 'tokens.json');
}

export function authOptions(config: Config): AuthOptions {
  return {
    mode: config.auth,
    publicUrl: config.publicUrl,
    tokensFile: tokensFile(config),
    authFailuresPerMinute: config.authFailuresPerMinute,
    ...(config.token ? { envToken: config.token } : {}),
    ...(config.jwtSecret ? { jwtSecret: config.jwtSecret } : {}),
    ...(config.jwksUrl ? { jwksUrl: config.jwksUrl } : {}),
    ...(config.jwtIssuer ? { jwtIssuer: config.jwtIssuer } : {}),
    ...(config.jwtAudience ? { jwtAudience: config.jwtAudience } : {}),
  };
}

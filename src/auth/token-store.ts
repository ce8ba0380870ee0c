// Static API tokens, kept hashed in a JSON file (files/state-file.ts). The CLI (`claude-async token create|revoke`)
// writes the file; the server only reads it and notices the CLI's changes by the file's identity
// (inode, size, mtime), checked at most once per reloadCheckMs so a request costs no more than a
// cached stat.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { StateFile, StateFileError } from '../files/state-file.js';
import { legacyOwnerOf, principalId } from './principal-id.js';
import { isScope, SCOPES, type Principal, type Scope } from './types.js';

export const TOKEN_PREFIX = 'cas_';
/** 32 random bytes in base64url are 43 characters. */
const TOKEN_PATTERN = /^cas_[A-Za-z0-9_-]{43}$/;
const TOKEN_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,64}$/;

interface TokenInfo {
  name: string;
  scopes: Scope[];
  createdAt: string;
  lastUsedAt?: string;
}

const tokenFileSchema = z.object({
  version: z.literal(1),
  tokens: z.array(
    z.object({
      name: z.string().regex(TOKEN_NAME_PATTERN),
      hash: z.string().regex(/^[0-9a-f]{64}$/),
      scopes: z.array(z.enum(SCOPES)),
      createdAt: z.string(),
      lastUsedAt: z.string().optional(),
    }),
  ),
});
type TokenFile = z.infer<typeof tokenFileSchema>;
type TokenRecord = TokenFile['tokens'][number];

export class TokenStoreError extends Error {
  constructor(
    readonly code: 'invalid_name' | 'invalid_scopes' | 'duplicate_name' | 'locked' | 'corrupt_file',
    message: string,
  ) {
    super(message);
    this.name = 'TokenStoreError';
  }
}

interface TokenStoreOptions {
  /** Minimum time between two stats of the file on the verify path. Default 1000 ms. */
  reloadCheckMs?: number;
  /** Clock in ms since the epoch; tests pass their own. */
  now?: () => number;
}

// A SHA-256 digest, not a slow KDF: the token carries 256 random bits, so nobody can brute-force a
// preimage however fast the hash is. scrypt/argon2 exist to protect low-entropy passwords and would
// only add tens of ms of CPU to every request.
function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export class TokenStore {
  private readonly state: StateFile<TokenFile>;
  private byHash = new Map<string, TokenRecord>();
  /** The content `byHash` was built from: StateFile hands back the same object until the file changes. */
  private indexed: TokenFile | undefined;
  private readonly now: () => number;
  // Kept in memory only: the server must not write the file, or it could overwrite a token the CLI
  // created between the server's read and its write.
  private readonly lastUsed = new Map<string, string>();
  private readonly revocationListeners = new Set<() => void>();

  constructor(readonly file: string, options: TokenStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.state = new StateFile(file, tokenFileSchema, () => ({ version: 1, tokens: [] }), {
      reloadCheckMs: options.reloadCheckMs ?? 1000, now: this.now, what: 'token file',
    });
  }

  /** Returns the plaintext token; this is the only time it exists outside the caller. */
  async create(name: string, scopes: Scope[]): Promise<{ token: string; info: TokenInfo }> {
    if (!TOKEN_NAME_PATTERN.test(name)) {
      throw new TokenStoreError('invalid_name', 'Token names are 1-64 characters of letters, digits, ".", "_" or "-"');
    }
    if (scopes.length === 0 || !scopes.every(isScope)) {
      throw new TokenStoreError('invalid_scopes', `Give at least one scope of: ${SCOPES.join(', ')}`);
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const record: TokenRecord = {
      name,
      hash: sha256(token).toString('hex'),
      scopes: [...new Set(scopes)],
      createdAt: new Date(this.now()).toISOString(),
    };
    await this.mutate((data) => {
      if (data.tokens.some((t) => t.name === name)) {
        throw new TokenStoreError('duplicate_name', `A token named "${name}" already exists; revoke it first or pick another name`);
      }
      data.tokens.push(record);
    });
    return { token, info: toInfo(record) };
  }

  /** Names, scopes and dates; never hashes. */
  async list(): Promise<TokenInfo[]> {
    await this.refresh();
    return [...this.byHash.values()].map((record) => {
      const info = toInfo(record);
      const used = this.lastUsed.get(record.name);
      return used ? { ...info, lastUsedAt: used } : info;
    });
  }

  /** True when a token of that name existed. */
  async revoke(name: string): Promise<boolean> {
    let found = false;
    await this.mutate((data) => {
      const before = data.tokens.length;
      data.tokens = data.tokens.filter((t) => t.name !== name);
      found = data.tokens.length !== before;
    });
    return found;
  }

  async verify(plaintext: string): Promise<Principal | null> {
    if (!TOKEN_PATTERN.test(plaintext)) return null;
    await this.refresh();
    const digest = sha256(plaintext);
    // The Map lookup's timing depends only on the digest, which an attacker cannot steer toward a
    // stored one; the explicit constant-time compare keeps the rule "secrets compare in constant time".
    const record = this.byHash.get(digest.toString('hex'));
    if (!record || !timingSafeEqual(digest, Buffer.from(record.hash, 'hex'))) return null;
    this.lastUsed.set(record.name, new Date(this.now()).toISOString());
    return staticPrincipal(record.name, [...record.scopes]);
  }

  /** The name and creation time of a valid token (the OAuth consent page records which token approved a grant). */
  async describe(plaintext: string): Promise<TokenInfo | null> {
    if (!(await this.verify(plaintext))) return null;
    const record = this.byHash.get(sha256(plaintext).toString('hex'));
    return record ? toInfo(record) : null;
  }

  /** The file's tokens as of at most reloadCheckMs ago (StateFile stats and reloads). */
  private async refresh(): Promise<void> {
    let data: TokenFile;
    try {
      data = await this.state.read();
    } catch {
      // Fail closed: a broken file (say, a bad hand edit meant to revoke a token) accepts no static
      // token until it is fixed, rather than keeping tokens the operator may have meant to remove.
      this.indexed = undefined;
      this.index([]);
      return;
    }
    if (data !== this.indexed) {
      this.indexed = data;
      this.index(data.tokens);
    }
  }

  private index(tokens: TokenRecord[]): void {
    const before = this.byHash;
    this.byHash = new Map(tokens.map((t) => [t.hash, t]));
    // Only a token that went away matters to holders of open streams; new ones change nothing.
    if ([...before.keys()].some((hash) => !this.byHash.has(hash))) for (const listener of this.revocationListeners) listener();
  }

  /** Called whenever a token this process knew stops being valid (revoked here, or in the file). */
  onRevocation(listener: () => void): void {
    this.revocationListeners.add(listener);
  }

  /** Read-modify-write under the file's lock, always from its current content. */
  private async mutate(change: (data: TokenFile) => void): Promise<void> {
    try {
      // Two `token create` runs at once would otherwise both read the old file and one token would
      // be lost while its plaintext was already printed.
      await this.state.update(change);
    } catch (error) {
      if (error instanceof StateFileError) throw new TokenStoreError(error.code === 'locked' ? 'locked' : 'corrupt_file', error.message);
      throw error;
    }
    await this.refresh();
  }
}

/** The principal of a static token (CLAUDE_ASYNC_TOKEN is the one named "default"). */
export function staticPrincipal(name: string, scopes: Scope[]): Principal {
  const source = { kind: 'token', name } as const;
  const legacyId = legacyOwnerOf(source);
  return { id: principalId(source), scopes, kind: 'static', ...(legacyId !== undefined ? { legacyId } : {}) };
}

function toInfo(record: TokenRecord): TokenInfo {
  const info: TokenInfo = { name: record.name, scopes: [...record.scopes], createdAt: record.createdAt };
  if (record.lastUsedAt) info.lastUsedAt = record.lastUsedAt;
  return info;
}

// Grants and their refresh-token families, in the shared state file. Refresh tokens are opaque random
// strings stored only as SHA-256 hashes; each use rotates the token, and presenting a used one again
// (a stolen copy, or a replay) revokes the whole grant, per the OAuth 2.1 security BCP.
import { randomBytes } from 'node:crypto';
import type { Scope } from '../types.js';
import { sha256Hex, type Grant, type GrantSource, type OAuthState } from './records.js';
import type { StateFile } from '../../files/state-file.js';

export const REFRESH_TOKEN_PREFIX = 'car_';
const USED_HASHES_KEPT = 50;
/** Revoked or expired grants stay listed this long (for `oauth clients`), then are dropped. */
const DEAD_GRANT_KEPT_MS = 7 * 86_400_000;

interface NewGrant {
  clientId: string;
  clientName?: string;
  principalId: string;
  source: GrantSource;
  scopes: Scope[];
  resource: string;
}

type RefreshOutcome =
  | { ok: true; grant: Grant; refreshToken: string }
  | { ok: false; reason: 'unknown' | 'reused' | 'revoked' | 'expired' | 'wrong_client' | 'source_gone' };

function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function isGrantLive(grant: Grant, now: number): boolean {
  return grant.revokedAt === undefined && grant.refreshExpiresAt > now;
}

export class GrantStore {
  constructor(
    private readonly state: StateFile<OAuthState>,
    private readonly refreshTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Creates a grant with its first refresh token. `onCreate` runs inside the same locked write
   * (the client registry marks the client used there).
   */
  async create(input: NewGrant, onCreate?: (data: OAuthState) => void): Promise<{ grant: Grant; refreshToken: string }> {
    const refreshToken = newRefreshToken();
    const now = this.now();
    const grant: Grant = {
      id: `grt_${randomBytes(12).toString('base64url')}`,
      ...input,
      createdAt: now,
      lastUsedAt: now,
      refreshHash: sha256Hex(refreshToken),
      refreshExpiresAt: now + this.refreshTtlMs,
      usedRefreshHashes: [],
    };
    await this.state.update((data) => {
      this.dropDead(data);
      data.grants.push(grant);
      onCreate?.(data);
    });
    return { grant, refreshToken };
  }

  async get(grantId: string): Promise<Grant | undefined> {
    return (await this.state.read()).grants.find((g) => g.id === grantId);
  }

  async all(): Promise<Grant[]> {
    return (await this.state.read()).grants;
  }

  /**
   * Exchanges a refresh token for a new one. `sourceAlive` is asked whether the token the person
   * consented with still exists; when it is gone the grant ends here.
   */
  async rotate(refreshToken: string, clientId: string, sourceAlive: (source: GrantSource) => Promise<boolean>): Promise<RefreshOutcome> {
    const hash = sha256Hex(refreshToken);
    const before = (await this.state.read()).grants.find((g) => g.refreshHash === hash || g.usedRefreshHashes.includes(hash));
    const alive = before ? await sourceAlive(before.source) : false;
    const next = newRefreshToken();
    return this.state.update((data): RefreshOutcome => {
      const now = this.now();
      const grant = data.grants.find((g) => g.refreshHash === hash || g.usedRefreshHashes.includes(hash));
      if (!grant) return { ok: false, reason: 'unknown' };
      if (grant.clientId !== clientId) return { ok: false, reason: 'wrong_client' };
      if (grant.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
      if (grant.refreshHash !== hash) {
        revoke(grant, now, 'a refresh token was used twice');
        return { ok: false, reason: 'reused' };
      }
      if (grant.refreshExpiresAt <= now) return { ok: false, reason: 'expired' };
      if (!alive) {
        revoke(grant, now, 'the token it was approved with was revoked');
        return { ok: false, reason: 'source_gone' };
      }
      grant.usedRefreshHashes = [...grant.usedRefreshHashes, hash].slice(-USED_HASHES_KEPT);
      grant.refreshHash = sha256Hex(next);
      grant.refreshExpiresAt = now + this.refreshTtlMs;
      grant.lastUsedAt = now;
      return { ok: true, grant: { ...grant }, refreshToken: next };
    });
  }

  /** Revokes grants chosen by `match`; returns their ids. */
  async revokeWhere(match: (grant: Grant) => boolean, reason: string): Promise<string[]> {
    return this.state.update((data) => {
      const now = this.now();
      const ids: string[] = [];
      for (const grant of data.grants) {
        if (grant.revokedAt === undefined && match(grant)) {
          revoke(grant, now, reason);
          ids.push(grant.id);
        }
      }
      return ids;
    });
  }

  /** The grant a refresh token (current or already used) belongs to. */
  async byRefreshToken(refreshToken: string): Promise<Grant | undefined> {
    const hash = sha256Hex(refreshToken);
    return (await this.state.read()).grants.find((g) => g.refreshHash === hash || g.usedRefreshHashes.includes(hash));
  }

  private dropDead(data: OAuthState): void {
    const now = this.now();
    data.grants = data.grants.filter((g) => isGrantLive(g, now) || now - Math.max(g.revokedAt ?? 0, g.refreshExpiresAt) < DEAD_GRANT_KEPT_MS);
  }
}

function revoke(grant: Grant, now: number, reason: string): void {
  grant.revokedAt = now;
  grant.revokedReason = reason;
  delete grant.refreshHash;
}

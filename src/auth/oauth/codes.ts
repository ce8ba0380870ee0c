// Authorization codes: random, single-use, 60 s, held in memory only (a restart merely makes a
// client sign in again). A used code is remembered until well past its expiry so that a second use
// is recognised as a replay and the grant made from the first use can be revoked.
import { randomBytes } from 'node:crypto';
import type { Scope } from '../types.js';
import { sha256Hex, type GrantSource } from './records.js';

export const CODE_TTL_MS = 60_000;
const USED_CODE_REMEMBERED_MS = 10 * 60_000;
const MAX_CODES = 10_000;

/** What the person approved on the consent page; a grant is made from it when the code is redeemed. */
export interface ApprovedAuthorization {
  clientId: string;
  clientName?: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  principalId: string;
  source: GrantSource;
  scopes: Scope[];
}

interface CodeRecord {
  approved: ApprovedAuthorization;
  expiresAt: number;
  usedAt?: number;
  /** The grant made when the code was redeemed; revoked if the code comes back. */
  grantId?: string;
  /** Presented again after its first use. */
  replayed?: boolean;
}

type CodeLookup =
  | { status: 'fresh'; approved: ApprovedAuthorization }
  | { status: 'unknown' | 'expired' | 'wrong_client' }
  | { status: 'replayed'; grantId?: string };

export class AuthorizationCodes {
  private readonly codes = new Map<string, CodeRecord>();

  constructor(private readonly now: () => number = Date.now) {}

  issue(approved: ApprovedAuthorization): string {
    this.sweep();
    const code = randomBytes(32).toString('base64url');
    this.codes.set(sha256Hex(code), { approved, expiresAt: this.now() + CODE_TTL_MS });
    return code;
  }

  /** Looks a code up without using it (the SDK asks for the PKCE challenge first). */
  peek(code: string, clientId: string): CodeLookup {
    return this.inspect(this.codes.get(sha256Hex(code)), clientId);
  }

  /**
   * Uses a code: the first call for a fresh code gets it, every later call sees a replay. Check and
   * mark happen in one synchronous step, so two concurrent redemptions cannot both succeed.
   */
  take(code: string, clientId: string): CodeLookup {
    const record = this.codes.get(sha256Hex(code));
    const lookup = this.inspect(record, clientId);
    if (lookup.status === 'fresh' && record) record.usedAt = this.now();
    return lookup;
  }

  /**
   * Links a redeemed code to the grant it produced. True when the code was replayed while the grant
   * was being made: the caller must then revoke that grant too.
   */
  attachGrant(code: string, grantId: string): boolean {
    const record = this.codes.get(sha256Hex(code));
    if (record) record.grantId = grantId;
    return record?.replayed === true;
  }

  private inspect(record: CodeRecord | undefined, clientId: string): CodeLookup {
    if (!record) return { status: 'unknown' };
    if (record.approved.clientId !== clientId) return { status: 'wrong_client' };
    if (record.usedAt !== undefined) {
      record.replayed = true;
      return { status: 'replayed', ...(record.grantId ? { grantId: record.grantId } : {}) };
    }
    if (record.expiresAt <= this.now()) return { status: 'expired' };
    return { status: 'fresh', approved: record.approved };
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, record] of this.codes) {
      if (record.expiresAt + USED_CODE_REMEMBERED_MS <= now) this.codes.delete(key);
    }
    // Map order is insertion order: past the cap the oldest codes go first.
    while (this.codes.size >= MAX_CODES) this.codes.delete(this.codes.keys().next().value as string);
  }
}

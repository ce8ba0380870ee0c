// What the authorization server keeps in `<data dir>/oauth/state.json` (0600): registered clients and
// grants. A grant is one person's consent for one client; its refresh tokens form one family, stored
// only as SHA-256 hashes, and every access token names its grant, so ending the grant ends them all.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SCOPES } from '../types.js';

/** The static token a grant was consented with; the grant lives only as long as that token does. */
export const grantSourceSchema = z.union([
  z.object({ kind: z.literal('static'), name: z.string(), createdAt: z.string() }),
  /** CLAUDE_ASYNC_TOKEN: identified by a hash, so changing the variable ends its grants. */
  z.object({ kind: z.literal('env'), fingerprint: z.string() }),
]);
export type GrantSource = z.infer<typeof grantSourceSchema>;

export const grantSchema = z.object({
  id: z.string(),
  clientId: z.string(),
  clientName: z.string().optional(),
  principalId: z.string(),
  source: grantSourceSchema,
  scopes: z.array(z.enum(SCOPES)),
  resource: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number(),
  refreshHash: z.string().optional(),
  refreshExpiresAt: z.number(),
  /** Hashes of refresh tokens already exchanged: presenting one again revokes the grant. */
  usedRefreshHashes: z.array(z.string()),
  revokedAt: z.number().optional(),
  revokedReason: z.string().optional(),
});
export type Grant = z.infer<typeof grantSchema>;

export const clientRecordSchema = z.object({
  /** The registration as the SDK's OAuthClientInformationFull (client_id, redirect_uris, secret, ...). */
  info: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
  /** When a grant was last made for it; never-used clients are the first to be pruned. */
  usedAt: z.number().optional(),
});
export type ClientRecord = z.infer<typeof clientRecordSchema>;

export const stateSchema = z.object({
  version: z.literal(1),
  clients: z.array(clientRecordSchema),
  grants: z.array(grantSchema),
});
export type OAuthState = z.infer<typeof stateSchema>;

export const emptyState = (): OAuthState => ({ version: 1, clients: [], grants: [] });

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export function clientIdOf(record: ClientRecord): string {
  return String(record.info.client_id);
}

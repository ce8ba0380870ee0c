// `claude-async oauth clients | revoke <client or grant> | rotate-key`: the operator's view of the
// built-in authorization server. Works on the same files as the running server, which notices the
// change within a second (grants end at once; a rotated key signs the next token).
import type { Config } from '../config.js';
import { openOAuthFiles } from '../auth/oauth/authorization-server.js';
import { isGrantLive } from '../auth/oauth/grants.js';
import { clientIdOf, type Grant } from '../auth/oauth/records.js';

const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());

function describeGrant(grant: Grant, now: number): string {
  const status = grant.revokedAt !== undefined ? `revoked ${iso(grant.revokedAt)} (${grant.revokedReason ?? 'revoked'})`
    : isGrantLive(grant, now) ? `active, last used ${iso(grant.lastUsedAt)}` : `expired ${iso(grant.refreshExpiresAt)}`;
  const via = grant.source.kind === 'static' ? `token "${grant.source.name}"` : 'CLAUDE_ASYNC_TOKEN';
  return `  grant ${grant.id}  principal ${grant.principalId}  scopes ${grant.scopes.join(' ') || '-'}  approved with ${via}  created ${iso(grant.createdAt)}  ${status}`;
}

export async function listClients(config: Config): Promise<string> {
  const { state } = openOAuthFiles(config);
  const data = await state.read();
  const now = Date.now();
  const lines: string[] = [];
  const grantsOf = (clientId: string) => data.grants.filter((g) => g.clientId === clientId);
  const shown = new Set<string>();
  for (const client of data.clients) {
    const id = clientIdOf(client);
    shown.add(id);
    const name = typeof client.info.client_name === 'string' ? client.info.client_name : '(no name)';
    const redirects = Array.isArray(client.info.redirect_uris) ? client.info.redirect_uris.join(' ') : '';
    lines.push(`client ${id}  "${name}"  registered ${iso(client.createdAt)}  ${client.usedAt === undefined ? 'never used' : `last grant ${iso(client.usedAt)}`}  redirect ${redirects}`);
    for (const grant of grantsOf(id)) lines.push(describeGrant(grant, now));
  }
  // Clients known by a metadata document are not registered; they appear through their grants.
  for (const id of new Set(data.grants.map((g) => g.clientId))) {
    if (shown.has(id)) continue;
    const grants = grantsOf(id);
    lines.push(`client ${id}  "${grants[0]?.clientName ?? '(no name)'}"  metadata document`);
    for (const grant of grants) lines.push(describeGrant(grant, now));
  }
  return lines.length ? lines.join('\n') : 'No OAuth clients.';
}

/** Revokes one grant (grt_…) or every grant of a client and its registration; returns what happened. */
export async function revokeClientOrGrant(config: Config, id: string): Promise<string | undefined> {
  const { state, grants } = openOAuthFiles(config);
  if (id.startsWith('grt_')) {
    const ended = await grants.revokeWhere((g) => g.id === id, 'revoked by the operator');
    if (ended.length) return `Grant ${id} revoked; its tokens stop working within a second.`;
    return (await grants.get(id)) ? `Grant ${id} was already revoked.` : undefined;
  }
  const known = (await state.read());
  if (!known.clients.some((c) => clientIdOf(c) === id) && !known.grants.some((g) => g.clientId === id)) return undefined;
  const ended = await grants.revokeWhere((g) => g.clientId === id, 'client revoked by the operator');
  await state.update((data) => {
    data.clients = data.clients.filter((c) => clientIdOf(c) !== id);
  });
  return `Client ${id} removed; ${ended.length} grant(s) revoked. It must register and be approved again.`;
}

/** `token revoke <name>` also ends the OAuth grants approved with that token. */
export async function revokeGrantsOfToken(config: Config, name: string): Promise<number> {
  const { grants } = openOAuthFiles(config);
  return (await grants.revokeWhere((g) => g.source.kind === 'static' && g.source.name === name, `the token "${name}" was revoked`)).length;
}

export async function rotateKey(config: Config): Promise<string> {
  const { keys } = openOAuthFiles(config);
  const { kid, retired } = await keys.rotate();
  const until = new Date(Date.now() + config.oauthAccessTtlMs).toISOString();
  return `New signing key ${kid}.${retired.length ? ` The old key (${retired.join(', ')}) stays in the JWKS and keeps verifying until its tokens expire (about ${until}).` : ''}`;
}

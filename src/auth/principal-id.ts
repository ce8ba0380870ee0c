// The one place a principal's id is made. Ids are namespaced by where the principal comes from, so
// two sources can never name the same owner by accident: a JWT whose `sub` is "local" is not the
// stdio user, and a JWT `sub` equal to a static token's name is not that token's owner.
//
//   local                      CLAUDE_ASYNC_AUTH=none and the stdio face (the machine's own user)
//   token:<name>               a static API token (CLAUDE_ASYNC_TOKEN is token:default)
//   jwt:<issuer>|<sub>         a JWT; issuer empty when the token has no `iss` (minted without one)
//
// A new source (the built-in OAuth server, say) adds a kind here and gets its own prefix.

type PrincipalSource =
  | { kind: 'local' }
  | { kind: 'token'; name: string }
  | { kind: 'jwt'; issuer: string | undefined; subject: string };

/** '|' separates issuer from subject; an issuer holding one is escaped so the split stays unique. */
const escapeIssuer = (issuer: string) => issuer.replace(/%/g, '%25').replace(/\|/g, '%7C');

export function principalId(source: PrincipalSource): string {
  switch (source.kind) {
    case 'local':
      return 'local';
    case 'token':
      return `token:${source.name}`;
    case 'jwt':
      return `jwt:${escapeIssuer(source.issuer ?? '')}|${source.subject}`;
  }
}

/**
 * Jobs made before ids were namespaced carry the bare name as owner ("alice", "default"). They stay
 * their static token's: the operator chose those names, and a token already owned every job of its
 * name. JWT subjects get no such alias, which is the point: a `sub` never reaches another source's
 * jobs, old or new. `local` was and is `local`.
 */
export function legacyOwnerOf(source: PrincipalSource): string | undefined {
  return source.kind === 'token' ? source.name : undefined;
}

// Which redirect URIs a client may register (DCR) or declare (metadata document): https anywhere,
// plain http only on a loopback address (RFC 8252 section 7.3, native apps and CLIs such as
// Claude Code and mcp-remote). Pure, so both client sources share one rule.
const LOOPBACK_REDIRECT_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `"${uri.slice(0, 200)}" is not a URL`;
  }
  if (url.hash) return `redirect URI ${url.href} must not have a fragment`;
  if (url.username || url.password) return `redirect URI ${url.origin} must not carry credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_REDIRECT_HOSTS.has(url.hostname)) return undefined;
  return `redirect URI ${url.href.slice(0, 200)} must be https, or http on localhost / 127.0.0.1 / [::1]`;
}

/** The first problem of a list of redirect URIs, or undefined when all are acceptable. */
export function redirectUrisProblem(uris: readonly string[]): string | undefined {
  if (uris.length === 0) return 'at least one redirect URI is required';
  if (uris.length > 20) return 'at most 20 redirect URIs may be registered';
  for (const uri of uris) {
    const problem = redirectUriProblem(uri);
    if (problem) return problem;
  }
  return undefined;
}

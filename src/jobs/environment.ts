// The environment a job gets: an allowlist, never the server's own. The server may hold bearer
// tokens, JWT secrets and whatever its operator exported; a prompt can make claude print its env,
// so nothing reaches a job unless it is on this list or named in CLAUDE_ASYNC_JOB_ENV.
const ALLOWED_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TERM', 'TMPDIR',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME',
]);
const ALLOWED_PREFIXES = ['LC_', 'ANTHROPIC_', 'CLAUDE_CODE_', 'AWS_', 'GOOGLE_', 'CLOUD_ML_', 'VERTEX_'];

export function jobEnvironment(serverEnv: Record<string, string | undefined>, extraNames: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  const extra = new Set(extraNames);
  for (const [name, value] of Object.entries(serverEnv)) {
    if (value === undefined || name.startsWith('CLAUDE_ASYNC_')) continue;
    if (ALLOWED_NAMES.has(name) || extra.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p))) env[name] = value;
  }
  return env;
}

// The environment a job gets: an allowlist, never the server's own. The server may hold bearer
// tokens, JWT secrets and whatever its operator exported; a prompt can make claude print its env,
// so nothing reaches a job unless it is on this list or named in CLAUDE_ASYNC_JOB_ENV.
const ALLOWED_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TERM', 'TMPDIR',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME',
]);
const ALLOWED_PREFIXES = ['LC_', 'ANTHROPIC_', 'CLAUDE_CODE_', 'AWS_', 'GOOGLE_', 'CLOUD_ML_', 'VERTEX_'];
/**
 * What a Windows process needs to start at all (node fails without SYSTEMROOT, cmd.exe is COMSPEC,
 * claude.cmd is found through PATHEXT, the home is USERPROFILE). Names there are case-insensitive:
 * PATH is usually spelled Path.
 */
const WINDOWS_NAMES = new Set([
  'PATH', 'PATHEXT', 'SYSTEMROOT', 'SYSTEMDRIVE', 'WINDIR', 'COMSPEC', 'USERPROFILE', 'USERNAME', 'USERDOMAIN',
  'HOMEDRIVE', 'HOMEPATH', 'APPDATA', 'LOCALAPPDATA', 'TEMP', 'TMP', 'PROGRAMFILES', 'PROGRAMFILES(X86)',
  'PROGRAMDATA', 'COMMONPROGRAMFILES', 'NUMBER_OF_PROCESSORS', 'PROCESSOR_ARCHITECTURE', 'OS',
]);

export function jobEnvironment(serverEnv: Record<string, string | undefined>, extraNames: readonly string[], platform: NodeJS.Platform = process.platform): Record<string, string> {
  const env: Record<string, string> = {};
  const extra = new Set(extraNames);
  for (const [name, value] of Object.entries(serverEnv)) {
    if (value === undefined || name.startsWith('CLAUDE_ASYNC_')) continue;
    if (ALLOWED_NAMES.has(name) || extra.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p))) env[name] = value;
    else if (platform === 'win32' && WINDOWS_NAMES.has(name.toUpperCase())) env[name] = value;
  }
  return env;
}

// Why a test cannot run on this OS, for node:test's `skip` option (false: it runs). The CI matrix
// (.github/workflows/ci.yml) runs the suite on Linux, macOS and Windows; what only one kind of host
// has is skipped elsewhere with the reason printed, and nothing else skips.
export function needsLinux(why: string): string | false {
  return process.platform === 'linux' ? false : `Linux only: ${why}`;
}

export function needsPosix(why: string): string | false {
  return process.platform === 'win32' ? `POSIX only, not on Windows: ${why}` : false;
}

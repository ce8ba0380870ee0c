// Running a `.cmd`/`.bat` file safely. Node >= 20.12 refuses to spawn them without a shell
// (CVE-2024-27980), and `shell: true` would hand cmd.exe an unescaped command line. So we start
// cmd.exe ourselves with a command line in which every element is quoted and every cmd.exe
// metacharacter is caret-escaped. The rules follow cross-spawn's lib/util/escape.js (MIT) and
// https://qntm.org/cmd, with one change: arguments are always escaped twice, because a batch file
// that forwards `%*` (npm's cmd-shim, which is what `claude.cmd` is, installed in %APPDATA%\npm
// and not under node_modules\.bin where cross-spawn looks) has cmd.exe parse them a second time.
// The prompt never travels here: it stays on stdin.

/** cmd.exe's special characters, escaped with `^` (https://www.robvanderwoude.com/escapechars.php). */
const META = /([()\][%!^"`<>&|;, *?])/g;

/** One argv element as the MSVCRT / CommandLineToArgvW rules read it back, then escaped for cmd.exe. */
export function quoteCmdArgument(arg: string, parses = 2): string {
  // Backslashes before a quote are doubled and the quote escaped; trailing ones are doubled because
  // the closing quote follows them.
  let quoted = arg.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\*)$/, '$1$1');
  quoted = `"${quoted}"`;
  for (let i = 0; i < parses; i++) quoted = quoted.replace(META, '^$1');
  return quoted;
}

/** The program path: escaped once, since cmd.exe reads it once to find the file. */
export function quoteCmdCommand(file: string): string {
  return file.replace(META, '^$1');
}

export class CmdArgumentError extends Error {}

/**
 * The cmd.exe invocation that runs `file` (a .cmd/.bat) with `args` exactly: `/d` skips AutoRun
 * hooks, `/s /c "…"` strips just the outer quotes. Must be spawned with windowsVerbatimArguments.
 */
export function cmdInvocation(file: string, args: readonly string[], comspec = 'cmd.exe'): { file: string; args: string[] } {
  for (const arg of args) {
    // cmd.exe ends a command at a line break: what follows would be lost or run as a command.
    if (/[\r\n\0]/.test(arg)) throw new CmdArgumentError(`an argument for ${file} holds a line break, which cmd.exe cannot pass to a .cmd file; remove it (or set CLAUDE_ASYNC_CLAUDE_BIN to claude.exe)`);
  }
  const line = [quoteCmdCommand(file), ...args.map((a) => quoteCmdArgument(a))].join(' ');
  return { file: comspec, args: ['/d', '/s', '/c', `"${line}"`] };
}

export const isBatchFile = (file: string) => /\.(cmd|bat)$/i.test(file);

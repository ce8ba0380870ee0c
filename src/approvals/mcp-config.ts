// The claude flags that turn approvals on for one job: an `--mcp-config` that starts our approval
// server (with the job folder and the answer timeout on its argv: the job's environment is
// filtered, its argv is ours) and `--permission-prompt-tool` naming its tool.
import { fileURLToPath } from 'node:url';

export const APPROVAL_SERVER_NAME = 'claude_async';
export const APPROVAL_TOOL = 'approve';
export const PERMISSION_PROMPT_TOOL = `mcp__${APPROVAL_SERVER_NAME}__${APPROVAL_TOOL}`;

/** The approval server's entry, beside this file in dist/ (or .test-build/). */
const APPROVAL_SERVER_PATH = fileURLToPath(new URL('./approval-server.js', import.meta.url));

export function approvalArgs(jobDir: string, timeoutMs: number, nodeBin = process.execPath): string[] {
  const config = { mcpServers: { [APPROVAL_SERVER_NAME]: { type: 'stdio', command: nodeBin, args: [APPROVAL_SERVER_PATH, jobDir, String(timeoutMs)] } } };
  return ['--mcp-config', JSON.stringify(config), '--permission-prompt-tool', PERMISSION_PROMPT_TOOL];
}

/**
 * The job's argv with its approval server pointed at `jobDir` on this host, keeping its answer
 * timeout. A front builds the argv of a job a worker runs: the node binary, the server's script and
 * the job folder it names are the front's, and the worker's are elsewhere. Argv without approvals
 * comes back unchanged.
 */
export function approvalArgsAt(args: readonly string[], jobDir: string, nodeBin = process.execPath): string[] {
  const at = args.indexOf('--mcp-config');
  const timeoutMs = at < 0 ? null : approvalTimeoutOf(args[at + 1]);
  if (timeoutMs === null) return [...args];
  const [, config] = approvalArgs(jobDir, timeoutMs, nodeBin);
  return [...args.slice(0, at + 1), config!, ...args.slice(at + 2)];
}

/** The answer timeout on the argv of our approval server in an --mcp-config, or null when it names none. */
function approvalTimeoutOf(config: string | undefined): number | null {
  try {
    const server = (JSON.parse(config ?? '') as { mcpServers?: Record<string, { args?: unknown[] }> }).mcpServers?.[APPROVAL_SERVER_NAME];
    const timeoutMs = Number(server?.args?.[2]);
    return Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : null;
  } catch {
    return null;
  }
}

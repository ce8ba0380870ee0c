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

// The claude argv for a job, built by the server from validated input. The prompt is never here:
// it goes to stdin, so list options (--allowedTools …) cannot swallow it and `ps` cannot show it.
import { approvalArgs } from '../approvals/mcp-config.js';
import type { PermissionMode } from './permission.js';
import type { StartInput } from './schemas.js';

export type ClaudeOptions = Omit<StartInput, 'prompt' | 'cwd' | 'title' | 'timeoutSeconds' | 'permissionMode' | 'approvals' | 'labels'> & {
  permissionMode: PermissionMode;
  /** Claude asks our approval server (writing into this job folder) instead of refusing. */
  approvals?: { jobDir: string; timeoutMs: number };
};

export function claudeArgs(options: ClaudeOptions): string[] {
  const args = ['-p', '--output-format', 'stream-json', '--verbose'];
  if (options.model) args.push('--model', options.model);
  if (options.effort) args.push('--effort', options.effort);
  if (options.permissionMode !== 'default') args.push('--permission-mode', options.permissionMode);
  if (options.maxTurns !== undefined) args.push('--max-turns', String(options.maxTurns));
  if (options.maxBudgetUsd !== undefined) args.push('--max-budget-usd', String(options.maxBudgetUsd));
  // `=` keeps a text that starts with '-' from being read as an option.
  if (options.appendSystemPrompt) args.push(`--append-system-prompt=${options.appendSystemPrompt}`);
  if (options.resumeSessionId) args.push('--resume', options.resumeSessionId);
  if (options.allowedTools?.length) args.push('--allowedTools', ...options.allowedTools);
  if (options.disallowedTools?.length) args.push('--disallowedTools', ...options.disallowedTools);
  if (options.approvals) args.push(...approvalArgs(options.approvals.jobDir, options.approvals.timeoutMs));
  return args;
}

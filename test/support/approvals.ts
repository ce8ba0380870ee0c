// What the approvals tests share: a question as the faces show it, and claude_check polled until the
// job asks one.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { waitFor } from './helpers.js';

export interface Pending { approvalId: string; toolName: string; input: Record<string, unknown>; askedAt: number }

/** claude_check on `client` until the job has an open question: the check and its first question. */
export async function checkUntilAsked(client: Client, jobId: string): Promise<{ check: CallToolResult; pending: Pending }> {
  const check = await waitFor(async () => {
    const got = await client.callTool({ name: 'claude_check', arguments: { jobId } }) as CallToolResult;
    return ((got.structuredContent as { pendingApprovals?: Pending[] }).pendingApprovals)?.length ? got : null;
  }, 30_000, 'claude_check to show the question');
  return { check, pending: (check.structuredContent as { pendingApprovals: Pending[] }).pendingApprovals[0]! };
}

#!/usr/bin/env node
// The approval server: a small stdio MCP server that claude starts for a job with approvals on
// (`--mcp-config` + `--permission-prompt-tool mcp__claude_async__approve`). When claude would ask a
// person, it calls our tool; we write the question into the job folder, wait for an answer file
// (written by the claude-async server for whoever answered) and hand claude the decision.
// It is a child of claude, not of the server: an open question survives a server restart.
// Usage: node approval-server.js <jobDir> <timeoutMs>
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../version.js';
import { newApprovalId, readAnswer, writeAnswerOnce, writeQuestion, type ApprovalAnswer } from './files.js';
import { APPROVAL_TOOL } from './mcp-config.js';

/** How often the answer file is looked for: a person's answer reaches claude within this. */
const ANSWER_POLL_MS = 200;

const askSchema = {
  tool_name: z.string().describe('The tool claude wants to use.'),
  input: z.record(z.string(), z.unknown()).describe('Its input.'),
  tool_use_id: z.string().optional(),
};

/** What claude reads from our tool: `{behavior:"allow", updatedInput}` or `{behavior:"deny", message}`. */
export function decisionText(answer: ApprovalAnswer, input: Record<string, unknown>): string {
  if (answer.decision === 'allow') return JSON.stringify({ behavior: 'allow', updatedInput: answer.updatedInput ?? input });
  const message = answer.message ?? (answer.answeredBy ? `Denied by ${answer.answeredBy}.` : 'Denied.');
  return JSON.stringify({ behavior: 'deny', message });
}

export function timeoutText(timeoutMs: number): string {
  const minutes = timeoutMs / 60_000;
  const seconds = Math.max(1, Math.round(timeoutMs / 1000));
  const span = Number.isInteger(minutes) ? `${minutes} minute${minutes === 1 ? '' : 's'}` : `${seconds} second${seconds === 1 ? '' : 's'}`;
  return `Nobody answered this permission request within ${span}, so it was denied. Do not retry it; finish what you can without it.`;
}

export async function askAndWait(jobDir: string, timeoutMs: number, toolName: string, input: Record<string, unknown>, toolUseId: string | null): Promise<string> {
  const approvalId = newApprovalId();
  const askedAt = Date.now();
  await writeQuestion(jobDir, { approvalId, toolName, input, toolUseId, askedAt });
  const deadline = askedAt + timeoutMs;
  for (;;) {
    const answer = await readAnswer(jobDir, approvalId).catch(() => null);
    if (answer) return decisionText(answer, input);
    if (Date.now() >= deadline) {
      const denial: ApprovalAnswer = { decision: 'deny', message: timeoutText(timeoutMs), answeredBy: null, answeredAt: Date.now(), timedOut: true };
      // A person may have answered in the same instant: whichever file landed first is the answer.
      if (writeAnswerOnce(jobDir, approvalId, denial)) return decisionText(denial, input);
      continue;
    }
    await new Promise((r) => setTimeout(r, Math.min(ANSWER_POLL_MS, deadline - Date.now())));
  }
}

export async function serveApprovals(jobDir: string, timeoutMs: number): Promise<void> {
  const server = new McpServer({ name: 'claude-async-approvals', version: VERSION });
  server.registerTool(APPROVAL_TOOL, {
    description: 'Asks the person who owns this claude-async job whether a tool may run, and waits for the answer.',
    inputSchema: askSchema,
  }, async (args) => {
    const text = await askAndWait(jobDir, timeoutMs, args.tool_name, args.input, args.tool_use_id ?? null);
    return { content: [{ type: 'text', text }] };
  });
  const transport = new StdioServerTransport();
  // claude closes our stdin when it ends: so do we.
  process.stdin.once('end', () => process.exit(0));
  await server.connect(transport);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [jobDir, timeout] = process.argv.slice(2);
  const timeoutMs = Number(timeout);
  if (!jobDir || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    process.stderr.write('usage: approval-server.js <jobDir> <timeoutMs>\n');
    process.exit(2);
  }
  serveApprovals(jobDir, timeoutMs).catch((err: unknown) => {
    process.stderr.write(`approval server: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  });
}

// The approval shapes every face shares: what a pending question looks like in claude_check and
// GET /v1/jobs/{jobId}, and the claude_approve / POST …/approvals/{approvalId} input and answer.
import { z } from 'zod';
import { JOB_ID_PATTERN } from '../jobs/ids.js';
import { APPROVAL_ID_PATTERN } from './files.js';

export const approvalIdSchema = z.string().regex(APPROVAL_ID_PATTERN, 'an approvalId from the job\'s pendingApprovals').describe('The approvalId from pendingApprovals.');

export const pendingApprovalSchema = z.object({
  approvalId: z.string(),
  toolName: z.string().describe('The tool claude wants to use, e.g. "Bash".'),
  input: z.record(z.string(), z.unknown()).describe('The input it would run with, e.g. {"command":"git push"}. Over 64 KiB, long strings are cut (see inputTruncated).'),
  inputTruncated: z.literal(true).optional().describe('The input was over 64 KiB as JSON, so its long strings are cut here. Allow runs the whole input; the job\'s output has it in full (its tool_use line).'),
  inputBytes: z.number().int().optional().describe('With inputTruncated: the size of the whole input as JSON, in bytes.'),
  askedAt: z.number().describe('ms since the epoch'),
});
export type PendingApproval = z.infer<typeof pendingApprovalSchema>;

/** The answer itself; the REST body is this, the MCP tool adds jobId and approvalId. */
export const approvalDecisionSchema = z.strictObject({
  decision: z.enum(['allow', 'deny']).describe('allow: the tool runs; deny: it does not, and claude reads your message.'),
  message: z.string().min(1).max(4000).optional().describe('With deny: what claude should do instead.'),
  updatedInput: z.record(z.string(), z.unknown()).optional().describe('With allow: run the tool with this input instead (e.g. a safer command).'),
});

export const approveInputSchema = approvalDecisionSchema.extend({
  jobId: z.string().regex(JOB_ID_PATTERN, 'a job id as returned by claude_start').describe('The job that asked.'),
  approvalId: approvalIdSchema,
});
export type ApproveInput = z.infer<typeof approveInputSchema>;

export const approveOutputSchema = z.object({
  jobId: z.string(),
  approvalId: z.string(),
  decision: z.enum(['allow', 'deny']),
  answeredBy: z.string(),
  answeredAt: z.number().describe('ms since the epoch'),
});
export type ApproveOutput = z.infer<typeof approveOutputSchema>;

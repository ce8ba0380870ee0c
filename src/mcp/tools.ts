// The MCP tools: each parses with the engine's zod schema, calls the service, and shapes the
// answer (structuredContent + a short text). No job logic lives here.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import {
  cancelOutputSchema, checkInputSchema, checkOutputSchema, jobIdSchema, listInputSchema, listOutputSchema,
  startInputSchema, startOutputSchema, type CheckOutput,
} from '../jobs/schemas.js';
import { Forbidden } from '../jobs/errors.js';
import type { JobService } from '../jobs/service.js';
import { approveInputSchema, approveOutputSchema } from '../approvals/schemas.js';
import { canElicit, elicitApprovalsWhileWaiting } from './approval-elicitation.js';
import { toolError } from './errors.js';
import type { RightsSource } from './rights.js';

/** Longest claude_wait, well under the ~60 s cap hosted clients put on one tool call. */
export const MAX_WAIT_SECONDS = 50;

export const waitInputSchema = z.strictObject({
  jobId: jobIdSchema,
  timeoutSeconds: z.number().int().min(1).max(MAX_WAIT_SECONDS).optional().describe(`How long to wait at most (default 30, max ${MAX_WAIT_SECONDS}).`),
  tailBytes: checkInputSchema.shape.tailBytes,
});

export interface ToolContext {
  service: JobService;
  /** Who is asking, looked up for each request (see rights.ts). */
  rights: RightsSource;
  /** Called after this session created a job, so resource subscribers hear of the new one. */
  onJobsChanged?: () => void;
  /** Called with each job this session started, so its lifecycle is logged to the client. */
  onJobStarted?: (jobId: string, asTask: boolean) => void;
}

const LOOP = 'Never block on a job: start it, then poll with claude_check (cheap) or claude_wait (blocks up to 50 s), repeating until the status is completed, failed, cancelled, timed_out or orphaned.';

/**
 * A readable summary first, then the structured content serialized as JSON text: the tools spec's
 * SHOULD for clients that predate structuredContent (2025-06-18+, server/tools "Structured Content").
 */
function answer<T extends Record<string, unknown>>(structured: T, text: string): CallToolResult {
  return { content: [{ type: 'text', text }, { type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

export function describeCheck(check: CheckOutput): string {
  const head = `Job ${check.jobId} is ${check.status}${check.statusReason ? ` (${check.statusReason})` : ''}.`;
  const asks = (check.pendingApprovals ?? []).map((a) => `\nWaiting for your answer (claude_approve, approvalId ${a.approvalId}): may it use ${a.toolName} with ${JSON.stringify(a.input)}?`).join('');
  const result = check.result ? `\nResult${check.result.isError ? ' (error)' : ''}: ${check.result.result}` : '';
  const tail = check.tail ? `\n--- output (bytes ${check.offset}-${check.nextOffset}) ---\n${check.tail}` : '';
  const next = check.result || ['completed', 'failed', 'cancelled', 'timed_out', 'orphaned'].includes(check.status)
    ? ''
    : `\nStill going: call claude_wait or claude_check again (pass offset ${check.nextOffset} for only new output).`;
  return head + asks + result + tail + next;
}

/** The claude_check answer for a check; also what a claude_run task resolves to. */
export function checkResult(check: CheckOutput): CallToolResult {
  return answer(check, describeCheck(check));
}

/**
 * The tools that change jobs: only a token with jobs:write may call them. Each checks needWrite
 * itself; the HTTP route (http/mcp-route.ts) also refuses them up front with 403 insufficient_scope.
 */
export const WRITE_TOOLS: ReadonlySet<string> = new Set(['claude_start', 'claude_run', 'claude_cancel', 'claude_approve']);

export function needWrite(ctx: Pick<ToolContext, 'rights'>): void {
  if (!ctx.rights().canWrite) throw new Forbidden('This token is read-only (it lacks the jobs:write scope), so it cannot start or cancel jobs.', 'jobs:write');
}

export function registerJobTools(server: McpServer, ctx: ToolContext): void {
  const { service } = ctx;
  const viewer = () => ctx.rights().viewer;
  /** Runs a handler; engine errors become tool errors, anything unexpected is also logged. */
  const run = async (fn: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    try {
      return await fn();
    } catch (error) {
      return toolError(error, (err) => service.log.error({ err }, 'tool call failed'));
    }
  };

  server.registerTool('claude_start', {
    title: 'Start a Claude Code job',
    description: `Start a Claude Code task in the background on the server and get a jobId back at once. Use it for anything that may take more than a few seconds (refactors, builds, multi-step changes). ${LOOP} To continue a finished job's conversation, pass its result.sessionId as resumeSessionId.`,
    inputSchema: startInputSchema,
    outputSchema: startOutputSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, (args) => run(async () => {
    needWrite(ctx);
    const started = await service.start(args, viewer());
    ctx.onJobsChanged?.();
    ctx.onJobStarted?.(started.jobId, false);
    return answer(started, `Started job ${started.jobId} (${started.status}). Poll it with claude_wait or claude_check.`);
  }));

  server.registerTool('claude_check', {
    title: 'Check a job',
    description: `Answer at once with a job's status, its latest readable output and, once it has ended, the result. Pass the nextOffset you got last time as offset to read only new output. ${LOOP}`,
    inputSchema: checkInputSchema,
    outputSchema: checkOutputSchema,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args) => run(async () => {
    const { jobId, ...options } = args;
    const check = await service.check(jobId, viewer(), options);
    return answer(check, describeCheck(check));
  }));

  server.registerTool('claude_jobs', {
    title: 'List jobs',
    description: 'List your jobs, newest first, optionally only those with one status. Pass nextCursor as cursor for the next page.',
    inputSchema: listInputSchema,
    outputSchema: listOutputSchema,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args) => run(async () => {
    const page = await service.list(viewer(), args);
    const lines = page.jobs.map((j) => `${j.jobId}  ${j.status.padEnd(9)}  ${new Date(j.createdAt).toISOString()}  ${j.title ?? ''}`);
    const text = lines.length ? lines.join('\n') + (page.nextCursor ? `\n(more: cursor ${page.nextCursor})` : '') : 'No jobs.';
    return answer(page, text);
  }));

  server.registerTool('claude_cancel', {
    title: 'Cancel a job',
    description: 'Stop a queued or running job (its whole process group is ended). A job that already ended is left as it is.',
    inputSchema: z.strictObject({ jobId: jobIdSchema }),
    outputSchema: cancelOutputSchema,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  }, (args) => run(async () => {
    needWrite(ctx);
    const cancelled = await service.cancel(args.jobId, viewer());
    return answer(cancelled, cancelled.cancelled ? `Job ${cancelled.jobId} is ${cancelled.status}.` : `Job ${cancelled.jobId} was not cancelled: ${cancelled.detail ?? `it had already ended (${cancelled.status})`}.`);
  }));

  server.registerTool('claude_approve', {
    title: 'Answer a job\'s question',
    description: 'Allow or deny a tool that a job started with approvals: true is waiting on (its pendingApprovals in claude_check). Ask the user first; never answer on their behalf. With deny, say in message what claude should do instead; with allow, updatedInput may replace the tool\'s input. Each question is answered once.',
    inputSchema: approveInputSchema,
    outputSchema: approveOutputSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, (args) => run(async () => {
    needWrite(ctx);
    const answered = await service.approve(args, viewer());
    return answer(answered, `Answered ${answered.approvalId} of job ${answered.jobId}: ${answered.decision}. The job goes on; poll it with claude_wait or claude_check.`);
  }));

  server.registerTool('claude_wait', {
    title: 'Wait for a job',
    description: `Wait up to timeoutSeconds (max ${MAX_WAIT_SECONDS}) for a job to end, then answer like claude_check. Returns early when the job ends. If it is still running afterwards, call claude_wait again.`,
    inputSchema: waitInputSchema,
    outputSchema: checkOutputSchema,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, (args, extra) => run(async () => {
    const timeoutMs = (args.timeoutSeconds ?? 30) * 1000;
    const progressToken = extra._meta?.progressToken;
    // A person at a client that can be asked answers the job's questions right here.
    const waitOver = new AbortController();
    extra.signal.addEventListener('abort', () => waitOver.abort(), { once: true });
    const asking = mayAskHere(server, ctx) ? elicitApprovalsWhileWaiting(server, service, args.jobId, viewer, extra.requestId, waitOver.signal) : Promise.resolve();
    const check = await service.wait(args.jobId, viewer(), {
      timeoutMs,
      ...(args.tailBytes !== undefined ? { tailBytes: args.tailBytes } : {}),
      signal: extra.signal,
      onProgress: (elapsedMs, status) => {
        if (progressToken === undefined) return;
        void extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress: Math.round(elapsedMs / 1000), total: timeoutMs / 1000, message: `job ${args.jobId} is ${status}` },
        }).catch(() => {});
      },
    }).finally(() => waitOver.abort());
    await asking.catch(() => {});
    return answer(check, describeCheck(check));
  }));
}

/** Only a token that may write can answer a question, so only it is asked. */
function mayAskHere(server: McpServer, ctx: ToolContext): boolean {
  return ctx.rights().canWrite && canElicit(server);
}

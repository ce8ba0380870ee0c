// While a client that can be asked (the elicitation capability) waits on a job (claude_wait), each
// question the job opens is put to the person directly with elicitation/create: allow or deny, and
// a message. Their answer goes through the engine like claude_approve's (once, the owner's). A
// client that declines, cancels or cannot be asked leaves the question open for the tool loop.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { JobService } from '../jobs/service.js';
import type { Viewer } from '../jobs/records.js';

const LOOK_EVERY_MS = 250;

const requestedSchema = {
  type: 'object' as const,
  properties: {
    decision: { type: 'string' as const, title: 'Decision', enum: ['allow', 'deny'], enumNames: ['Allow', 'Deny'] },
    message: { type: 'string' as const, title: 'Message to Claude (with deny: what to do instead)' },
  },
  required: ['decision'],
};

export function canElicit(server: McpServer): boolean {
  return server.server.getClientCapabilities()?.elicitation !== undefined;
}

/** Asks about each open question of the job until `signal` aborts (the wait is over). */
export async function elicitApprovalsWhileWaiting(server: McpServer, service: JobService, jobId: string, viewer: () => Viewer, requestId: RequestId, signal: AbortSignal): Promise<void> {
  const asked = new Set<string>();
  while (!signal.aborted) {
    const job = await service.job(jobId, viewer()).catch(() => null);
    for (const question of job?.pendingApprovals ?? []) {
      if (signal.aborted || asked.has(question.approvalId)) continue;
      asked.add(question.approvalId);
      const reply = await server.server.elicitInput({
        mode: 'form',
        message: `Job ${jobId} asks: may Claude use ${question.toolName} with ${JSON.stringify(question.input)}?`,
        requestedSchema,
      }, { relatedRequestId: requestId, signal }).catch(() => null);
      const content = reply?.action === 'accept' ? reply.content : undefined;
      if (!content || (content.decision !== 'allow' && content.decision !== 'deny')) continue;
      const message = typeof content.message === 'string' && content.message.trim() !== '' ? { message: content.message } : {};
      // Someone may have answered meanwhile (REST, another client): theirs stands.
      await service.approve({ jobId, approvalId: question.approvalId, decision: content.decision, ...message }, viewer()).catch(() => {});
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, LOOK_EVERY_MS);
      signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }
}

// tasks/result blocks until the task ends. A claude_run task whose job asks a question (approvals)
// reads input_required meanwhile, and the spec has the client call tasks/result to receive what
// the task needs: so while a client that can be asked waits here, each open question of the job is
// put to it with elicitation/create on this request's stream, tagged with the task, and the
// answer goes through the engine like claude_approve's. The SDK's own handler does the waiting
// and the result; this only asks alongside it (approval-elicitation.ts).
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { GetTaskPayloadRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { elicitApprovalsWhileWaiting } from './approval-elicitation.js';
import { installedHandler } from './strict-handlers.js';
import { mayAskHere, type ToolContext } from './tools.js';

/** Call after McpServer has installed its task handlers (it does so in its constructor). */
export function installTaskResultElicitation(server: McpServer, ctx: Pick<ToolContext, 'service' | 'rights'>): void {
  const taskResult = installedHandler(server, 'tasks/result');
  server.server.setRequestHandler(GetTaskPayloadRequestSchema, async (request, extra) => {
    if (!mayAskHere(server, ctx)) return (await taskResult(request, extra)) as never;
    const { taskId } = request.params;
    const viewer = () => ctx.rights().viewer;
    const waitOver = new AbortController();
    const stop = () => waitOver.abort();
    extra.signal.addEventListener('abort', stop, { once: true });
    const asking = elicitApprovalsWhileWaiting(server, ctx.service, taskId, viewer, extra.requestId, waitOver.signal, taskId)
      .catch((err: unknown) => ctx.service.log.warn({ err, taskId }, 'asking from tasks/result failed'));
    try {
      return (await taskResult(request, extra)) as never;
    } finally {
      stop();
      extra.signal.removeEventListener('abort', stop);
      // Nothing is left in flight on this request's stream once its answer goes out.
      await asking;
    }
  });
}

// Where McpServer 1.32.2 answers differently from the MCP 2025-11-25 text, these handlers answer
// first and hand everything else to McpServer's own:
// - tools/call of an unknown tool is a JSON-RPC error (-32602), not an isError result
//   (server/tools "Error Handling": unknown tools are protocol errors);
// - tools/call with `task` on a tool that does not support tasks is -32601 *before* anything runs
//   (basic/utilities/tasks "Tool-Level Negotiation"); McpServer runs the tool and only then fails;
// - claude_run with `task` that cannot start says why (the field, the cwd, the scope) instead of
//   McpServer's "Invalid task creation result" over an isError result;
// - tools/list with a cursor we never gave out is -32602 (there is one page), and its schemas have
//   no type arrays (json-schema.ts);
// - logging/setLevel with an unknown level is -32602 (McpServer: -32603 with a zod dump).
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, LoggingLevelSchema, McpError, type CreateTaskResult,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { startInputSchema } from '../jobs/schemas.js';
import { protocolError } from './errors.js';
import { withoutTypeArrays } from './json-schema.js';
import { createRunTask, type JobTaskStore } from './tasks.js';
import type { ToolContext } from './tools.js';

export type RawHandler = (request: unknown, extra: unknown) => Promise<unknown>;

/**
 * McpServer installs its handlers on the Server underneath; Protocol keeps them in a private map.
 * Reading it is the one way to wrap a handler rather than rewrite it (SDK 1.32.2, shared/protocol.js).
 */
export function installedHandler(server: McpServer, method: string): RawHandler {
  const handlers = (server.server as unknown as { _requestHandlers: Map<string, RawHandler> })._requestHandlers;
  const handler = handlers.get(method);
  if (!handler) throw new Error(`no ${method} handler installed yet`);
  return handler;
}

/** Field paths and messages of a zod failure, e.g. "prompt: Too small: expected string to have >=1 characters". */
function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(arguments)'}: ${issue.message}`).join('; ');
}

// Looser than the SDK's schemas so that a bad value reaches our handler and gets a clear -32602.
const setLevelRequest = z.object({ method: z.literal('logging/setLevel'), params: z.object({ level: z.unknown() }).passthrough() }).passthrough();
const listToolsRequest = z.object({ method: z.literal('tools/list'), params: z.object({ cursor: z.unknown().optional() }).passthrough().optional() }).passthrough();

export interface StrictContext {
  tools: ToolContext;
  taskStore: JobTaskStore;
}

/** Call after every tool, resource and prompt is registered. */
export function installStrictHandlers(server: McpServer, ctx: StrictContext): void {
  const callTool = installedHandler(server, 'tools/call');
  const listTools = installedHandler(server, 'tools/list');
  const setLevel = installedHandler(server, 'logging/setLevel');
  // McpServer's registry of tools, to read each tool's declared task support.
  const registered = (server as unknown as { _registeredTools: Record<string, { execution?: { taskSupport?: string } }> })._registeredTools;

  server.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, task } = request.params;
    const tool = registered[name];
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Call tools/list for the tools this server has.`);
    const taskSupport = tool.execution?.taskSupport ?? 'forbidden';
    if (task && taskSupport === 'forbidden') {
      throw new McpError(ErrorCode.MethodNotFound, `Tool ${name} does not support tasks (execution.taskSupport is "forbidden"): call it without "task". Nothing was run.`);
    }
    if (task && name === 'claude_run') return runAsTask(ctx, request.params.arguments);
    return (await callTool(request, extra)) as never;
  });

  server.server.setRequestHandler(listToolsRequest, async (request, extra) => {
    if (request.params?.cursor !== undefined) throw new McpError(ErrorCode.InvalidParams, 'Invalid cursor: tools/list has a single page, so there is no cursor to pass.');
    const answer = (await listTools(ListToolsRequestSchema.parse(request), extra)) as { tools: unknown[] };
    return { ...answer, tools: answer.tools.map((tool) => withoutTypeArrays(tool)) } as never;
  });

  server.server.setRequestHandler(setLevelRequest, async (request, extra) => {
    const level = LoggingLevelSchema.safeParse(request.params.level);
    if (!level.success) throw new McpError(ErrorCode.InvalidParams, `Invalid log level ${JSON.stringify(request.params.level)}: use one of ${LoggingLevelSchema.options.join(', ')}.`);
    return (await setLevel(request, extra)) as never;
  });
}

async function runAsTask(ctx: StrictContext, args: unknown): Promise<CreateTaskResult> {
  const parsed = startInputSchema.safeParse(args ?? {});
  if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, `Invalid arguments for claude_run: ${describeIssues(parsed.error)}`);
  try {
    return await createRunTask(ctx.tools, ctx.taskStore, parsed.data);
  } catch (error) {
    throw protocolError(error, (err) => ctx.tools.service.log.error({ err }, 'claude_run task creation failed'));
  }
}

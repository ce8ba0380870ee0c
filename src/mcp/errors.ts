// The one place engine errors become MCP tool errors: isError results with a message a model can
// act on. Anything unexpected becomes a generic message; its details go to the log, not the client.
import { ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { InvalidInput, JobError, JobNotFound, Unavailable } from '../jobs/errors.js';

export function toolError(error: unknown, log?: (error: unknown) => void): CallToolResult {
  let text: string;
  if (error instanceof JobError) text = error.message;
  else {
    log?.(error);
    text = 'Internal error while handling this tool call; the server log has details.';
  }
  return { isError: true, content: [{ type: 'text', text }] };
}

/** MCP's code for a resource that does not exist (or that this principal may not see). */
export const RESOURCE_NOT_FOUND = -32002;

/**
 * The same mapping for protocol requests that are not tool calls (resources, completions): a
 * JSON-RPC error instead of an isError result. Someone else's job reads exactly like a missing one.
 */
export function protocolError(error: unknown, log?: (error: unknown) => void): McpError {
  if (error instanceof McpError) return error;
  if (error instanceof JobNotFound) return new McpError(RESOURCE_NOT_FOUND, error.message, { jobId: error.jobId });
  if (error instanceof InvalidInput) return new McpError(ErrorCode.InvalidParams, error.message);
  // Not the request's fault and not a bug: the data tells a client when to retry.
  if (error instanceof Unavailable) return new McpError(ErrorCode.InternalError, error.message, { retryAfterSeconds: error.retryAfterSeconds });
  if (error instanceof JobError) return new McpError(ErrorCode.InvalidRequest, error.message);
  log?.(error);
  return new McpError(ErrorCode.InternalError, 'Internal error; the server log has details.');
}

// Jobs as MCP resources: `claude-async://jobs/{jobId}` (status and summary, JSON) and
// `claude-async://jobs/{jobId}/output` (the readable tail, text), with resources/list showing the
// principal's recent jobs and resources/subscribe handing the job to the session's JobWatcher.
// Ownership is the engine's: someone else's job is "not found", to read and to subscribe.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, ListResourcesRequestSchema, McpError, ReadResourceRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { InvalidInput, JobNotFound } from '../jobs/errors.js';
import { isJobId } from '../jobs/ids.js';
import type { Viewer } from '../jobs/records.js';
import type { JobView } from '../jobs/schemas.js';
import type { JobService } from '../jobs/service.js';
import { completeJobIds } from './completions.js';
import { protocolError, RESOURCE_NOT_FOUND } from './errors.js';
import type { JobWatcher } from './subscriptions.js';

export const JOB_URI_TEMPLATE = 'claude-async://jobs/{jobId}';
export const OUTPUT_URI_TEMPLATE = 'claude-async://jobs/{jobId}/output';
const LISTED_JOBS = 50;

export const jobUri = (jobId: string) => `claude-async://jobs/${jobId}`;
export const outputUri = (jobId: string) => `${jobUri(jobId)}/output`;

/**
 * The job a resource URI names, or null when it names none of ours. Only the canonical spelling
 * counts: no percent-escapes, a well-formed job id. `claude-async://jobs/%30…` would otherwise be
 * a second name (and a second subscription) for one job.
 */
export function parseJobUri(uri: string): { jobId: string; kind: 'job' | 'output' } | null {
  const match = /^claude-async:\/\/jobs\/([^/?#]+)(\/output)?$/.exec(uri);
  if (!match || !isJobId(match[1])) return null;
  return { jobId: match[1], kind: match[2] ? 'output' : 'job' };
}

/** MCP's answer for a resource that does not exist (server/resources "Error Handling"): -32002 with the uri. */
export function resourceNotFound(uri: string): McpError {
  return new McpError(RESOURCE_NOT_FOUND, `No such resource: ${uri}. Job resources look like ${JOB_URI_TEMPLATE}, spelled exactly so (no percent-escapes).`, { uri });
}

/** The job resource: everything claude_check says but the output itself. */
export function jobDocument(job: JobView): Record<string, unknown> {
  return { ...job, outputUri: outputUri(job.jobId) };
}

export interface ResourceContext {
  service: JobService;
  viewer: () => Viewer;
  watcher: JobWatcher;
  log?: (error: unknown) => void;
}

export function registerJobResources(server: McpServer, ctx: ResourceContext): void {
  const { service, viewer, watcher } = ctx;
  const complete = { jobId: completeJobIds(service, viewer) };
  /** Someone else's job reads exactly like a missing one: -32002 naming the uri. */
  const asProtocolError = (error: unknown, uri: string) => (error instanceof JobNotFound ? new McpError(RESOURCE_NOT_FOUND, error.message, { uri }) : protocolError(error, ctx.log));

  const readJob = async (uri: string, jobId: string): Promise<ReadResourceResult> => {
    const job = await service.job(jobId, viewer());
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(jobDocument(job), null, 2) }] };
  };
  const readOutput = async (uri: string, jobId: string): Promise<ReadResourceResult> => {
    const check = await service.check(jobId, viewer());
    return { contents: [{ uri, mimeType: 'text/plain', text: check.tail }] };
  };

  // Registered for resources/templates/list and completion; reads and lists are answered below.
  server.registerResource('job', new ResourceTemplate(JOB_URI_TEMPLATE, { list: undefined, complete }), {
    title: 'Claude Code job',
    description: 'A job\'s status, summary and, once it has ended, its result (JSON). Subscribe to hear when it changes.',
    mimeType: 'application/json',
  }, (uri) => readJob(uri.href, String(parseJobUri(uri.href)?.jobId)));
  server.registerResource('job-output', new ResourceTemplate(OUTPUT_URI_TEMPLATE, { list: undefined, complete }), {
    title: 'Claude Code job output',
    description: 'The latest readable output of a job (text): assistant text and one line per tool use.',
    mimeType: 'text/plain',
  }, (uri) => readOutput(uri.href, String(parseJobUri(uri.href)?.jobId)));

  // McpServer's own read answers -32602 for an unknown uri and accepts any spelling its template
  // matches; ours takes only canonical job URIs and answers -32002 with the uri otherwise.
  server.server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    const target = parseJobUri(uri);
    if (!target) throw resourceNotFound(uri);
    try {
      return await (target.kind === 'job' ? readJob(uri, target.jobId) : readOutput(uri, target.jobId));
    } catch (error) {
      throw asProtocolError(error, uri);
    }
  });

  // McpServer lists a template's resources in one page and never passes the cursor on: every job
  // is listed here, newest first, a page at a time. A cursor we never gave out is -32602.
  server.server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const cursor = request.params?.cursor;
    let page;
    try {
      page = await service.list(viewer(), { limit: LISTED_JOBS, ...(cursor !== undefined ? { cursor } : {}) });
    } catch (error) {
      if (error instanceof InvalidInput) throw new McpError(ErrorCode.InvalidParams, `Invalid cursor: pass the nextCursor of an earlier resources/list answer`);
      throw protocolError(error, ctx.log);
    }
    const resources = page.jobs.map((job) => ({
      uri: jobUri(job.jobId),
      name: job.jobId,
      title: job.title ?? `Job ${job.jobId}`,
      description: `${job.status} · ${job.cwd} · created ${new Date(job.createdAt).toISOString()}`,
      mimeType: 'application/json',
    }));
    return page.nextCursor ? { resources, nextCursor: page.nextCursor } : { resources };
  });

  // McpServer knows resources but not subscriptions: these two go to the Server underneath.
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const { uri } = request.params;
    const target = parseJobUri(uri);
    if (!target) throw resourceNotFound(uri);
    try {
      await watcher.subscribe(uri, target.jobId);
    } catch (error) {
      throw asProtocolError(error, uri);
    }
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    if (!parseJobUri(request.params.uri)) throw new McpError(ErrorCode.InvalidParams, `Not a job resource: ${request.params.uri}`);
    watcher.unsubscribe(request.params.uri);
    return {};
  });
}

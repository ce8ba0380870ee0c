// Jobs as MCP resources: `claude-async://jobs/{jobId}` (status and summary, JSON) and
// `claude-async://jobs/{jobId}/output` (the readable tail, text), with resources/list showing the
// principal's recent jobs and resources/subscribe handing the job to the session's JobWatcher.
// Ownership is the engine's: someone else's job is "not found", to read and to subscribe.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, SubscribeRequestSchema, UnsubscribeRequestSchema, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { Viewer } from '../jobs/records.js';
import type { CheckOutput } from '../jobs/schemas.js';
import type { JobService } from '../jobs/service.js';
import { completeJobIds } from './completions.js';
import { protocolError, RESOURCE_NOT_FOUND } from './errors.js';
import type { JobWatcher } from './subscriptions.js';

export const JOB_URI_TEMPLATE = 'claude-async://jobs/{jobId}';
export const OUTPUT_URI_TEMPLATE = 'claude-async://jobs/{jobId}/output';
const LISTED_JOBS = 50;

export const jobUri = (jobId: string) => `claude-async://jobs/${jobId}`;
export const outputUri = (jobId: string) => `${jobUri(jobId)}/output`;

/** The job a resource URI names, or null when it names none of ours. */
export function parseJobUri(uri: string): { jobId: string; kind: 'job' | 'output' } | null {
  const match = /^claude-async:\/\/jobs\/([^/?#]+)(\/output)?$/.exec(uri);
  return match ? { jobId: decodeURIComponent(match[1]!), kind: match[2] ? 'output' : 'job' } : null;
}

/** The job resource: everything claude_check says but the output itself. */
export function jobDocument(check: CheckOutput): Record<string, unknown> {
  const { tail: _tail, offset: _offset, hasMore: _hasMore, ...summary } = check;
  return { ...summary, outputUri: outputUri(check.jobId) };
}

export interface ResourceContext {
  service: JobService;
  viewer: Viewer;
  watcher: JobWatcher;
  log?: (error: unknown) => void;
}

export function registerJobResources(server: McpServer, ctx: ResourceContext): void {
  const { service, viewer, watcher } = ctx;
  const complete = { jobId: completeJobIds(service, viewer) };
  const variable = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value) ?? '';
  const read = async (fn: () => Promise<ReadResourceResult>) => {
    try {
      return await fn();
    } catch (error) {
      throw protocolError(error, ctx.log);
    }
  };

  const jobs = new ResourceTemplate(JOB_URI_TEMPLATE, {
    list: async () => {
      const page = await service.list({ limit: LISTED_JOBS }, viewer);
      return {
        resources: page.jobs.map((job) => ({
          uri: jobUri(job.jobId),
          name: job.jobId,
          title: job.title ?? `Job ${job.jobId}`,
          description: `${job.status} · ${job.cwd} · created ${new Date(job.createdAt).toISOString()}`,
          mimeType: 'application/json',
        })),
      };
    },
    complete,
  });
  server.registerResource('job', jobs, {
    title: 'Claude Code job',
    description: 'A job\'s status, summary and, once it has ended, its result (JSON). Subscribe to hear when it changes.',
    mimeType: 'application/json',
  }, (uri, variables) => read(async () => {
    const check = await service.check({ jobId: variable(variables.jobId), tailBytes: 0 }, viewer);
    return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(jobDocument(check), null, 2) }] };
  }));

  server.registerResource('job-output', new ResourceTemplate(OUTPUT_URI_TEMPLATE, { list: undefined, complete }), {
    title: 'Claude Code job output',
    description: 'The latest readable output of a job (text): assistant text and one line per tool use.',
    mimeType: 'text/plain',
  }, (uri, variables) => read(async () => {
    const check = await service.check({ jobId: variable(variables.jobId) }, viewer);
    return { contents: [{ uri: uri.href, mimeType: 'text/plain', text: check.tail }] };
  }));

  // McpServer knows resources but not subscriptions: these two go to the Server underneath.
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const target = parseJobUri(request.params.uri);
    if (!target) throw new McpError(RESOURCE_NOT_FOUND, `No such resource: ${request.params.uri}. Job resources look like ${JOB_URI_TEMPLATE}.`);
    try {
      await watcher.subscribe(request.params.uri, target.jobId);
    } catch (error) {
      throw protocolError(error, ctx.log);
    }
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    if (!parseJobUri(request.params.uri)) throw new McpError(ErrorCode.InvalidParams, `Not a job resource: ${request.params.uri}`);
    watcher.unsubscribe(request.params.uri);
    return {};
  });
}

// MCP Tasks backed by the job engine. A task *is* a job (taskId = jobId): the engine's disk is the
// task store, so a task outlives the session and the server process that created it, and any of the
// principal's jobs (claude_start's too) can be followed with tasks/get and tasks/result.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import type { CallToolResult, CreateTaskResult, Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { InvalidInput, JobNotFound } from '../jobs/errors.js';
import { checkOutputSchema, startInputSchema, type JobStatus, type JobSummary, type StartInput } from '../jobs/schemas.js';
import { toolError } from './errors.js';
import { checkResult, needWrite, type ToolContext } from './tools.js';

/** How often a task client should poll; also the SDK's wait step inside tasks/result. */
export const TASK_POLL_INTERVAL_MS = 1000;
const LIST_PAGE = 50;

/** The server capability that goes with this store: tasks/list, tasks/cancel, task-augmented tools/call. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

/** Job status → task status. `unknown` (an unreadable job folder) will not fix itself: failed. */
export function taskStatusOf(status: JobStatus): Task['status'] {
  switch (status) {
    case 'queued':
    case 'running':
      return 'working';
    case 'completed':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    case 'failed':
    case 'timed_out':
    case 'orphaned':
    case 'unknown':
      return 'failed';
  }
}

/** @param job.pendingApprovals questions the job waits on (approvals): the task needs input meanwhile */
export function taskOf(job: JobSummary & { pendingApprovals?: readonly unknown[] }, ttlMs: number | null): Task {
  const iso = (ms: number) => new Date(ms).toISOString();
  const status = taskStatusOf(job.status);
  const questions = job.pendingApprovals?.length ?? 0;
  const asking = status === 'working' && questions > 0;
  const reason = asking
    ? `: waiting for your answer to ${questions} question${questions === 1 ? '' : 's'} (pendingApprovals in claude_check; answer with claude_approve)`
    : job.statusReason ? `: ${job.statusReason}` : '';
  return {
    taskId: job.jobId,
    status: asking ? 'input_required' : status,
    ttl: ttlMs,
    createdAt: iso(job.createdAt),
    lastUpdatedAt: iso(job.endedAt ?? job.startedAt ?? job.createdAt),
    pollInterval: TASK_POLL_INTERVAL_MS,
    statusMessage: `job ${job.status}${reason}`,
  };
}

/**
 * The SDK's TaskStore over JobService, bound to one viewer (one per McpServer, which is one per
 * session): ownership is the principal's, not the session's, so a new session of the same principal
 * sees its tasks and another principal's task reads as missing (null → "Task not found").
 */
export class JobTaskStore implements TaskStore {
  private readonly ttlMs: number | null;

  constructor(private readonly ctx: Pick<ToolContext, 'service' | 'rights'>) {
    // Results stay as long as the job folder does; retention 0 keeps them forever.
    this.ttlMs = ctx.service.config.retentionMs > 0 ? ctx.service.config.retentionMs : null;
  }

  task(job: JobSummary & { pendingApprovals?: readonly unknown[] }): Task {
    return taskOf(job, this.ttlMs);
  }

  createTask(_params: CreateTaskOptions, _requestId: RequestId, request: Request): Promise<Task> {
    // claude_run creates its job through the engine and never asks the store to invent a task.
    return Promise.reject(new Error(`${request.method} cannot create a task here; call claude_run as a task`));
  }

  async getTask(taskId: string): Promise<Task | null> {
    try {
      return this.task(await this.ctx.service.job(taskId, this.ctx.rights().viewer));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  storeTaskResult(taskId: string): Promise<void> {
    return Promise.reject(new Error(`task ${taskId}: a job's result is written by the job itself`));
  }

  async getTaskResult(taskId: string): Promise<Result> {
    return checkResult(await this.ctx.service.check(taskId, this.ctx.rights().viewer));
  }

  async updateTaskStatus(taskId: string, status: Task['status']): Promise<void> {
    // The only transition a client may ask for is tasks/cancel; jobs move on their own otherwise.
    if (status !== 'cancelled') return;
    needWrite(this.ctx);
    await this.ctx.service.cancel(taskId, this.ctx.rights().viewer);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    const page = await this.ctx.service.list(this.ctx.rights().viewer, { limit: LIST_PAGE, ...(cursor ? { cursor } : {}) });
    const tasks = page.jobs.map((job) => this.task(job));
    return page.nextCursor ? { tasks, nextCursor: page.nextCursor } : { tasks };
  }
}

/** A bad id (InvalidInput) is as missing as an unknown one: both become "Task not found". */
function isMissing(error: unknown): boolean {
  return error instanceof JobNotFound || error instanceof InvalidInput;
}

/**
 * claude_run: claude_start's twin that declares task support. A task-capable client gets a task at
 * once and follows it with tasks/get / tasks/result; any other client gets the plain claude_check
 * result when the job ends (the SDK polls the store for it: server/mcp.js handleAutomaticTaskPolling).
 * claude_start keeps answering at once for everyone, which taskSupport on it could not.
 */
/**
 * Starts claude_run's job and answers with its task. Engine errors (an empty prompt, a cwd outside
 * the roots, a read-only token) are thrown as they are: the caller decides how to say them.
 */
export async function createRunTask(ctx: ToolContext, store: JobTaskStore, args: StartInput): Promise<CreateTaskResult> {
  needWrite(ctx);
  const viewer = ctx.rights().viewer;
  const { jobId } = await ctx.service.start(args, viewer);
  ctx.onJobsChanged?.();
  ctx.onJobStarted?.(jobId, true);
  return { task: store.task(await ctx.service.job(jobId, viewer)) };
}

export function registerRunTool(server: McpServer, ctx: ToolContext, store: JobTaskStore): void {
  server.experimental.tasks.registerToolTask('claude_run', {
    title: 'Run a Claude Code job as a task',
    description: `Run a Claude Code task in the background as an MCP task: clients with task support get a task to poll (tasks/get) and its result (tasks/result, the same as claude_check's). Without task support this call waits until the job ends, so prefer claude_start for anything that may take longer than your tool-call timeout.`,
    inputSchema: startInputSchema,
    outputSchema: checkOutputSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    execution: { taskSupport: 'optional' },
  }, {
    // Only the no-task path comes here (the SDK then polls the store for the result); a
    // task-augmented call is answered by strict-handlers.ts, which can give a failure its reason.
    createTask: async (args) => {
      try {
        return await createRunTask(ctx, store, args as StartInput);
      } catch (error) {
        // The SDK turns a throw into an isError result with this message: the same text claude_start gives.
        const text = toolError(error).content.map((c) => (c.type === 'text' ? c.text : '')).join('');
        throw new Error(text);
      }
    },
    // McpServer 1.32.2 never calls these two (tasks/get and tasks/result go to the TaskStore); the
    // interface requires them, so they answer the same way.
    getTask: async (_args, extra) => {
      const task = await store.getTask(extra.taskId);
      if (!task) throw new Error(`No such task: ${extra.taskId}`);
      return task;
    },
    getTaskResult: async (_args, extra) => (await store.getTaskResult(extra.taskId)) as CallToolResult,
  });
}

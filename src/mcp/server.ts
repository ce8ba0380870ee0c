// One McpServer per session (or per stdio connection). Who may do what is looked up per request
// (rights.ts); the session only fixes whose session it is (the route checks the principal id).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { JobService } from '../jobs/service.js';
import { JobLifecycle, type LifecycleOptions } from './job-events.js';
import { registerPrompts } from './prompts.js';
import { registerJobResources } from './resources.js';
import type { RightsSource } from './rights.js';
import { installStrictHandlers } from './strict-handlers.js';
import { installTaskResultElicitation } from './task-result-elicitation.js';
import { JobWatcher, type WatcherOptions } from './subscriptions.js';
import { JobTaskStore, TASKS_CAPABILITY, registerRunTool } from './tasks.js';
import { registerJobTools, type ToolContext } from './tools.js';
import { VERSION } from '../version.js';

export interface McpServerOptions {
  service: JobService;
  /** The rights of the request being handled. */
  rights: RightsSource;
  /**
   * The rights background work goes by (subscription polls, the lifecycle log): over HTTP those of
   * the session's latest request. Timers started inside a request would otherwise keep that
   * request's rights forever (async context follows them). Default: `rights`.
   */
  backgroundRights?: RightsSource;
  /** Poll and throttle periods of resource subscriptions; tests shorten them. */
  watch?: WatcherOptions;
  /** Poll period of the job lifecycle log; tests shorten it. */
  lifecycle?: LifecycleOptions;
}

export function createMcpServer(options: McpServerOptions): McpServer {
  const { service, rights } = options;
  const viewer = () => rights().viewer;
  const background = options.backgroundRights ?? rights;
  const backgroundViewer = () => background().viewer;
  const taskStore = new JobTaskStore({ service, rights });
  const server = new McpServer(
    { name: 'claude-async', title: 'Claude Code, async', version: VERSION },
    {
      // Only what is implemented and delivered: logging carries the lifecycle of the jobs a session
      // starts (job-events.ts); resources/updated and list_changed come from the JobWatcher.
      capabilities: {
        tools: { listChanged: false },
        logging: {},
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: false },
        completions: {},
        tasks: TASKS_CAPABILITY,
      },
      // The job engine is the task store: tasks survive sessions and restarts (see tasks.ts).
      taskStore,
      instructions:
        'Runs long Claude Code tasks in the background. Call claude_start, keep the jobId, then poll with claude_wait or claude_check until the job ends; never expect one call to run the whole task. Clients with MCP task support can call claude_run as a task instead. Jobs are also resources (claude-async://jobs/{jobId}) you can read and subscribe to.',
    },
  );

  const log = (err: unknown) => service.log.warn({ err }, 'mcp notifications');
  const connected = () => server.isConnected();
  const watcher = new JobWatcher(service, backgroundViewer, {
    updated: (uri) => (connected() ? server.server.sendResourceUpdated({ uri }) : Promise.resolve()),
    listChanged: () => (connected() ? server.server.sendResourceListChanged() : Promise.resolve()),
  }, { log, ...options.watch });
  const lifecycle = new JobLifecycle(service, backgroundViewer, {
    // The session id keys the level the client chose with logging/setLevel.
    log: (level, data) => (connected() ? server.server.sendLoggingMessage({ level, logger: 'claude-async.jobs', data }, server.server.transport?.sessionId) : Promise.resolve()),
    taskStatus: async (job, previous) => {
      const task = taskStore.task(job);
      // input_required ⇄ working counts as a change, though the job stays `running` throughout.
      const before = taskStore.task({ ...job, status: previous.status, pendingApprovals: Array.from({ length: previous.pendingApprovals }) });
      if (!connected() || task.status === before.status) return;
      await server.server.notification({ method: 'notifications/tasks/status', params: { ...task } });
    },
  }, { log, ...options.lifecycle });
  const tools: ToolContext = {
    service,
    rights,
    onJobsChanged: () => watcher.jobsChanged(),
    onJobStarted: (jobId, asTask) => lifecycle.follow(jobId, asTask),
  };

  registerJobTools(server, tools);
  registerRunTool(server, tools, taskStore);
  registerJobResources(server, { service, viewer, watcher, log });
  registerPrompts(server);
  installStrictHandlers(server, { tools, taskStore });
  installTaskResultElicitation(server, tools);
  // McpServer marks tools and prompts listChanged: true when it installs their handlers; we never
  // change either list, so say so.
  server.server.registerCapabilities({ tools: { listChanged: false }, prompts: { listChanged: false } });

  // The periodic list check starts once a client is really there, and every timer ends with the
  // connection.
  const { oninitialized, onclose } = server.server;
  server.server.oninitialized = () => {
    oninitialized?.();
    watcher.watchList();
  };
  server.server.onclose = () => {
    onclose?.();
    watcher.close();
    lifecycle.close();
  };
  return server;
}



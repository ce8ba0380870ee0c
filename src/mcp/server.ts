// One McpServer per session (or per stdio connection), bound to the principal that opened it.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { JobService } from '../jobs/service.js';
import type { Viewer } from '../jobs/records.js';
import { registerPrompts } from './prompts.js';
import { registerJobResources } from './resources.js';
import { JobWatcher, type WatcherOptions } from './subscriptions.js';
import { JobTaskStore, TASKS_CAPABILITY, registerRunTool } from './tasks.js';
import { registerJobTools, type ToolContext } from './tools.js';
import { VERSION } from '../version.js';

export interface McpServerOptions {
  service: JobService;
  viewer: Viewer;
  canWrite: boolean;
  /** Poll and throttle periods of resource subscriptions; tests shorten them. */
  watch?: WatcherOptions;
}

export function createMcpServer(options: McpServerOptions): McpServer {
  const { service, viewer } = options;
  const taskStore = new JobTaskStore(options);
  const server = new McpServer(
    { name: 'claude-async', title: 'Claude Code, async', version: VERSION },
    {
      // Only what is implemented. Tools and prompts never change at run time; jobs (resources) do.
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

  const log = (err: unknown) => service.log.warn({ err }, 'mcp resource watcher');
  const watcher = new JobWatcher(service, viewer, {
    updated: (uri) => (server.isConnected() ? server.server.sendResourceUpdated({ uri }) : Promise.resolve()),
    listChanged: () => (server.isConnected() ? server.server.sendResourceListChanged() : Promise.resolve()),
  }, { log, ...options.watch });
  const tools: ToolContext = { ...options, onJobsChanged: () => watcher.jobsChanged() };

  registerJobTools(server, tools);
  registerRunTool(server, tools, taskStore);
  registerJobResources(server, { service, viewer, watcher, log });
  registerPrompts(server);
  // McpServer marks tools and prompts listChanged: true when it installs their handlers; we never
  // change either list, so say so.
  server.server.registerCapabilities({ tools: { listChanged: false }, prompts: { listChanged: false } });

  // The periodic list check starts once a client is really there (not for one-shot JSON answers),
  // and every timer ends with the connection.
  const { oninitialized, onclose } = server.server;
  server.server.oninitialized = () => {
    oninitialized?.();
    watcher.watchList();
  };
  server.server.onclose = () => {
    onclose?.();
    watcher.close();
  };
  return server;
}

// The delegate_to_claude prompt: teaches a model the start → wait/check → result loop, so a host
// that shows prompts (slash commands) can hand a task to a background Claude Code job in one step.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { MAX_WAIT_SECONDS } from './tools.js';

function delegatePromptText(task: string, cwd?: string): string {
  const where = cwd ? `, with cwd ${JSON.stringify(cwd)}` : '';
  return [
    'Delegate the task below to a background Claude Code job on the claude-async server, and report its result.',
    '',
    `1. Call claude_start with the task as prompt${where}. Write the prompt so it stands alone: the job does not see this conversation. Keep the jobId it returns.`,
    `2. Call claude_wait with that jobId (it blocks up to ${MAX_WAIT_SECONDS} s and returns early when the job ends). If the status is still queued or running, call claude_wait again; use claude_check (instant) when you only want a look. Pass the last nextOffset as offset to claude_check to read only new output.`,
    '3. Stop when the status is completed, failed, cancelled, timed_out or orphaned. Report result.result; on any status but completed, say what went wrong, using the tail of the output.',
    '4. To follow up in the same Claude session, call claude_start again with resumeSessionId set to result.sessionId.',
    'Never expect one call to run the whole task. If the user changes their mind, call claude_cancel.',
    '',
    'Task:',
    task,
  ].join('\n');
}

export function registerPrompts(server: McpServer): void {
  server.registerPrompt('delegate_to_claude', {
    title: 'Delegate a task to Claude Code',
    description: 'Hand a task to a background Claude Code job and follow it to its result (start → wait/check → result).',
    argsSchema: {
      task: z.string().min(1).describe('What Claude Code should do, as you would type it.'),
      cwd: z.string().optional().describe('Working directory for the job (inside the server\'s allowed roots).'),
    },
  }, ({ task, cwd }) => ({
    description: 'Run a task as a background Claude Code job',
    messages: [{ role: 'user', content: { type: 'text', text: delegatePromptText(task, cwd) } }],
  }));
}

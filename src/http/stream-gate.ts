// Which /mcp requests hold a response open for long, and the gate that counts them against the
// principal's stream cap (src/auth/open-streams.ts): the GET event stream, and POSTs that block
// until a job moves: claude_wait, claude_run called without a task (it waits for the job), and
// tasks/result. Everything else answers in milliseconds and is not counted, so a client may still
// send many short calls at once.
import type { Request, Response } from 'express';
import type { OpenStreams } from '../auth/open-streams.js';
import { LimitExceeded } from '../jobs/errors.js';
import { jsonRpcError } from './json-rpc.js';

/** The first message in a POST body that blocks until a job moves, named for errors and logs. */
function blockingMcpCall(body: unknown): string | undefined {
  const messages = Array.isArray(body) ? body : [body];
  for (const m of messages) {
    const msg = m as { method?: unknown; params?: { name?: unknown; task?: unknown } } | null;
    if (!msg || typeof msg !== 'object') continue;
    if (msg.method === 'tasks/result') return 'tasks/result';
    if (msg.method !== 'tools/call') continue;
    if (msg.params?.name === 'claude_wait') return 'claude_wait';
    if (msg.params?.name === 'claude_run' && msg.params.task === undefined) return 'claude_run';
  }
  return undefined;
}

/**
 * Counts a long-lived /mcp request against its principal's cap until its response closes. False
 * when the cap is reached: a 429 has been sent. A revoked token ends the response like a client
 * that hung up (the SDK's transport cleans up after both the same way).
 */
export function holdMcpStream(streams: OpenStreams | undefined, req: Request, res: Response): boolean {
  if (!streams || !req.principal) return true;
  if (req.method !== 'GET' && !(req.method === 'POST' && blockingMcpCall(req.body))) return true;
  try {
    const lease = streams.open(req.principal, req.headers.authorization, () => res.destroy());
    res.once('close', () => lease.release());
    return true;
  } catch (error) {
    if (!(error instanceof LimitExceeded)) throw error;
    res.status(429).set('Retry-After', String(error.retryAfterSeconds ?? 5)).json(jsonRpcError(-32000, error.message, req.body));
    return false;
  }
}

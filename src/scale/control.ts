// Requests from a front to one worker over Redis (cancel a job, remove its folder, read a page of its
// log beyond what Redis keeps, answer a job's question) and the one answer to each. A request is pushed on the worker's control
// list with a deadline; the worker pops requests one by one and pushes the answer on a reply list the
// requester blocks on. A request past its deadline is dropped unread: a worker back from the dead
// never acts on a cancel nobody waits for any more.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ApproveInput } from '../approvals/schemas.js';
import { keys } from './keys.js';

export type ControlRequest =
  | { op: 'cancel'; jobId: string }
  | { op: 'remove'; jobId: string }
  | { op: 'tail'; jobId: string; tailBytes: number; offset?: number }
  | { op: 'read'; jobId: string; start: number; length: number }
  | { op: 'approve'; jobId: string; answer: ApproveInput; answeredBy: string };

export interface ControlEnvelope {
  requestId: string;
  deadline: number;
  request: ControlRequest;
}

export type ControlReply = { ok: true; value: unknown } | { ok: false; error: { name: string; message: string } };

/** The worker did not answer in time (it is gone, frozen or busy). */
export class ControlTimeout extends Error {
  override name = 'ControlTimeout';
}

/** Sends one request and waits for its answer (a blocking connection of its own for the wait). */
export async function sendControl(redis: Redis, workerId: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply> {
  const envelope: ControlEnvelope = { requestId: randomUUID(), deadline: Date.now() + timeoutMs, request };
  // Its own connection: BLPOP blocks it. Queued until connected, and no command timeout on the wait.
  const waiter = redis.duplicate({ enableOfflineQueue: true, commandTimeout: undefined, maxRetriesPerRequest: null });
  try {
    await redis.rpush(keys.control(workerId), JSON.stringify(envelope));
    const answer = await waiter.blpop(keys.reply(envelope.requestId), Math.max(1, Math.ceil(timeoutMs / 1000)));
    if (!answer) throw new ControlTimeout(`the worker ${workerId} did not answer within ${Math.round(timeoutMs / 1000)} s`);
    return JSON.parse(answer[1]) as ControlReply;
  } finally {
    waiter.disconnect();
  }
}

/** Worker side: the next request that is still wanted, or null after waiting `blockSeconds`. */
export async function nextControl(blocking: Redis, workerId: string, blockSeconds: number): Promise<ControlEnvelope | null> {
  const popped = await blocking.blpop(keys.control(workerId), blockSeconds);
  if (!popped) return null;
  try {
    const envelope = JSON.parse(popped[1]) as ControlEnvelope;
    return envelope.deadline >= Date.now() ? envelope : null;
  } catch {
    return null;
  }
}

export async function replyControl(redis: Redis, envelope: ControlEnvelope, reply: ControlReply): Promise<void> {
  const key = keys.reply(envelope.requestId);
  // The requester may have given up: the answer expires soon after its deadline.
  await redis.multi().rpush(key, JSON.stringify(reply)).pexpire(key, Math.max(1000, envelope.deadline - Date.now() + 5000)).exec();
}

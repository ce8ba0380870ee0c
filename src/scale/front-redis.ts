// The Redis client a front uses on the request path, and the one translation of its failures.
// A request must not hang or queue while Redis is away: with the offline queue off and a command
// timeout, a stopped, frozen (SIGSTOP) or unreachable Redis fails the call at once, and the face
// answers 503 + Retry-After (Unavailable) instead of holding the client or answering 500.
import { Redis } from 'ioredis';
import { Unavailable } from '../jobs/errors.js';

export interface FrontRedisOptions {
  /** A command without an answer in this long fails (a frozen Redis keeps the TCP connection). */
  commandTimeoutMs?: number;
  /** Longest pause between reconnect attempts; the client reconnects forever. */
  maxReconnectDelayMs?: number;
  /** Connection problems (ioredis emits them as 'error' events); never carries the URL. */
  onError?: (error: Error) => void;
}

/** Seconds a client is told to wait when Redis does not answer. */
export const REDIS_RETRY_AFTER_SECONDS = 5;

export function openFrontRedis(url: string, options: FrontRedisOptions = {}): Redis {
  const maxDelay = options.maxReconnectDelayMs ?? 1000;
  const client = new Redis(url, {
    commandTimeout: options.commandTimeoutMs ?? 2000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, maxDelay),
    // The first connection is made in the background; calls before it is up fail as Unavailable.
    lazyConnect: false,
  });
  client.on('error', (error: Error) => options.onError?.(error));
  return client;
}

/**
 * Runs one Redis operation; any failure of Redis itself (refused, reset, timed out, LOADING after a
 * restart, out of memory) becomes Unavailable naming `what` was being done. The cause stays on the
 * error for the log; the message never carries the URL (it may hold a password).
 */
export async function onRedis<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (cause) {
    const error = new Unavailable(`The shared store (Redis) did not answer (${what})`, REDIS_RETRY_AFTER_SECONDS);
    (error as Error & { cause?: unknown }).cause = cause;
    throw error;
  }
}

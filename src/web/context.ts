// What every view gets: the API client, what the server allows this principal, where to draw, and a
// signal that aborts when the view is left (timers, streams and fetches stop with it).
import type { Api } from './api.js';
import type { Info } from './types.js';

export interface ViewContext {
  api: Api;
  info: Info;
  main: HTMLElement;
  signal: AbortSignal;
  /** Says something to screen readers (and shows it in the status line). */
  announce(message: string): void;
  /** Goes to a route such as '#/jobs/ID'. */
  go(hash: string): void;
}

export const canWrite = (info: Info) => info.principal.scopes.includes('jobs:write') || info.principal.admin;

/** Every interval of a view in one place, stopped when the view is left. */
export function every(ms: number, signal: AbortSignal, fn: () => void): void {
  const timer = setInterval(fn, ms);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}

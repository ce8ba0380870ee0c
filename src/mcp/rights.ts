// What the caller of one MCP request may do. Over HTTP every request carries its own bearer token,
// so rights are looked up per request (issue: a session opened by an admin token must not lend
// admin to a later read-only token of the same subject). The route runs each request inside
// `withRights`; everything the SDK calls for that request (tool handlers, resource reads,
// completions, the task store) runs in the same async context and reads it with `currentRights`.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Viewer } from '../jobs/records.js';

export interface Rights {
  viewer: Viewer;
  /** False for a read-only principal: start and cancel answer with a scope error. */
  canWrite: boolean;
}

const perRequest = new AsyncLocalStorage<Rights>();

export function withRights<T>(rights: Rights, fn: () => T): T {
  return perRequest.run(rights, fn);
}

/** The rights of the request being handled, if any (background work has none). */
export function requestRights(): Rights | undefined {
  return perRequest.getStore();
}

/** Fixed rights (stdio, tests), or per request with a fallback for work outside any request. */
export type RightsSource = () => Rights;

export const fixedRights = (rights: Rights): RightsSource => () => rights;

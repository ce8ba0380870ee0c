// One thing started for all the tests of a describe (a browser, a server process): started before
// the first test, ended after the last, also when a test failed, and not ended when it never
// started. Written once, so no suite gets the "start-up failed, nothing to stop" case wrong by hand.
import { after, before } from 'node:test';

/** Call inside a describe. The getter gives what `start` made; call it inside tests (or hooks after it). */
export function forSuite<T>(start: () => Promise<T>, end: (started: T) => unknown): () => T {
  let started: { value: T } | undefined;
  before(async () => {
    started = { value: await start() };
  });
  after(async () => {
    if (started) await end(started.value);
  });
  return () => {
    if (!started) throw new Error('forSuite: what the suite uses is started in a before hook; use it inside tests');
    return started.value;
  };
}

/**
 * forSuite for a plain object whose methods are closures (RealServer): its fields are copied onto the
 * returned object once started, so tests use it directly. It is empty until the before hook has run.
 */
export function suiteObject<T extends object>(start: () => Promise<T>, end: (started: T) => unknown): T {
  const shared = {} as T;
  forSuite(async () => Object.assign(shared, await start()), end);
  return shared;
}

// The Redis keys of the limits that fronts share (start rate, failed auth, Idempotency-Key). They sit
// beside the shared backend's keys under the same prefix; every one carries a TTL, so Redis memory
// for limits stays bounded by the traffic of the last window.
const PREFIX = 'claude-async';

export const limitKeys = {
  /** Sorted set per principal: one member per start, scored by its time (ms). */
  starts: (principal: string) => `${PREFIX}:limit:starts:${principal}`,
  /** Counter per client IP for the current one-minute window of failed authentications. */
  authFailures: (ip: string) => `${PREFIX}:limit:authfail:${ip}`,
  /** String per (owner, key) hash: the job id chosen for that Idempotency-Key and the first answer. */
  idempotency: (id: string) => `${PREFIX}:idempotency:${id}`,
};

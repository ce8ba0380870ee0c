// Job labels (issue #17): a job may name labels, and only a host that carries every one of them
// runs it (a GPU, a licence, a big disk). Workers name theirs in CLAUDE_ASYNC_WORKER_LABELS; the
// shared backend routes by them (scale/routing.ts), the local backend checks its own. Labels are
// shown back in lists and log lines, so they are plain words.
export const LABEL_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const LABEL_RULE = '1 to 64 letters, digits, dots, dashes or underscores';
/** A job names at most this many: a routing hint, not a query language. */
export const MAX_JOB_LABELS = 16;

/** The labels of `wanted` that `carried` lacks, in the order they were asked for. */
export function missingLabels(carried: readonly string[], wanted: readonly string[]): string[] {
  return wanted.filter((label) => !carried.includes(label));
}

/** How a set of labels reads in a message: `gpu, big-disk`. */
export const showLabels = (labels: readonly string[]): string => labels.join(', ');

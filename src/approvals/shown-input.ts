// How much of a question's tool input the faces show. A `Write` of a big file asks with the whole
// file as its input: shown whole, it would ride along in every check and poll of the job (and in the
// job's Redis hash on the shared backend). Past a budget, long strings are cut to their head; the
// whole input stays in the question file (it is what runs on allow) and in the job's output.
import type { PendingApproval } from './schemas.js';

/** The most of a question's input (as JSON) that a check, list or event carries. */
export const SHOWN_INPUT_BYTES = 64 * 1024;
/** Tried in turn until the input fits: strings cut to this many characters. */
const STRING_HEADS = [16 * 1024, 2 * 1024, 256];

type Shown = Pick<PendingApproval, 'input' | 'inputTruncated' | 'inputBytes'>;

/** The input as shown: itself when it fits, else with long strings cut (and how big it really is). */
export function shownInput(input: Record<string, unknown>): Shown {
  const inputBytes = Buffer.byteLength(JSON.stringify(input));
  if (inputBytes <= SHOWN_INPUT_BYTES) return { input };
  for (const head of STRING_HEADS) {
    const cut = cutStrings(input, head) as Record<string, unknown>;
    if (Buffer.byteLength(JSON.stringify(cut)) <= SHOWN_INPUT_BYTES) return { input: cut, inputTruncated: true, inputBytes };
  }
  // So many fields that even their heads do not fit (a huge MultiEdit): show none of it.
  return { input: {}, inputTruncated: true, inputBytes };
}

function cutStrings(value: unknown, head: number): unknown {
  if (typeof value === 'string') return value.length > head ? `${value.slice(0, head)}… [${value.length - head} more characters]` : value;
  if (Array.isArray(value)) return value.map((item) => cutStrings(item, head));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cutStrings(item, head)]));
  return value;
}

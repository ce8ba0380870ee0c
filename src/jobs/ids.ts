// Job ids: 26 characters of lowercase Crockford base32, ULID layout (48-bit ms timestamp + 80 random
// bits). Sorting ids as strings sorts jobs by creation time, they are URL-safe, and the pattern
// admits no '/', '.', or NUL, so a valid id can never name a path outside the jobs folder.
import { randomBytes } from 'node:crypto';
import { InvalidInput } from './errors.js';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const JOB_ID_PATTERN = /^[0-9a-hjkmnp-tv-z]{26}$/;

let lastTime = -1;
let lastRandom: number[] = [];

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** Monotonic within one process: ids made in the same millisecond still sort in creation order. */
export function newJobId(now = Date.now()): string {
  if (now <= lastTime) {
    now = lastTime;
    let i = lastRandom.length - 1;
    while (i >= 0 && lastRandom[i] === 31) lastRandom[i--] = 0;
    if (i >= 0) lastRandom[i] = (lastRandom[i] ?? 0) + 1;
  } else {
    lastTime = now;
    // 16 symbols of 5 bits; the first is kept below 16 so increments never overflow in practice.
    lastRandom = [...randomBytes(16)].map((b, i) => (i === 0 ? b % 16 : b % 32));
  }
  return encodeTime(now) + lastRandom.map((n) => ALPHABET[n]).join('');
}

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID_PATTERN.test(value);
}

/** Checks a client-supplied id before it touches the disk. */
export function assertJobId(value: unknown): string {
  if (!isJobId(value)) {
    throw new InvalidInput('jobId is not a valid job id (26 lowercase letters and digits, as returned by claude_start).', 'jobId');
  }
  return value;
}

export function jobIdTime(jobId: string): number {
  let ms = 0;
  for (const ch of jobId.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(ch);
  return ms;
}

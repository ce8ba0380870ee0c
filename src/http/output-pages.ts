// Pages of a job's raw log for GET /v1/jobs/{jobId}/output. Each read touches only its window, so
// a page of a 100 MB log costs what a page of a 1 KB one does; pages end on a line boundary when
// the window holds one, so a client can parse each page as whole JSON lines.
import { renderLine } from '../jobs/output.js';
import type { JobOutput } from '../jobs/service.js';
import { HttpProblem } from './problem.js';

export const DEFAULT_PAGE_BYTES = 1024 * 1024;
export const MAX_PAGE_BYTES = 8 * 1024 * 1024;

export function rangeNotSatisfiable(outputBytes: number, detail: string): HttpProblem {
  return new HttpProblem(416, 'range-not-satisfiable', 'Range not satisfiable', detail, {}, { 'Content-Range': `bytes */${outputBytes}` });
}

export interface Page {
  offset: number;
  nextOffset: number;
  outputBytes: number;
}

/** What a page reads: the job's raw log. */
export type PagedLog = Pick<JobOutput, 'size' | 'read'>;

async function window(log: PagedLog, offset: number, limit: number): Promise<Page & { data: Buffer }> {
  const outputBytes = await log.size();
  if (offset > outputBytes) throw rangeNotSatisfiable(outputBytes, `offset ${offset} is past the end of the log (${outputBytes} bytes)`);
  const data = await log.read(offset, Math.min(limit, outputBytes - offset));
  return { data, offset, nextOffset: offset, outputBytes };
}

/** Raw bytes from offset, at most limit, cut after the last newline in the window if there is one. */
export async function readRawPage(log: PagedLog, offset: number, limit: number): Promise<Page & { data: Buffer }> {
  const page = await window(log, offset, limit);
  const lastNewline = page.data.lastIndexOf(10);
  // No newline at all: a line longer than the page (or a partial last line); send it anyway so a
  // pager always makes progress and reassembles the log byte for byte.
  const cut = lastNewline >= 0 ? lastNewline + 1 : page.data.length;
  return { ...page, data: page.data.subarray(0, cut), nextOffset: offset + cut };
}

/** The readable rendering of the complete lines in the same window (see jobs/output.ts renderLine). */
export async function readTextPage(log: PagedLog, offset: number, limit: number): Promise<Page & { text: string }> {
  const { data, ...page } = await window(log, offset, limit);
  // An offset inside a line resumes at the next whole line, as a check with offset does.
  const atLineStart = offset === 0 || (await log.read(offset - 1, 1))[0] === 10;
  let pos = 0;
  if (!atLineStart) {
    const first = data.indexOf(10);
    if (first < 0) return { ...page, text: '', nextOffset: data.length === limit ? offset + data.length : offset };
    pos = first + 1;
  }
  const parts: string[] = [];
  let nextOffset = offset + pos;
  for (let nl = data.indexOf(10, pos); nl >= 0; nl = data.indexOf(10, pos)) {
    const text = renderLine(data.toString('utf8', pos, nl));
    if (text !== null) parts.push(`${text}\n`);
    pos = nl + 1;
    nextOffset = offset + pos;
  }
  // A single line longer than the whole page: step over it rather than stall forever.
  if (nextOffset === offset && data.length === limit) nextOffset = offset + data.length;
  return { ...page, text: parts.join(''), nextOffset };
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in Content-Range. */
  end: number;
}

/**
 * One `bytes=` range of RFC 9110. null means "ignore the header" (bad syntax or several ranges,
 * which the RFC lets a server answer with the whole representation: here, a normal page).
 */
export function parseRange(header: string, size: number): ByteRange | 'unsatisfiable' | null {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? Infinity : Number(match[2]);
  if (end < start) return null; // invalid syntax, not an unsatisfiable range
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

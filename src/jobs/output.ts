// Reading a job's output: byte-range reads that cost the same on a 1 KB and a 100 MB log, and
// stream-json rendered as readable text (assistant text, one line per tool use).
import fs from 'node:fs';
import type { ResultSummary } from './schemas.js';

/** We never scan more than this per call, whatever the log size. */
const MAX_WINDOW_BYTES = 4 * 1024 * 1024;
const MIN_WINDOW_BYTES = 64 * 1024;

export const LOG_CAPPED_TYPE = 'claude_async';
/** A stream-json line longer than this is stored as a marker; the runner never holds more of one line. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseResultLine(obj: unknown): ResultSummary | null {
  if (!isObject(obj) || obj.type !== 'result') return null;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  // The real CLI's error results (an unknown --resume session) have no `result`, only `errors[]`.
  const errors = Array.isArray(obj.errors) ? obj.errors.filter((e): e is string => typeof e === 'string' && e.trim() !== '') : [];
  const text = typeof obj.result === 'string' && obj.result.trim() !== '' ? obj.result : errors.join('; ');
  return {
    result: text,
    sessionId: typeof obj.session_id === 'string' ? obj.session_id : null,
    isError: obj.is_error === true,
    subtype: typeof obj.subtype === 'string' ? obj.subtype : null,
    costUsd: num(obj.total_cost_usd),
    numTurns: num(obj.num_turns),
    durationMs: num(obj.duration_ms),
  };
}

function toolSummary(input: unknown): string {
  if (!isObject(input)) return '';
  for (const key of ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt']) {
    const value = input[key];
    if (typeof value === 'string') return oneLine(value, 160);
  }
  return oneLine(JSON.stringify(input), 160);
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
};

/** One stream-json line → readable text, or null for lines a person need not see. */
export function renderLine(line: string): string | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return line.trim() ? `[unparsed] ${oneLine(line, 200)}` : null;
  }
  if (!isObject(obj)) return null;
  switch (obj.type) {
    case 'system':
      return obj.subtype === 'init' ? `[session ${String(obj.session_id ?? '?')} started, model ${String(obj.model ?? '?')}]` : null;
    case 'assistant': {
      const message = obj.message;
      const content = isObject(message) && Array.isArray(message.content) ? message.content : [];
      const parts: string[] = [];
      for (const block of content) {
        if (!isObject(block)) continue;
        if (block.type === 'text' && typeof block.text === 'string' && block.text.trim()) parts.push(block.text.trimEnd());
        if (block.type === 'tool_use') parts.push(`→ ${String(block.name ?? 'tool')}: ${toolSummary(block.input)}`);
      }
      return parts.length ? parts.join('\n') : null;
    }
    case 'result': {
      const summary = parseResultLine(obj);
      if (!summary) return null;
      return `[result${summary.isError ? ' (error)' : ''}] ${summary.result}`;
    }
    case LOG_CAPPED_TYPE:
      if (obj.subtype === 'log_capped') return `[log capped at ${String(obj.maxLogBytes)} bytes; later output was dropped]`;
      if (obj.subtype === 'line_truncated') return `[a ${String(obj.bytes)}-byte line was over the ${String(obj.maxLineBytes)}-byte line cap and was not stored; it began: ${oneLine(String(obj.head ?? ''), 200)}]`;
      if (obj.subtype === 'stderr') return `[stderr] ${oneLine(String(obj.text ?? ''), 2000)}`;
      return null;
    default:
      return null;
  }
}

export interface TailRequest {
  /** How much rendered text to return at most. */
  tailBytes: number;
  /** Read forward from here; absent means "the end of the log". */
  offset?: number;
}

export interface TailResult {
  tail: string;
  offset: number;
  nextOffset: number;
  outputBytes: number;
  hasMore: boolean;
}

/** Reads one window of a file: the cost depends on the window, never on the file's size. */
export async function readRange(file: string, start: number, length: number): Promise<Buffer> {
  if (length <= 0) return Buffer.alloc(0);
  const handle = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buf, 0, length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A log that does not exist yet (a queued job) is an empty log, not an error. */
export async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** One whole line of a log and where it sits in it (start: its first byte; end: just after its newline). */
export interface Line { start: number; end: number; text: string }

/** Complete lines (ending in \n) of buf, positioned in the file; a leading fragment is dropped unless atLineStart. */
function completeLines(buf: Buffer, base: number, atLineStart: boolean): Line[] {
  const lines: Line[] = [];
  let pos = 0;
  if (!atLineStart) {
    const first = buf.indexOf(10);
    if (first < 0) return lines;
    pos = first + 1;
  }
  for (let nl = buf.indexOf(10, pos); nl >= 0; nl = buf.indexOf(10, pos)) {
    lines.push({ start: base + pos, end: base + nl + 1, text: buf.toString('utf8', pos, nl) });
    pos = nl + 1;
  }
  return lines;
}

const clipStart = (text: string, maxBytes: number) => {
  const buf = Buffer.from(text);
  return buf.length <= maxBytes ? text : `…${buf.subarray(buf.length - maxBytes).toString('utf8').replace(/^\uFFFD+/, '')}`;
};

export async function readTail(file: string, request: TailRequest): Promise<TailResult> {
  const outputBytes = await fileSize(file);
  const window = Math.min(MAX_WINDOW_BYTES, Math.max(MIN_WINDOW_BYTES, request.tailBytes * 16));
  if (request.offset === undefined) {
    const start = Math.max(0, outputBytes - window);
    const buf = outputBytes > 0 ? await readRange(file, start, outputBytes - start) : Buffer.alloc(0);
    const lines = completeLines(buf, start, start === 0);
    const nextOffset = lines.length ? lines[lines.length - 1]!.end : start === 0 ? 0 : outputBytes - buf.length + buf.lastIndexOf(10) + 1;
    return tailOfLines([...lines].reverse(), request.tailBytes, nextOffset, outputBytes);
  }

  const from = Math.min(request.offset, outputBytes);
  const buf = from < outputBytes ? await readRange(file, from, Math.min(window, outputBytes - from)) : Buffer.alloc(0);
  // An offset from a client need not sit on a line start; resume at the next whole line.
  const atLineStart = from === 0 || (await readRange(file, from - 1, 1))[0] === 10;
  const lines = completeLines(buf, from, atLineStart);
  // A single line longer than the whole window: step over it rather than stall forever.
  const nothingNext = lines.length === 0 && buf.length === window ? from + buf.length : from;
  return pageOfLines(lines, from, request.tailBytes, outputBytes, nothingNext);
}

/**
 * The readable tail from whole log lines given newest first: as many as fit in `tailBytes`, clipped
 * at the start. Shared by the file (readTail) and the shared backend's Redis stream copy of a log.
 */
export function tailOfLines(newestFirst: Iterable<Line>, tailBytes: number, nextOffset: number, outputBytes: number): TailResult {
  const picked: string[] = [];
  let used = 0;
  let offset = nextOffset;
  for (const line of newestFirst) {
    if (used >= tailBytes) break;
    const text = renderLine(line.text);
    offset = line.start;
    if (text === null) continue;
    picked.unshift(text);
    used += Buffer.byteLength(text) + 1;
  }
  const tail = clipStart(picked.join('\n'), tailBytes);
  return { tail, offset: tailBytes === 0 ? nextOffset : offset, nextOffset, outputBytes, hasMore: nextOffset < outputBytes };
}

/**
 * A page from byte `from` out of whole log lines in order (lines starting before `from` are skipped:
 * an offset inside a line resumes at the next one), at least one line, about `pageBytes`.
 * @param nothingNext the next offset when no line is read
 */
export function pageOfLines(lines: Iterable<Line>, from: number, pageBytes: number, outputBytes: number, nothingNext = from): TailResult {
  const picked: string[] = [];
  let used = 0;
  let nextOffset = nothingNext;
  for (const line of lines) {
    if (line.start < from) continue;
    if (used >= pageBytes && picked.length > 0) break;
    const text = renderLine(line.text);
    nextOffset = line.end;
    if (text === null) continue;
    picked.push(text);
    used += Buffer.byteLength(text) + 1;
  }
  let tail = picked.join('\n');
  if (Buffer.byteLength(tail) > pageBytes) tail = Buffer.from(tail).subarray(0, pageBytes).toString('utf8').replace(/\uFFFD+$/, '') + '…';
  return { tail, offset: from, nextOffset, outputBytes, hasMore: nextOffset < outputBytes };
}

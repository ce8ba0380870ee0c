// The readable tail, or a page from an offset, of a job's log as Redis holds it: the same answer
// readTail (output.ts) gives from the file, computed over the stream's lines instead of its bytes.
import { clipStart, renderLine, type TailRequest, type TailResult } from '../jobs/output.js';

export interface StreamLine {
  /** Byte offset of the line's start in the log. */
  start: number;
  /** Byte offset just after the line. */
  end: number;
  text: string;
}

/**
 * The tail (no offset: `newestFirst` are the window's last lines, newest first, as many as it takes)
 * or a page from `request.offset` (`oldestFirst`: the lines from there on, in order).
 */
export function tailFromLines(lines: StreamLine[], request: TailRequest, outputBytes: number, order: 'newestFirst' | 'oldestFirst'): TailResult {
  if (request.offset === undefined) {
    const nextOffset = order === 'newestFirst' ? lines[0]?.end ?? outputBytes : lines[lines.length - 1]?.end ?? outputBytes;
    const newest = order === 'newestFirst' ? lines : [...lines].reverse();
    const picked: string[] = [];
    let used = 0;
    let offset = nextOffset;
    for (const line of newest) {
      if (used >= request.tailBytes) break;
      const text = renderLine(line.text);
      offset = line.start;
      if (text === null) continue;
      picked.unshift(text);
      used += Buffer.byteLength(text) + 1;
    }
    const tail = clipStart(picked.join('\n'), request.tailBytes);
    return { tail, offset: request.tailBytes === 0 ? nextOffset : offset, nextOffset, outputBytes, hasMore: nextOffset < outputBytes };
  }
  const from = Math.min(request.offset, outputBytes);
  const picked: string[] = [];
  let used = 0;
  let nextOffset = from;
  for (const line of lines) {
    // An offset inside a line resumes at the next whole line.
    if (line.start < from) continue;
    if (used >= request.tailBytes && picked.length > 0) break;
    const text = renderLine(line.text);
    nextOffset = line.end;
    if (text === null) continue;
    picked.push(text);
    used += Buffer.byteLength(text) + 1;
  }
  let tail = picked.join('\n');
  if (Buffer.byteLength(tail) > request.tailBytes) tail = Buffer.from(tail).subarray(0, request.tailBytes).toString('utf8').replace(/\uFFFD+$/, '') + '…';
  return { tail, offset: from, nextOffset, outputBytes, hasMore: nextOffset < outputBytes };
}

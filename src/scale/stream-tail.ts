// The readable tail, or a page from an offset, of a job's log as Redis holds it: the same answer
// readTail (output.ts) gives from the file, computed over the stream's lines instead of its bytes.
import { pageOfLines, tailOfLines, type Line, type TailRequest, type TailResult } from '../jobs/output.js';

export type StreamLine = Line;

/**
 * The tail (no offset: `newestFirst` are the window's last lines, newest first, as many as it takes)
 * or a page from `request.offset` (`oldestFirst`: the lines from there on, in order).
 */
export function tailFromLines(lines: StreamLine[], request: TailRequest, outputBytes: number, order: 'newestFirst' | 'oldestFirst'): TailResult {
  if (request.offset === undefined) {
    const nextOffset = order === 'newestFirst' ? lines[0]?.end ?? outputBytes : lines[lines.length - 1]?.end ?? outputBytes;
    return tailOfLines(order === 'newestFirst' ? lines : [...lines].reverse(), request.tailBytes, nextOffset, outputBytes);
  }
  return pageOfLines(lines, Math.min(request.offset, outputBytes), request.tailBytes, outputBytes);
}

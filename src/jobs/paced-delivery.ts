// Hands a watcher its lines at the watcher's own pace. Both ways of following a log (the local file
// poll in follower.ts, the Redis streams in scale/stream-follow.ts) share one reader among many
// watchers; a slow one (an SSE client behind a full socket) must hold back only itself, never the
// reader or the other watchers, and must not have lines piled up in memory for it.
import type { FollowSink, LogLine } from './follower.js';

/** Where a watcher is in the log, and whether it is still taking its last lines (then it is skipped). */
export interface PacedWatcher {
  pos: number;
  busy: boolean;
}

/**
 * Gives `lines` to the sink. A promise from it means "slow reader": the watcher is busy until the
 * promise settles, then `ready` runs (read for it again). A rejected promise means the reader has
 * gone: `gone` runs and the watcher stays busy, so nothing more is handed to it.
 */
export function deliverPaced(
  watcher: PacedWatcher,
  sink: Pick<FollowSink<never>, 'deliver'>,
  lines: LogLine[],
  ready: () => void,
  gone: () => void,
): void {
  const delivered = sink.deliver(lines);
  if (!delivered) return;
  watcher.busy = true;
  void delivered.then(() => {
    watcher.busy = false;
    ready();
  }, gone);
}

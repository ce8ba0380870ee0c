// Job starts per principal per minute: a sliding window of start times, so a burst at the end of
// one minute and the start of the next cannot double the rate.
const WINDOW_MS = 60_000;

/**
 * Decides whether a principal may start a job now. Injected into JobService (ServiceOptions.limiter)
 * so servers sharing work (issue #17) can count starts in one place instead of per process.
 */
export interface StartLimit {
  /** Records a start and returns null, or returns the seconds to wait and records nothing. */
  take(principal: string): number | null | Promise<number | null>;
}

export class StartLimiter implements StartLimit {
  private readonly starts = new Map<string, number[]>();

  constructor(private readonly perMinute: number, private readonly now = () => Date.now()) {}

  /** Records a start and returns null, or returns the seconds to wait and records nothing. */
  take(principal: string): number | null {
    const now = this.now();
    const recent = (this.starts.get(principal) ?? []).filter((t) => now - t < WINDOW_MS);
    if (recent.length >= this.perMinute) {
      this.starts.set(principal, recent);
      return Math.max(1, Math.ceil((recent[0]! + WINDOW_MS - now) / 1000));
    }
    recent.push(now);
    this.starts.set(principal, recent);
    if (this.starts.size > 10_000) this.evictIdle(now);
    return null;
  }

  private evictIdle(now: number): void {
    for (const [principal, times] of this.starts) {
      if (times.every((t) => now - t >= WINDOW_MS)) this.starts.delete(principal);
    }
  }
}

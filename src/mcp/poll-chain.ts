// A poll that runs every `everyMs` while there is something to look at, for the MCP lifecycle
// notices (job-events.ts) and resource subscriptions (subscriptions.ts). A chain of timeouts, not an
// interval: the next poll is scheduled when this one has finished, so a slow disk never stacks
// polls on top of each other. The timers are unref'd: a poll never keeps the process alive.
export class PollChain {
  private timer: NodeJS.Timeout | undefined;

  /**
   * `poll` is one look; `wanted` says whether to go on (something is followed and the owner is not
   * closed); `onError` hears a look that failed (the chain goes on).
   */
  constructor(
    private readonly everyMs: number,
    private readonly poll: () => Promise<void>,
    private readonly wanted: () => boolean,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** True from start() until stop(), a poll in progress included. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Schedules the next poll, unless one is scheduled or running, or nothing is wanted. */
  start(): void {
    if (this.timer || !this.wanted()) return;
    const timer = setTimeout(() => {
      void this.poll()
        .catch(this.onError)
        .finally(() => {
          if (this.timer !== timer) return; // stopped (and maybe restarted) meanwhile
          this.timer = undefined;
          this.start();
        });
    }, this.everyMs);
    timer.unref();
    this.timer = timer;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

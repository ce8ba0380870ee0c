// Every long-lived response a principal holds open: REST event streams, MCP GET streams, and the MCP
// calls that block (claude_wait, claude_run without task support, tasks/result). Two rules:
//  - at most maxPerPrincipal at once per principal (429 past it), so one token cannot starve others;
//  - the token behind each one is checked again every recheckMs and at once when a token is revoked
//    in this process: a revoked or expired token loses its open streams, not just its next request.
// The bearer header is held in memory only for that re-check; it is never logged or shown.
import { LimitExceeded } from '../jobs/errors.js';
import type { AuthResult, Principal } from './types.js';

interface OpenStreamsOptions {
  maxPerPrincipal: number;
  recheckMs: number;
  /** The server's authenticator: the same answer a new request with this header would get. */
  authenticate: (authorizationHeader: string | undefined) => Promise<AuthResult>;
  onClosed?: (info: { principal: string; reason: string }) => void;
}

interface StreamLease {
  /** Frees the slot; safe to call more than once. */
  release(): void;
}

interface OpenStream {
  principal: string;
  authorization: string | undefined;
  close: (reason: string) => void;
  closing: boolean;
}

export class OpenStreams {
  private readonly streams = new Set<OpenStream>();
  private readonly perPrincipal = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private rechecking: Promise<void> | undefined;
  private recheckAgain = false;

  constructor(private readonly options: OpenStreamsOptions) {
    this.timer = setInterval(() => void this.recheck(), options.recheckMs);
    this.timer.unref();
  }

  /**
   * Takes a slot for a stream of this principal or throws LimitExceeded (429). `close` is called
   * when the token stops being valid; it must end the response (which then releases the lease).
   */
  open(principal: Principal, authorization: string | undefined, close: (reason: string) => void): StreamLease {
    const held = this.perPrincipal.get(principal.id) ?? 0;
    if (held >= this.options.maxPerPrincipal) {
      throw new LimitExceeded(`too many open streams: at most ${this.options.maxPerPrincipal} per principal (event streams, MCP GET streams, claude_wait, tasks/result); close one and retry`, 5, 'rate');
    }
    const stream: OpenStream = { principal: principal.id, authorization, close, closing: false };
    this.streams.add(stream);
    this.perPrincipal.set(principal.id, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.streams.delete(stream);
        const left = (this.perPrincipal.get(stream.principal) ?? 1) - 1;
        if (left > 0) this.perPrincipal.set(stream.principal, left);
        else this.perPrincipal.delete(stream.principal);
      },
    };
  }

  count(principalId?: string): number {
    return principalId === undefined ? this.streams.size : this.perPrincipal.get(principalId) ?? 0;
  }

  /**
   * Re-authenticates every open stream (each distinct header once) and closes those whose token no
   * longer names the same principal. Call it when a token is revoked; the timer calls it anyway.
   */
  recheck(): Promise<void> {
    if (this.rechecking) {
      // A revocation during a running re-check must not wait for the next tick.
      this.recheckAgain = true;
      return this.rechecking;
    }
    this.rechecking = (async () => {
      do {
        this.recheckAgain = false;
        const answers = new Map<string | undefined, Promise<AuthResult>>();
        for (const stream of [...this.streams].filter((s) => !s.closing)) {
          if (!answers.has(stream.authorization)) answers.set(stream.authorization, this.options.authenticate(stream.authorization).catch((): AuthResult => ({ ok: false, status: 401, error: 'invalid_token', description: 'the token could not be checked' })));
          const result = await answers.get(stream.authorization)!;
          if (!this.streams.has(stream) || stream.closing) continue;
          if (result.ok && result.principal.id === stream.principal) continue;
          const reason = result.ok ? 'the token now names another principal' : result.description;
          // The slot is freed by the lease when the response has really ended.
          stream.closing = true;
          this.options.onClosed?.({ principal: stream.principal, reason });
          stream.close(reason);
        }
      } while (this.recheckAgain);
    })().finally(() => {
      this.rechecking = undefined;
    });
    return this.rechecking;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

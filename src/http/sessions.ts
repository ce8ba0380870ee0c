// Open MCP sessions: transport + server + whose session it is. A session is idle when none of its
// responses is open (no GET stream, no POST stream still running) and nothing came for `idleMs`:
// a client that only listens while a multi-hour job runs is not idle (count what is open, as the
// SDK's simpleStreamableHttp example does). Sessions are capped per principal and globally; making
// room evicts idle sessions only — of the same principal, or of the principal holding the most
// (the next largest when that one has none idle) — so one principal opening sessions never closes
// another principal's live one.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

export interface SessionHandle {
  close(): Promise<void>;
}

export interface Session {
  id: string;
  owner: string;
  transport: SessionHandle;
  server: McpServer | SessionHandle;
  lastSeenAt: number;
  /** Responses of this session still being written (GET streams, POST streams, JSON answers). */
  openResponses: number;
}

export interface SessionLimits {
  idleMs: number;
  maxSessions: number;
  maxSessionsPerPrincipal: number;
  now?: () => number;
}

export type Admission = { ok: true } | { ok: false; status: 429 | 503; message: string };

export class SessionRegistry {
  /** In least-recently-used order: get() re-inserts. */
  private readonly sessions = new Map<string, Session>();
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly reaper: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly limits: SessionLimits, private readonly onClosed?: (s: Session, why: string) => void) {
    this.now = limits.now ?? Date.now;
    this.reaper = setInterval(() => this.reapIdle(), Math.max(1000, Math.min(limits.idleMs / 4, 60_000)));
    this.reaper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  countOf(owner: string): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  /**
   * Makes room for a new session of `owner`, evicting idle sessions where needed; says no (and
   * closes nothing) when the only sessions that could go are in use.
   */
  admit(owner: string): Admission {
    if (this.countOf(owner) >= this.limits.maxSessionsPerPrincipal) {
      const idle = this.oldestIdleOf(owner);
      if (!idle) return { ok: false, status: 429, message: `Too many open MCP sessions for this principal (${this.limits.maxSessionsPerPrincipal}, all in use): close one (DELETE /mcp) and try again` };
      void this.close(idle.id, 'too many sessions of this principal');
    }
    if (this.sessions.size >= this.limits.maxSessions) {
      const idle = this.idleOfLargestOwner();
      if (!idle) return { ok: false, status: 503, message: 'The server has as many MCP sessions open as it allows, all in use: try again later' };
      void this.close(idle.id, 'too many sessions; this principal held the most');
    }
    return { ok: true };
  }

  add(session: Session): void {
    this.sessions.set(session.id, session);
    let ids = this.byOwner.get(session.owner);
    if (!ids) this.byOwner.set(session.owner, (ids = new Set()));
    ids.add(session.id);
  }

  /** The session, if it exists and belongs to this owner; marks it most recently used. */
  get(id: string, owner: string): Session | undefined {
    const session = this.sessions.get(id);
    if (!session || session.owner !== owner) return undefined;
    session.lastSeenAt = this.now();
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  /** A response of this session started; call the returned function once when it has ended. */
  opened(session: Session): () => void {
    session.openResponses++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      session.openResponses--;
      session.lastSeenAt = this.now();
    };
  }

  forget(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const ids = this.byOwner.get(session.owner);
    ids?.delete(id);
    if (ids?.size === 0) this.byOwner.delete(session.owner);
  }

  async close(id: string, why: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.forget(id);
    this.onClosed?.(session, why);
    await session.transport.close().catch(() => {});
    await session.server.close().catch(() => {});
  }

  isIdle(session: Session, now = this.now()): boolean {
    return session.openResponses === 0 && now - session.lastSeenAt >= this.limits.idleMs;
  }

  reapIdle(now = this.now()): number {
    let reaped = 0;
    for (const session of [...this.sessions.values()]) {
      if (this.isIdle(session, now)) {
        void this.close(session.id, 'idle');
        reaped++;
      }
    }
    return reaped;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.reaper);
    await Promise.all([...this.sessions.keys()].map((id) => this.close(id, 'server shutting down')));
  }

  /** The least recently used session of `owner` with no open response (idle clock aside). */
  private oldestIdleOf(owner: string): Session | undefined {
    const ids = this.byOwner.get(owner);
    if (!ids) return undefined;
    for (const session of this.sessions.values()) {
      if (session.owner === owner && session.openResponses === 0) return session;
    }
    return undefined;
  }

  /** An idle session of the principal holding the most sessions (the next largest if it has none). */
  private idleOfLargestOwner(): Session | undefined {
    const owners = [...this.byOwner].sort((a, b) => b[1].size - a[1].size);
    for (const [owner] of owners) {
      const idle = this.oldestIdleOf(owner);
      if (idle) return idle;
    }
    return undefined;
  }
}

// Open MCP sessions: transport + server + who opened it. Idle sessions are reaped and the count is
// bounded, so a client that opens a thousand sessions and walks away cannot grow memory forever.
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

export interface Session {
  id: string;
  owner: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastSeenAt: number;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly reaper: NodeJS.Timeout;

  constructor(private readonly idleMs: number, private readonly maxSessions: number, private readonly onClosed?: (s: Session, why: string) => void) {
    this.reaper = setInterval(() => this.reapIdle(), Math.max(1000, Math.min(idleMs / 4, 60_000)));
    this.reaper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  add(session: Session): void {
    this.sessions.set(session.id, session);
    if (this.sessions.size > this.maxSessions) {
      // Map keeps insertion order and touch() re-inserts: the first entry is the least recently used.
      const oldest = this.sessions.values().next().value;
      if (oldest && oldest.id !== session.id) void this.close(oldest.id, 'too many sessions');
    }
  }

  /** The session, if it exists and belongs to this owner; refreshes its idle clock. */
  get(id: string, owner: string): Session | undefined {
    const session = this.sessions.get(id);
    if (!session || session.owner !== owner) return undefined;
    session.lastSeenAt = Date.now();
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  forget(id: string): void {
    this.sessions.delete(id);
  }

  async close(id: string, why: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.onClosed?.(session, why);
    await session.transport.close().catch(() => {});
    await session.server.close().catch(() => {});
  }

  reapIdle(now = Date.now()): number {
    let reaped = 0;
    for (const session of [...this.sessions.values()]) {
      if (now - session.lastSeenAt >= this.idleMs) {
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
}

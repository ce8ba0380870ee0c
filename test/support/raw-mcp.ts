// MCP spoken by hand over HTTP, for tests about the exact request a spec text or an attack is about:
// the initialize message, the headers, and a session opened with initialize + initialized.
import { messagesOf, readSse } from './sse.js';

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const jsonHeaders = (token: string) => ({ ...bearer(token), 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' });

/** An initialize request as a raw client sends it. */
export function initializeRequest(protocolVersion = '2025-06-18', clientName = 'raw') {
  return { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: clientName, version: '1' } } };
}
export const INIT = initializeRequest();

export interface RawSession {
  sessionId: string;
  protocolVersion: string;
  headers: Record<string, string>;
  /** POSTs one JSON-RPC message in this session and returns the raw response. */
  post(body: unknown, extra?: Record<string, string>): Promise<Response>;
  /** POSTs a request and returns its JSON-RPC answer (from JSON or from the SSE stream). */
  call(method: string, params?: unknown, extra?: Record<string, string>): Promise<Record<string, any>>;
}

let nextId = 100;

/** initialize + notifications/initialized over raw HTTP. */
export async function rawSession(url: string, options: { token?: string; protocolVersion?: string; accept?: string } = {}): Promise<RawSession> {
  const protocolVersion = options.protocolVersion ?? '2025-11-25';
  const base: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: options.accept ?? 'application/json, text/event-stream',
    ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
  };
  const init = await fetch(`${url}/mcp`, { method: 'POST', headers: base, body: JSON.stringify(initializeRequest(protocolVersion)) });
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${await init.text()}`);
  const sessionId = init.headers.get('mcp-session-id');
  await init.text();
  if (!sessionId) throw new Error('initialize gave no Mcp-Session-Id');
  const headers = { ...base, 'Mcp-Session-Id': sessionId, 'Mcp-Protocol-Version': protocolVersion };
  const post = (body: unknown, extra: Record<string, string> = {}) => fetch(`${url}/mcp`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  const call = async (method: string, params?: unknown, extra?: Record<string, string>) => {
    const id = nextId++;
    const res = await post({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }, extra);
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      const { events } = await readSse(res, (evs) => messagesOf(evs).some((m) => m.id === id));
      return messagesOf(events).find((m) => m.id === id)!;
    }
    return (await res.json()) as Record<string, any>;
  };
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).text();
  return { sessionId, protocolVersion, headers, post, call };
}

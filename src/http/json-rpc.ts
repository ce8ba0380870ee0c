// JSON-RPC error bodies for /mcp: an MCP client understands these where it would choke on HTML.
export function jsonRpcError(code: number, message: string, body?: unknown) {
  const id = body && typeof body === 'object' && !Array.isArray(body) && 'id' in body ? (body as { id: unknown }).id : null;
  return { jsonrpc: '2.0' as const, error: { code, message }, id: typeof id === 'string' || typeof id === 'number' ? id : null };
}

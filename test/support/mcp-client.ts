// The one MCP client of the tests: the SDK's Client over Streamable HTTP at <url>/mcp, with a bearer
// token or an OAuth provider, and over stdio to the CLI's stdio face.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StdioClientTransport, type StdioServerParameters } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export type ClientOptions = ConstructorParameters<typeof Client>[1];

/** The transport to <url>/mcp, sending `auth` as a bearer token or through an OAuth provider. */
export function mcpTransport(url: string, auth: string | OAuthClientProvider): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(`${url}/mcp`), typeof auth === 'string' ? { requestInit: { headers: { Authorization: `Bearer ${auth}` } } } : { authProvider: auth });
}

/** A connected SDK client; the caller closes it. `setup` runs before connecting (notification handlers). */
export async function connect(url: string, auth: string | OAuthClientProvider, options: { clientOptions?: ClientOptions; setup?: (client: Client) => void } = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'claude-async-test', version: '1.0.0' }, options.clientOptions);
  options.setup?.(client);
  const transport = mcpTransport(url, auth);
  await client.connect(transport);
  return { client, transport };
}

/** A connected SDK client over stdio to `params.command` (the CLI's `stdio` face); the caller closes it. */
export async function connectStdio(params: StdioServerParameters): Promise<{ client: Client; transport: StdioClientTransport }> {
  const client = new Client({ name: 'claude-async-test', version: '1.0.0' });
  const transport = new StdioClientTransport(params);
  await client.connect(transport);
  return { client, transport };
}

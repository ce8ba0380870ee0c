// `claude-async connect`: the exact client set-up for a server URL and token, ready to paste.
interface ConnectOptions {
  url: string;
  token?: string;
}

export function connectInstructions({ url, token }: ConnectOptions): string {
  const base = url.replace(/\/+$/, '');
  const mcpUrl = `${base}/mcp`;
  const bearer = token ?? '<YOUR_TOKEN>';
  const desktop = {
    mcpServers: {
      'claude-async': { command: 'npx', args: ['-y', 'mcp-remote', mcpUrl, '--header', 'Authorization:Bearer ${CLAUDE_ASYNC_TOKEN}'], env: { CLAUDE_ASYNC_TOKEN: bearer } },
    },
  };
  const cursor = { mcpServers: { 'claude-async': { url: mcpUrl, headers: { Authorization: `Bearer ${bearer}` } } } };
  const vscode = { servers: { 'claude-async': { type: 'http', url: mcpUrl, headers: { Authorization: `Bearer ${bearer}` } } } };
  return [
    `Claude Code:`,
    `  claude mcp add --transport http claude-async ${mcpUrl} --header "Authorization: Bearer ${bearer}"`,
    ``,
    `Claude Desktop (claude_desktop_config.json, through mcp-remote):`,
    indent(JSON.stringify(desktop, null, 2)),
    ``,
    `Cursor (~/.cursor/mcp.json):`,
    indent(JSON.stringify(cursor, null, 2)),
    ``,
    `VS Code (.vscode/mcp.json):`,
    indent(JSON.stringify(vscode, null, 2)),
    ``,
    `Claude custom connector (claude.ai, Desktop, mobile: Settings → Connectors → Add custom connector),`,
    `or any client above without the header: use ${mcpUrl}; a sign-in page asks for this token once.`,
    `  (needs an https public URL unless it is loopback; see claude-async doctor)`,
    ``,
    `curl (REST):`,
    `  curl -s -H "Authorization: Bearer ${bearer}" -H 'Content-Type: application/json' \\`,
    `       -d '{"prompt":"Say hello"}' ${base}/v1/jobs`,
  ].join('\n');
}

const indent = (text: string) => text.split('\n').map((l) => `  ${l}`).join('\n');

// /.well-known/glama.json: the ownership file Glama reads to let a maintainer claim the listing of
// a remote server (https://glama.ai/mcp/schemas/connector.json). Served only when the operator
// set CLAUDE_ASYNC_GLAMA_CLAIM or CLAUDE_ASYNC_GLAMA_MAINTAINERS; otherwise it is a plain 404.
// Public on purpose (no token): Glama fetches it anonymously, and it holds nothing secret.
import { Router } from 'express';
import type { Config } from '../config.js';

const GLAMA_CONNECTOR_SCHEMA = 'https://glama.ai/mcp/schemas/connector.json';

function glamaDocument(config: Pick<Config, 'glamaClaim' | 'glamaMaintainers'>): Record<string, unknown> | undefined {
  if (!config.glamaClaim && config.glamaMaintainers.length === 0) return undefined;
  return {
    $schema: GLAMA_CONNECTOR_SCHEMA,
    ...(config.glamaClaim ? { claim: config.glamaClaim } : {}),
    ...(config.glamaMaintainers.length ? { maintainers: config.glamaMaintainers.map((email) => ({ email })) } : {}),
  };
}

export function glamaRouter(config: Pick<Config, 'glamaClaim' | 'glamaMaintainers'>): Router {
  const router = Router();
  const document = glamaDocument(config);
  if (document) router.get('/.well-known/glama.json', (_req, res) => { res.json(document); });
  return router;
}

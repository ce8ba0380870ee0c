# syntax=docker/dockerfile:1
# The stdio image, for hosts that wrap a stdio MCP server themselves (Glama runs it behind
# mcp-proxy). It answers initialize and tools/list with no secrets and no network.
# A deployable HTTP server with the claude CLI inside is deploy/Dockerfile.

FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script, and prepack/prestart would build too early.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-slim
ENV NODE_ENV=production \
    HOME=/home/node \
    CLAUDE_ASYNC_DATA_DIR=/home/node/.claude-async \
    CLAUDE_ASYNC_DEFAULT_CWD=/home/node/work \
    CLAUDE_ASYNC_LOG_LEVEL=warn
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Jobs need the claude CLI to do real work (npm i -g @anthropic-ai/claude-code, plus
# ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN); listing and calling the tools does not.
RUN mkdir -p /home/node/work /home/node/.claude-async && chown -R node:node /home/node
USER node
# stdout carries only MCP messages; logs go to stderr.
ENTRYPOINT ["node", "/app/dist/index.js", "stdio"]

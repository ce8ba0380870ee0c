# syntax=docker/dockerfile:1
# The stdio image, for hosts that wrap a stdio MCP server themselves (Glama runs it behind
# mcp-proxy). It answers initialize and tools/list with no secrets and no network. Jobs run the
# claude CLI installed below; they need ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN (from
# `claude setup-token`) in the container's environment, and without one a job fails with a reason
# that names both. A deployable HTTP server with the claude CLI inside is deploy/Dockerfile.
#
# Pinned the same way as deploy/Dockerfile (the test suite checks both agree): the base image by
# digest, the claude CLI by version, git by upstream version. How to bump them: see deploy/Dockerfile.
ARG NODE_IMAGE=node:22.23.3-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script, and prepack/prestart would build too early.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
ARG CLAUDE_CODE_VERSION=2.1.332
# tini as PID 1: job runners are detached, so a finished one is re-parented to PID 1, and node
# there would never reap it (a zombie per job). tini reaps them, forwards signals, and leaves
# stdin/stdout to the server. git: claude works in repositories. ca-certificates: HTTPS to the API
# (unpinned: a current trust store).
RUN apt-get update \
 && apt-get install -y --no-install-recommends 'tini=0.19.0-1*' 'git=1:2.39.5-*' ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g --no-audit --no-fund "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force
ENV NODE_ENV=production \
    HOME=/home/node \
    CLAUDE_ASYNC_DATA_DIR=/home/node/.claude-async \
    CLAUDE_ASYNC_DEFAULT_CWD=/home/node/work \
    CLAUDE_ASYNC_CLAUDE_BIN=claude \
    CLAUDE_ASYNC_LOG_LEVEL=warn
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /home/node/work /home/node/.claude-async && chown -R node:node /home/node
# Not root: claude refuses --dangerously-skip-permissions as root, and a job should not own the image.
USER node
# stdout carries only MCP messages; logs go to stderr.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/index.js", "stdio"]

# syntax=docker/dockerfile:1
#
# One image, every role: `memory serve` (the default), `memory work`, `memory migrate` and
# `memory check`. compose.yaml runs it several times with different commands.
#
#   docker build -t mcp-memory-server:v3 .
#   docker run --rm -p 127.0.0.1:3000:3000 -v memory-data:/var/lib/memory mcp-memory-server:v3
#                                          # embedded mode: no EVENTS_DB_DSN, no CHROMA_HOST
#
# Node 20 is the version CI tests; override with --build-arg NODE_MAJOR=22 at your own risk.
# Debian bookworm (glibc 2.36), not Alpine: the `chromadb` package's native bindings (used only by
# embedded mode) are built for glibc, and package.json pins the linux-x64 binding to a release
# that still loads on glibc 2.36.
ARG NODE_MAJOR=20

# --- build: compile TypeScript with the dev dependencies -------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# tsconfig.json compiles src, test and bench together (test/deployment.test.ts checks that every
# folder it includes is copied here); only dist/src goes into the image.
COPY tsconfig.json ./
# The PGlite template that the build makes is migrated, so the build reads the migrations.
COPY sql ./sql
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build

# --- deps: production dependencies only, installed exactly as package-lock.json pins them ------
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS runtime
# MCP_HOST: inside a container the server must listen on every interface for a published port
# to reach it; the host side decides who can connect (compose binds 127.0.0.1). Embedded mode
# (no EVENTS_DB_DSN / CHROMA_HOST) keeps its data in /var/lib/memory: mount a volume there.
# Not declared as VOLUME, which would leave an anonymous volume behind every compose container
# (migrate, each worker replica) that never uses it.
ENV NODE_ENV=production \
    MCP_HOST=0.0.0.0 \
    MCP_PORT=3000 \
    MEMORY_DATA_DIR=/var/lib/memory
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The empty PGlite cluster `npm run build` made: embedded mode's first start unpacks it instead
# of running initdb (8 s).
COPY --from=build /app/dist/pglite-template.tar.gz /app/dist/pglite-template.tar.gz.json ./dist/
COPY package.json ./
COPY bin ./bin
COPY sql ./sql
# `memory` on PATH: bin/memory imports ../dist/src/cli/main.js, and Node resolves a symlinked main
# script to its real path, so the link works from any directory.
RUN chmod 755 /app/bin/memory \
    && ln -s /app/bin/memory /usr/local/bin/memory \
    && mkdir -p /var/lib/memory \
    && chown node:node /var/lib/memory

# The node image's unprivileged user (uid 1000); the app files stay root-owned and read-only to it.
USER node
EXPOSE 3000

# Right for `serve`; compose replaces it per service (`--service worker` for `work`). For a bare
# `docker run ... work`, pass --health-cmd "memory check --service worker".
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["memory", "check", "--service", "mcp-server"]

ENTRYPOINT ["memory"]
CMD ["serve"]

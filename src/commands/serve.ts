/**
 * `memory serve`: the MCP server over HTTP (or stdio), with its dependencies. Returns a handle
 * whose `stop()` closes the listener, then the pools.
 */
import { fileURLToPath } from 'node:url';
import { type ServerType, serve as serveNode } from '@hono/node-server';
import { workerStaleAfterMs } from '../check.js';
import { createChromaStore } from '../chroma/store.js';
import type { Config } from '../config.js';
import { connect, type Sql } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import { type EmbeddedServices, startEmbedded } from '../embedded.js';
import { createEmbedder } from '../embedding/index.js';
import { createExtractor } from '../extraction/index.js';
import { healthReport } from '../health.js';
import { createApp } from '../http/app.js';
import { taggedLogger } from '../log.js';
import { createMcpServer } from '../mcp/server.js';
import { createMetrics } from '../metrics.js';
import { chromaUrl } from '../runtime.js';
import { announceAuthModes } from '../server/oauth/bearer.js';
import type { Services } from '../services.js';
import { TOOLS } from '../tools/index.js';
import { startWorker, type Worker } from '../worker/worker.js';

const logger = taggedLogger('server');

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  services: Services;
  stop(): Promise<void>;
}

export interface Endpoints {
  databaseUrl: string;
  chromaUrl: string;
  /** Pool size (1 for the embedded database, which serves one session). */
  poolSize?: number;
}

/** Connects to Postgres and Chroma, migrates, and checks the embedding space of the collections. */
export async function createServices(
  config: Config,
  endpoints: Endpoints,
  jobQueued?: () => void,
): Promise<Services & { close(): Promise<void> }> {
  const sql: Sql = connect(endpoints.databaseUrl, {
    max: endpoints.poolSize ?? 10,
    applicationName: 'memory-serve',
  });
  try {
    await migrate(sql);
    const embedder = createEmbedder(config);
    const chroma = createChromaStore({ url: endpoints.chromaUrl, space: embedder.space });
    await chroma.open();
    return {
      config,
      sql,
      chroma,
      embedder,
      ...(jobQueued ? { jobQueued } : {}),
      close: () => sql.end({ timeout: 5 }),
    };
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}

export function externalEndpoints(config: Config): Endpoints | undefined {
  if (config.databaseUrl === undefined || config.chroma.host === undefined) return undefined;
  return { databaseUrl: config.databaseUrl, chromaUrl: chromaUrl(config.chroma.host, config.chroma.port) };
}

export async function startHttpServer(
  config: Config,
  services: Services,
): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = createMetrics(services.sql, { workerStaleSeconds: workerStaleAfterMs(config) / 1000 });
  const app = createApp({
    config,
    services,
    tools: TOOLS,
    health: () => healthReport(services),
    metrics: () => metrics.render(),
    hooks: metrics.hooks,
  });
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolvePort, reject) => {
    server = serveNode({ fetch: app.fetch, port: config.mcp.port, hostname: config.mcp.host }, (info) =>
      resolvePort(info.port),
    );
    server.once('error', reject);
  });
  const host = config.mcp.host.includes(':') ? `[${config.mcp.host}]` : config.mcp.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolveClose) => {
        if (server === undefined) return resolveClose();
        server.close(() => resolveClose());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export interface ServeOptions {
  /** Run the extraction worker in this process (default: when the database is embedded). */
  worker?: boolean;
  /** Serve MCP over stdin/stdout instead of HTTP. */
  stdio?: boolean;
  /** Explicit endpoints (tests); otherwise from the configuration, embedded where unset. */
  endpoints?: Endpoints;
}

export async function runServe(config: Config, options: ServeOptions = {}): Promise<RunningServer> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  };
  try {
    let endpoints = options.endpoints ?? externalEndpoints(config);
    let embedded: EmbeddedServices | undefined;
    if (endpoints === undefined) {
      embedded = await startEmbedded(config);
      cleanups.push(embedded.stop);
      endpoints = {
        databaseUrl: embedded.databaseUrl ?? config.databaseUrl!,
        chromaUrl: embedded.chromaUrl ?? chromaUrl(config.chroma.host!, config.chroma.port),
        poolSize: embedded.databaseUrl !== undefined ? 1 : undefined,
      };
    }
    const runWorker = options.worker ?? embedded?.databaseUrl !== undefined;
    let worker: Worker | undefined;
    const services = await createServices(config, endpoints, () => worker?.wake());
    cleanups.push(services.close);
    if (runWorker) {
      worker = startWorker({
        config,
        sql: services.sql,
        extractor: await createExtractor(config),
        // The embedded database is one session: ingest wakes the worker in-process instead.
        listen: endpoints.poolSize !== 1,
      });
      const running = worker;
      cleanups.push(() => running.stop());
    }

    if (options.stdio) {
      const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
      const server = createMcpServer(services, TOOLS);
      await server.connect(new StdioServerTransport());
      cleanups.push(() => server.close());
      logger.info('MCP over stdio ready', { embedder: services.embedder.space.model, worker: runWorker });
      return { url: 'stdio:', services, stop: cleanup };
    }

    const http = await startHttpServer(config, services);
    cleanups.push(http.close);
    embedded?.announce(`${http.url}`);
    logger.info(`MCP endpoint: ${http.url}/mcp/`, {
      embedder: `${services.embedder.space.provider}/${services.embedder.space.model}`,
      extractor: runWorker ? config.eventExtractor : 'none (run memory work)',
      mode: embedded ? 'embedded' : 'external',
    });
    announceAuthModes(config, logger);
    if (embedded) printConnectHelp(http.url);
    return { url: http.url, services, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** This installation's `bin/memory`, for the Claude Desktop snippet. */
const BIN_PATH = fileURLToPath(new URL('../../../bin/memory', import.meta.url));

function printConnectHelp(url: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(
    [
      '',
      `  memory is running: ${url}/mcp/   (health: ${url}/health)`,
      '',
      `  Claude Code:    claude mcp add --transport http memory ${url}/mcp/`,
      `  Cursor:         add to ~/.cursor/mcp.json  {"mcpServers": {"memory": {"url": "${url}/mcp/"}}}`,
      '  Claude Desktop: add to claude_desktop_config.json',
      `                  {"mcpServers": {"memory": {"command": "node", "args": [${JSON.stringify(BIN_PATH)}, "serve", "--stdio"]}}}`,
      '',
    ].join('\n'),
  );
}

/** Stops `stop` on the first SIGTERM or SIGINT, then exits 0 (a second signal exits at once). */
export function stopOnSignals(stop: () => Promise<void>, tag = logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    tag.info(`Received ${signal}, shutting down`);
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        tag.error('Shutdown failed', { error: String(error) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** `memory serve`; resolves once the server is up (it then runs until a signal). */
export async function runServeCommand(config: Config, options: ServeOptions): Promise<void> {
  const running = await runServe(config, options);
  stopOnSignals(() => running.stop());
  if (options.stdio) {
    // The client closing our stdin is the end of the session: stop everything, Chroma included.
    process.stdin.once('end', () => {
      running
        .stop()
        .then(() => process.exit(0))
        .catch(() => process.exit(1));
    });
  }
}

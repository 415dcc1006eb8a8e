/**
 * `memory serve`: the MCP server over HTTP (or stdio), with its dependencies. Returns a handle
 * whose `stop()` closes the listener, then the pools.
 */
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { createExtractor } from '../domain/extraction/extractors.js';
import { maintainIndex } from '../domain/reindex/maintain.js';
import type { Services } from '../domain/services.js';
import { chromaUrl } from '../embedded/runtime.js';
import { type EmbeddedServices, startEmbedded } from '../embedded/start.js';
import { taggedLogger } from '../log.js';
import { startHttpServer } from '../server/listen.js';
import { announceAuthModes } from '../server/oauth/bearer.js';
import { serveStdio } from '../server/stdio.js';
import { startWorker, type Worker } from '../worker/worker.js';
import { createServices, embedderFor, externalServiceUrls, type ServiceUrls } from './services.js';
import { stopOnSignals } from './signals.js';

const logger = taggedLogger('server');

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  services: Services;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Run the extraction worker in this process (default: when the database is embedded). */
  worker?: boolean;
  /** Serve MCP over stdin/stdout instead of HTTP. */
  stdio?: boolean;
  /** Explicit service URLs (tests); otherwise from the configuration, embedded where unset. */
  endpoints?: ServiceUrls;
}

export async function runServe(config: Config, options: ServeOptions = {}): Promise<RunningServer> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  };
  try {
    let endpoints = options.endpoints ?? externalServiceUrls(config);
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
    const orphansRemoved: Record<string, number> = {};
    const maintenance = maintainIndex(services, {
      pollMs: config.index.pollMs,
      sweepSeconds: config.index.sweepIntervalSeconds,
      graceSeconds: config.index.graceSeconds,
      embedderFor: (space) => embedderFor(config, space),
      onSweep(result) {
        for (const [collection, n] of Object.entries(result.removed)) {
          orphansRemoved[collection] = (orphansRemoved[collection] ?? 0) + (n ?? 0);
        }
      },
    });
    cleanups.push(maintenance.stop);
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
      const stdio = await serveStdio(services);
      cleanups.push(stdio.close);
      logger.info('MCP over stdio ready', { embedder: services.embedder.space.model, worker: runWorker });
      return { url: 'stdio:', services, stop: cleanup };
    }

    const http = await startHttpServer(config, services, { orphansRemoved: () => orphansRemoved });
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

/** `memory serve`; resolves once the server is up (it then runs until a signal). */
export async function runServeCommand(config: Config, options: ServeOptions): Promise<void> {
  const running = await runServe(config, options);
  stopOnSignals(() => running.stop(), logger);
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

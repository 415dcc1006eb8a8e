/**
 * `memory serve`: the MCP server over HTTP (or stdio), with its dependencies. Returns a handle
 * whose `stop()` closes the listener, then the pools.
 *
 * The order is what a client sees: the HTTP port is taken first (a port in use is reported at
 * once, naming MCP_PORT), then MCP is served, and only then do the database and the vector index
 * start. `initialize` and `tools/list` need neither and are answered at once; a tool call waits
 * for the start, and a failed start is its error. Clients give up on a server whose `initialize`
 * takes more than a few seconds, and an embedded first start on a busy machine takes longer.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, ConfigError, redactUrl } from '../config.js';
import { createExtractor } from '../domain/extraction/extractors.js';
import { rebuildArtifactVectors } from '../domain/rebuild-vectors.js';
import { maintainIndex } from '../domain/reindex/maintain.js';
import type { Services } from '../domain/services.js';
import { type EmbeddedServices, startEmbedded } from '../embedded/start.js';
import { describeError } from '../errors.js';
import { log, taggedLogger } from '../log.js';
import { exposureWarning } from '../server/exposure.js';
import { bindHttpListener, type HttpListener } from '../server/listen.js';
import { announceAuthModes } from '../server/oauth/bearer.js';
import { serveStdio } from '../server/stdio.js';
import { Startup } from '../startup.js';
import { startWorker, type Worker } from '../worker/worker.js';
import {
  configuredChromaUrl,
  createServices,
  embedderFor,
  externalServiceUrls,
  type ServiceUrls,
  type ServingServices,
} from './services.js';
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

interface Started {
  services: ServingServices;
  embedded: EmbeddedServices | undefined;
  runWorker: boolean;
  /** Vectors to rebuild from Postgres (a data folder whose vectors were in an embedded Chroma). */
  rebuild: { marker: string } | undefined;
}

/** The database (embedded when unset), the vector index and the worker; each stop goes in `stops`. */
async function startServices(
  config: Config,
  options: ServeOptions,
  stops: Array<() => Promise<void>>,
  startup: Startup,
  orphansRemoved: Record<string, number>,
): Promise<Started> {
  let endpoints = options.endpoints ?? externalServiceUrls(config);
  let embedded: EmbeddedServices | undefined;
  if (endpoints === undefined) {
    embedded = await startEmbedded(config);
    stops.push(embedded.stop);
    endpoints = { databaseUrl: embedded.databaseUrl, chromaUrl: configuredChromaUrl(config), poolSize: 1 };
  }
  const runWorker = options.worker ?? embedded !== undefined;
  let worker: Worker | undefined;
  const services = await createServices(config, endpoints, () => worker?.wake(), startup);
  stops.push(services.close);
  // Follows a `memory reindex` switch and sweeps orphan vectors (counted for /metrics).
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
  stops.push(maintenance.stop);
  if (runWorker) {
    worker = startWorker({
      config,
      sql: services.sql,
      extractor: await createExtractor(config),
      // The embedded database is one session: ingest wakes the worker in-process instead.
      listen: endpoints.poolSize !== 1,
    });
    const running = worker;
    stops.push(() => running.stop());
  }
  // Data folders from before kept their vectors in an embedded Chroma server (`chroma/`).
  const legacyChroma = join(config.dataDir, 'chroma');
  const marker = join(config.dataDir, 'vectors-rebuilt.json');
  const rebuild =
    embedded !== undefined &&
    endpoints.chromaUrl === undefined &&
    existsSync(legacyChroma) &&
    !existsSync(marker)
      ? { marker }
      : undefined;
  return { services, embedded, runWorker, rebuild };
}

/**
 * Re-embeds the artifacts Postgres holds into the new index, in the background (search finds
 * them as they arrive), once: a marker file records that it finished.
 */
function rebuildInBackground(started: Started, marker: string, signal: AbortSignal): Promise<void> {
  logger.info(
    'This data folder kept its vectors in Chroma; rebuilding them in PGlite (pgvector) from the artifacts in Postgres',
  );
  return rebuildArtifactVectors(started.services, {
    signal,
    onProgress: (progress) =>
      logger.info(`Rebuilding vectors: ${progress.done}/${progress.total} artifacts`, { ...progress }),
    onFailure: (artifactId, reason) =>
      logger.warn('Could not rebuild the vectors of an artifact; ingest it again', {
        artifact_id: artifactId,
        error: reason,
      }),
  }).then(
    (result) => {
      if (signal.aborted) return;
      writeFileSync(
        marker,
        `${JSON.stringify({ rebuiltAt: new Date().toISOString(), ...result }, null, 2)}\n`,
      );
      logger.info(
        `Vectors rebuilt: ${result.done} artifacts, ${result.chunks} chunks${result.failed > 0 ? `, ${result.failed} failed` : ''}. ` +
          'Memories and conversation turns lived only in the old Chroma index (chroma/ in the data folder) and were not carried over',
        { ...result },
      );
    },
    (error: unknown) => {
      if (!signal.aborted)
        logger.error('Rebuilding the vectors failed; it runs again at the next start', {
          error: describeError(error),
        });
    },
  );
}

export async function runServe(config: Config, options: ServeOptions = {}): Promise<RunningServer> {
  const exposed = options.stdio ? undefined : exposureWarning(config);
  if (exposed !== undefined && config.mcp.requireAuth) {
    throw new ConfigError('MCP_REQUIRE_AUTH', `MCP_REQUIRE_AUTH=true: refusing to start. ${exposed}`);
  }
  const stops: Array<() => Promise<void>> = [];
  let listener: HttpListener | undefined;
  let stdio: { close(): Promise<void> } | undefined;
  const rebuildStop = new AbortController();
  let rebuilding: Promise<void> | undefined;
  const cleanup = async () => {
    rebuildStop.abort();
    await stdio?.close().catch(() => {});
    await listener?.close().catch(() => {});
    await rebuilding;
    for (const step of stops.reverse()) await step().catch(() => {});
  };
  try {
    // While Postgres or the vector index is awaited, /health says what for.
    const startup = new Startup(config.startupTimeoutSeconds, logger);
    const orphansRemoved: Record<string, number> = {};
    if (!options.stdio) {
      listener = await bindHttpListener(config, () => startup.status(), {
        orphansRemoved: () => orphansRemoved,
      });
    }
    const starting = startServices(config, options, stops, startup, orphansRemoved);
    const services = starting.then((started) => started.services);
    // Tool calls read a failed start from `services`; it is reported below, not as unhandled.
    services.catch(() => {});
    if (options.stdio) stdio = await serveStdio(services);
    else if (config.oauth === undefined) listener?.attach(services);

    let started: Started;
    try {
      started = await starting;
    } catch (error) {
      listener?.fail(error);
      throw error;
    }
    if (listener !== undefined && config.oauth !== undefined) listener.attach(started.services);
    if (started.rebuild !== undefined) {
      rebuilding = rebuildInBackground(started, started.rebuild.marker, rebuildStop.signal);
    }

    const mode = started.embedded ? 'embedded' : 'external';
    const data = started.embedded ? { data_dir: config.dataDir } : {};
    if (stdio !== undefined) {
      logger.info('MCP over stdio ready', {
        embedder: started.services.embedder.space.model,
        worker: started.runWorker,
        vectors: started.services.vectors.description,
        mode,
        ...data,
      });
      return { url: 'stdio:', services: started.services, stop: cleanup };
    }
    const url = listener!.url;
    started.embedded?.announce(url);
    logger.info(`MCP endpoint: ${url}/mcp/`, {
      embedder: `${started.services.embedder.space.provider}/${started.services.embedder.space.model}`,
      extractor: started.runWorker ? config.eventExtractor : 'none (run memory work)',
      vectors: started.services.vectors.description,
      mode,
      ...data,
    });
    announceAuthModes(config, logger);
    if (started.embedded) printConnectHelp(url, config.dataDir);
    return { url, services: started.services, stop: cleanup };
  } catch (error) {
    // Let answers already on their way (a tool call's STARTUP_FAILED) go out first.
    // Over stdio the transport stays: the command keeps answering for a moment, then exits.
    await new Promise((resolveTick) => setImmediate(resolveTick));
    stdio = undefined;
    await cleanup();
    throw error;
  }
}

/** This installation's `bin/memory`, for the Claude Desktop snippet. */
const BIN_PATH = fileURLToPath(new URL('../../../bin/memory', import.meta.url));

function printConnectHelp(url: string, dataDir: string): void {
  if (!process.stderr.isTTY) return;
  process.stderr.write(
    [
      '',
      `  memory is running: ${url}/mcp/   (health: ${url}/health)`,
      `  data:             ${dataDir}`,
      '',
      `  Claude Code:    claude mcp add --transport http memory ${url}/mcp/`,
      `  Cursor:         add to ~/.cursor/mcp.json  {"mcpServers": {"memory": {"url": "${url}/mcp/"}}}`,
      '  Claude Desktop: add to claude_desktop_config.json',
      `                  {"mcpServers": {"memory": {"command": "node", "args": [${JSON.stringify(BIN_PATH)}, "serve", "--stdio"]}}}`,
      `  Inspector:      npx @modelcontextprotocol/inspector --cli ${url}/mcp/ --transport http --method tools/list`,
      '',
    ].join('\n'),
  );
}

/** How long a stdio server whose start failed keeps answering (tool calls get the error). */
const FAILED_START_GRACE_MS = 3000;
/** How long stopping may take after stdin closed before the process exits regardless. */
const STDIN_CLOSED_EXIT_MS = 10_000;

/**
 * `memory serve`; resolves once the server is up (it then runs until a signal, or over stdio
 * until stdin closes). A failed start logs why and exits 1: never a process left waiting.
 */
export async function runServeCommand(config: Config, options: ServeOptions): Promise<void> {
  let running: Promise<RunningServer> | undefined;
  let failed = false;
  if (options.stdio) {
    // The client closing our stdin is the end of the session, whatever state the start is in.
    process.stdin.once('end', () => {
      logger.info('stdin closed: stopping');
      setTimeout(() => process.exit(failed ? 1 : 0), STDIN_CLOSED_EXIT_MS);
      void (running ?? Promise.reject(new Error('not started')))
        .then((server) => server.stop())
        .catch(() => {})
        .finally(() => process.exit(failed ? 1 : 0));
    });
  }
  running = runServe(config, options);
  try {
    const server = await running;
    stopOnSignals(() => server.stop(), logger);
  } catch (error) {
    failed = true;
    log.error(redactUrl(describeError(error)));
    if (options.stdio) await new Promise((resolveGrace) => setTimeout(resolveGrace, FAILED_START_GRACE_MS));
    process.exit(1);
  }
}

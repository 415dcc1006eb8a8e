/**
 * The HTTP listener: the Hono app with its health and metrics, on MCP_HOST:MCP_PORT.
 *
 * The port is taken first, before any service starts: a port already in use is then reported at
 * once, naming MCP_PORT, instead of after the database and index came up. Until the app is
 * attached, requests wait for it (or are told the start failed).
 */
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { Config } from '../config.js';
import type { Services } from '../domain/services.js';
import { AppError, describeError } from '../errors.js';
import { type HealthReport, healthReport, queueStats, workerStaleAfterMs } from '../health.js';
import type { StartupStatus } from '../startup.js';
import { createApp } from './http.js';
import type { ServicesSource } from './mcp.js';
import { createMetrics } from './metrics.js';
import { TOOLS } from './tools/index.js';

/** Figures kept by the serving process itself, for /metrics (orphan vectors the sweep removed). */
interface MetricsFigures {
  orphansRemoved?: () => Readonly<Record<string, number>>;
}

type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

export interface HttpListener {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  readonly url: string;
  /** Serves the app over `services` (started, or still starting). */
  attach(services: ServicesSource): void;
  /** Answers every request with 503 and this reason (the start failed). */
  fail(error: unknown): void;
  close(): Promise<void>;
}

/**
 * Takes MCP_HOST:MCP_PORT or throws `PORT_IN_USE` naming MCP_PORT. `startup` says what the start
 * is waiting for (Postgres, the vector index), which /health reports until it is done.
 */
export async function bindHttpListener(
  config: Config,
  startup?: () => StartupStatus,
  figures: MetricsFigures = {},
): Promise<HttpListener> {
  let attached: (fetch: Fetch) => void = () => {};
  let current: Promise<Fetch> = new Promise((resolveFetch) => {
    attached = resolveFetch;
  });
  const server: ServerType = createAdaptorServer({
    fetch: async (request: Request, env: unknown) => (await current)(request, env),
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        reject(
          new AppError(
            'PORT_IN_USE',
            `cannot listen on ${config.mcp.host}:${config.mcp.port} (${error.code === 'EADDRINUSE' ? 'the port is already in use' : 'permission denied'}): ` +
              'stop the program using it, or set MCP_PORT to another port (MCP_PORT=0 picks a free one)',
            { cause: error },
          ),
        );
      } else reject(error);
    });
    server.listen(config.mcp.port, config.mcp.host, () => {
      const address = server.address();
      resolvePort(typeof address === 'object' && address !== null ? address.port : config.mcp.port);
    });
  });
  const host = config.mcp.host.includes(':') ? `[${config.mcp.host}]` : config.mcp.host;
  return {
    url: `http://${host}:${port}`,
    attach(services) {
      attached(createServingApp(config, services, startup, figures).fetch);
    },
    fail(error) {
      const body = JSON.stringify({ status: 'failed', error: describeError(error) });
      const failed: Fetch = () =>
        new Response(body, { status: 503, headers: { 'content-type': 'application/json' } });
      current = Promise.resolve(failed);
      attached(failed);
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

function createServingApp(
  config: Config,
  source: ServicesSource,
  startup: (() => StartupStatus) | undefined,
  figures: MetricsFigures,
) {
  let started: Services | undefined = 'sql' in source ? source : undefined;
  let failure: unknown;
  Promise.resolve(source).then(
    (services) => {
      started = services;
    },
    (error: unknown) => {
      failure = error;
    },
  );
  const metrics = createMetrics({
    ...figures,
    readStats: async () => queueStats((await source).sql, config),
    workerStaleSeconds: workerStaleAfterMs(config) / 1000,
  });
  return createApp({
    config,
    services: source,
    tools: TOOLS,
    health: async (): Promise<HealthReport> => {
      if (started !== undefined) return healthReport(started);
      if (failure !== undefined) return { status: 'failed', error: describeError(failure) };
      const waiting = startup?.();
      if (waiting?.waitingFor === undefined) return { status: 'starting' };
      return {
        status: 'waiting',
        waiting_for: waiting.waitingFor,
        attempts: waiting.attempts,
        waited_seconds: waiting.waitedSeconds,
        gives_up_in_seconds: waiting.givesUpInSeconds,
      };
    },
    metrics: () => metrics.render(),
    hooks: metrics.hooks,
  });
}

/** Binds and serves at once (services already started). */
export async function startHttpServer(
  config: Config,
  services: Services,
): Promise<{ url: string; close(): Promise<void> }> {
  const listener = await bindHttpListener(config);
  listener.attach(services);
  return listener;
}

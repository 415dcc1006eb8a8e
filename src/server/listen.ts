/** The HTTP listener: the Hono app with its health and metrics, on MCP_HOST:MCP_PORT. */
import { type ServerType, serve as serveNode } from '@hono/node-server';
import type { Config } from '../config.js';
import type { Services } from '../domain/services.js';
import { healthReport, queueStats, workerStaleAfterMs } from '../health.js';
import type { StartupStatus } from '../startup.js';
import { healthDetailsAllowed } from './exposure.js';
import { createApp } from './http.js';
import { createMetrics } from './metrics.js';
import { TOOLS } from './tools/index.js';

type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/** A bound port whose request handler can be swapped: the starting answers, then the app. */
export interface HttpListener {
  url: string;
  use(fetch: Fetch): void;
  close(): Promise<void>;
}

/**
 * Binds MCP_HOST:MCP_PORT at once, answering with `fetch` until `use()` installs another
 * handler. The server binds before it waits for Postgres and the vector index, so that its
 * port is taken early and /health says what it is waiting for instead of refusing connections.
 */
export async function openHttpListener(config: Config, fetch: Fetch): Promise<HttpListener> {
  let current = fetch;
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolvePort, reject) => {
    server = serveNode(
      { fetch: (request, env) => current(request, env), port: config.mcp.port, hostname: config.mcp.host },
      (info) => resolvePort(info.port),
    );
    server.once('error', reject);
  });
  const host = config.mcp.host.includes(':') ? `[${config.mcp.host}]` : config.mcp.host;
  return {
    url: `http://${host}:${port}`,
    use(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolveClose) => {
        if (server === undefined) return resolveClose();
        server.close(() => resolveClose());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/**
 * The answers while the server waits for its services: /health is 503 with status "waiting"
 * (what for, since when, until when), everything else 503 with Retry-After.
 */
export function startingAnswers(config: Config, status: () => StartupStatus): Fetch {
  return (request) => {
    const now = status();
    const path = new URL(request.url).pathname;
    if (path === '/health') {
      const detailed = healthDetailsAllowed(
        {
          authorization: request.headers.get('authorization') ?? undefined,
          host: request.headers.get('host') ?? undefined,
        },
        config,
      );
      const details = {
        waiting_for: now.waitingFor ?? 'start-up',
        attempts: now.attempts,
        waited_seconds: now.waitedSeconds,
        gives_up_in_seconds: now.givesUpInSeconds,
      };
      return Response.json(detailed ? { status: 'waiting', ...details } : { status: 'waiting' }, {
        status: 503,
        headers: { 'retry-after': '5' },
      });
    }
    return Response.json(
      {
        jsonrpc: '2.0',
        error: { code: -32000, message: 'memory is starting (waiting for its services); retry shortly' },
        id: null,
      },
      { status: 503, headers: { 'retry-after': '5' } },
    );
  };
}

/** Serves the app, on `listener` when one is already bound (else on a new one). */
export async function startHttpServer(
  config: Config,
  services: Services,
  listener?: HttpListener,
): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = createMetrics({
    readStats: () => queueStats(services.sql, config),
    workerStaleSeconds: workerStaleAfterMs(config) / 1000,
  });
  const app = createApp({
    config,
    services,
    tools: TOOLS,
    health: () => healthReport(services),
    metrics: () => metrics.render(),
    hooks: metrics.hooks,
  });
  const bound = listener ?? (await openHttpListener(config, app.fetch));
  bound.use(app.fetch);
  return { url: bound.url, close: bound.close };
}

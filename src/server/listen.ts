/** The HTTP listener: the Hono app with its health and metrics, on MCP_HOST:MCP_PORT. */
import { type ServerType, serve as serveNode } from '@hono/node-server';
import type { Config } from '../config.js';
import type { Services } from '../domain/services.js';
import { healthReport, queueStats, workerStaleAfterMs } from '../health.js';
import { createApp } from './http.js';
import { createMetrics } from './metrics.js';
import { TOOLS } from './tools/index.js';

export async function startHttpServer(
  config: Config,
  services: Services,
  figures: { orphansRemoved?: () => Readonly<Record<string, number>> } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = createMetrics({
    ...figures,
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

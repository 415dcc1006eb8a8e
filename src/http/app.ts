/**
 * The HTTP surface: MCP Streamable HTTP at `/mcp` and `/mcp/`, `GET /health`, `GET /metrics`.
 *
 * MCP runs stateless: each POST gets its own server and transport, answers with JSON, and no
 * session is kept, so any replica can answer any request and a restart loses nothing. GET (a
 * server-to-client stream) is answered 405, as the specification allows for servers that offer
 * none.
 */
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Config } from '../config.js';
import { createMcpServer, type McpHooks } from '../mcp/server.js';
import { createMcpAuthenticator } from '../server/oauth/bearer.js';
import { createOAuthRoutes } from '../server/oauth/routes.js';
import type { Services } from '../services.js';
import type { Tool } from '../tools/registry.js';

/** The largest artifact (10,000,000 characters, up to 4 UTF-8 bytes each) plus the JSON-RPC envelope. */
export const MAX_BODY_BYTES = 41 * 1024 * 1024;

export interface HealthReport {
  status: 'ok' | 'degraded';
  [key: string]: unknown;
}

export interface AppDeps {
  config: Config;
  services: Services;
  tools: readonly Tool[];
  health(): Promise<HealthReport>;
  metrics?(): Promise<{ contentType: string; body: string }>;
  hooks?: McpHooks;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Browsers send `Origin`; other clients do not. A page from a foreign origin must not reach a
 * server on the user's machine (DNS rebinding), so only loopback origins and the configured
 * MCP_ALLOWED_ORIGINS pass.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || origin === '') return true;
  if (allowed.includes(origin)) return true;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

function jsonRpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const { config } = deps;

  app.get('/health', async (c) => {
    const report = await deps.health();
    return c.json(report, report.status === 'ok' ? 200 : 503);
  });

  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async () => {
      const { contentType, body } = await metrics();
      return new Response(body, { headers: { 'content-type': contentType } });
    });
  }

  if (config.oauth) app.route('/', createOAuthRoutes({ oauth: config.oauth, sql: deps.services.sql }));
  const authenticate = createMcpAuthenticator(config, deps.services.sql);

  const handleMcp = async (request: Request): Promise<Response> => {
    const server = createMcpServer(deps.services, deps.tools, deps.hooks);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_BODY_BYTES,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(request);
    } finally {
      // JSON responses are complete once handleRequest resolves.
      void server.close();
    }
  };

  for (const path of ['/mcp', '/mcp/']) {
    app.use(path, async (c, next) => {
      if (!originAllowed(c.req.header('origin'), config.mcp.allowedOrigins)) {
        return jsonRpcError(
          403,
          -32000,
          'Forbidden: this Origin is not allowed (set MCP_ALLOWED_ORIGINS to allow it)',
        );
      }
      const auth = authenticate ? await authenticate(c.req.header('authorization')) : undefined;
      if (auth !== undefined && !auth.ok) {
        return jsonRpcError(401, -32001, auth.message, { 'www-authenticate': auth.challenge });
      }
      await next();
    });
    app.use(
      path,
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: () =>
          jsonRpcError(
            413,
            -32000,
            `Request body too large: the limit is ${MAX_BODY_BYTES} bytes (artifacts up to 10,000,000 characters)`,
          ),
      }),
    );
    app.post(path, (c) => handleMcp(c.req.raw));
    app.on(['GET', 'DELETE'], path, () =>
      jsonRpcError(405, -32000, 'Method not allowed: this server is stateless; send JSON-RPC with POST', {
        allow: 'POST',
      }),
    );
  }

  app.notFound((c) => c.json({ error: 'not found', endpoints: ['/mcp', '/health', '/metrics'] }, 404));
  app.onError((error, c) => {
    void error;
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

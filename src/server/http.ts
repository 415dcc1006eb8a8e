/**
 * The HTTP surface: MCP Streamable HTTP at `/mcp` and `/mcp/`, `GET /health`, `GET /metrics`.
 *
 * MCP runs stateless: each POST is answered on its own with JSON (server/mcp.ts dispatches it),
 * and no session is kept, so any replica can answer any request and a restart loses nothing. GET
 * (a server-to-client stream) is answered 405, as the specification allows for servers that
 * offer none.
 */
import type { IncomingMessage } from 'node:http';
import { type Context, Hono } from 'hono';
import type { Config } from '../config.js';
import type { HealthReport } from '../health.js';
import type { Sql } from '../store/connect.js';
import { healthDetailsAllowed, hostAllowed, metricsProtected, monitoringAuthorized } from './exposure.js';
import {
  createMcpDispatcher,
  type McpHooks,
  type ServicesSource,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './mcp.js';
import { createMcpAuthenticator } from './oauth/bearer.js';
import { createOAuthRoutes } from './oauth/routes.js';
import type { Tool } from './tools/registry.js';

/** The largest artifact (10,000,000 characters, up to 4 UTF-8 bytes each) plus the JSON-RPC envelope. */
export const MAX_BODY_BYTES = 41 * 1024 * 1024;

export interface AppDeps {
  config: Config;
  /**
   * The services, or their start still under way: MCP `initialize` and `tools/list` are answered
   * without them, tool calls wait. OAuth needs them started (its routes read the database).
   */
  services: ServicesSource;
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

/**
 * The request body as text, or undefined when it is larger than `limit` bytes. Under the Node
 * server it is read straight from the socket's stream: going through the fetch `Request` (as
 * hono's bodyLimit does) built a web stream, an AbortSignal and an undici Request for every POST,
 * the largest per-request cost left on a cheap tool call (bench/mcp-overhead.ts).
 */
async function readBody(c: Context, limit: number): Promise<string | undefined> {
  const declared = Number(c.req.header('content-length'));
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (declared > limit) {
    // Read and drop the body while the 413 goes out: a client still uploading would otherwise
    // see its connection reset instead of the answer.
    incoming?.resume();
    return undefined;
  }
  if (incoming === undefined) {
    const text = await c.req.text();
    return Buffer.byteLength(text) > limit ? undefined : text;
  }
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering; what is left of the body is read and dropped as the answer goes out.
        incoming.off('data', onData);
        incoming.resume();
        resolveBody(undefined);
        return;
      }
      chunks.push(chunk);
    };
    incoming.on('data', onData);
    incoming.once('end', () => {
      if (size <= limit) resolveBody(Buffer.concat(chunks, size).toString('utf8'));
    });
    incoming.once('error', reject);
  });
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const { config } = deps;

  // /health answers whatever the Host (container and load-balancer probes use addresses and
  // names of their own); what it tells a stranger is only ok or degraded.
  app.get('/health', async (c) => {
    const report = await deps.health();
    const status = report.status === 'ok' ? 200 : 503;
    const detailed = healthDetailsAllowed(
      { authorization: c.req.header('authorization'), host: c.req.header('host') },
      config,
    );
    return c.json(detailed ? report : { status: report.status }, status);
  });

  // Every other route answers only requests that name this server (DNS rebinding).
  app.use('*', async (c, next) => {
    const host = c.req.header('host') ?? new URL(c.req.url).host;
    if (!hostAllowed(host, config)) {
      return jsonRpcError(
        403,
        -32000,
        `Forbidden: Host ${JSON.stringify(host.slice(0, 255))} is not allowed (set MCP_ALLOWED_HOSTS to allow it)`,
      );
    }
    await next();
  });

  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async (c) => {
      if (metricsProtected(config) && !monitoringAuthorized(c.req.header('authorization'), config)) {
        return c.json(
          { error: 'Unauthorized: send Authorization: Bearer <METRICS_TOKEN or MCP_AUTH_TOKEN>' },
          401,
          {
            'www-authenticate': 'Bearer realm="memory-metrics"',
          },
        );
      }
      const { contentType, body } = await metrics();
      return new Response(body, { headers: { 'content-type': contentType } });
    });
  }

  const services = deps.services;
  if (config.oauth) {
    if (!('sql' in services)) throw new Error('OAuth routes need the started services');
    app.route('/', createOAuthRoutes({ oauth: config.oauth, sql: services.sql }));
  }
  let sql: Sql | Promise<Sql>;
  if ('sql' in services) sql = services.sql;
  else {
    sql = Promise.resolve(services).then((started) => started.sql);
    // A failed start is reported by tool calls and the log; this copy must not count as unhandled.
    sql.catch(() => {});
  }
  const authenticate = createMcpAuthenticator(config, sql);
  const dispatcher = createMcpDispatcher(deps.services, deps.tools, deps.hooks);
  const handleMcp = async (c: Context): Promise<Response> => {
    const request = c.req.raw;
    // The transport rules of MCP Streamable HTTP, checked in the order the SDK checks them.
    const accept = request.headers.get('accept') ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return jsonRpcError(
        406,
        -32000,
        'Not Acceptable: Client must accept both application/json and text/event-stream',
      );
    }
    const contentType = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') {
      return jsonRpcError(415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    }
    const version = request.headers.get('mcp-protocol-version');
    if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      return jsonRpcError(
        400,
        -32000,
        `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      );
    }
    const text = await readBody(c, MAX_BODY_BYTES);
    if (text === undefined) {
      return jsonRpcError(
        413,
        -32000,
        `Request body too large: the limit is ${MAX_BODY_BYTES} bytes (artifacts up to 10,000,000 characters)`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return jsonRpcError(400, -32700, 'Parse error: Invalid JSON');
    }
    const reply = await dispatcher.handle(body);
    if (reply.body === undefined) return new Response(null, { status: reply.status });
    return new Response(reply.body, {
      status: reply.status,
      headers: { 'content-type': 'application/json' },
    });
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
    app.post(path, (c) => handleMcp(c));
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

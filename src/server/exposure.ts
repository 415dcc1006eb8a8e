/**
 * Who can reach this server, and what it tells them. The MCP specification asks HTTP servers to
 * guard against DNS rebinding: a page on `evil.example` whose name is re-pointed at 127.0.0.1
 * reaches a local server with the browser's cookies-free but otherwise ordinary requests, and
 * the one thing it cannot forge is the Host header (`evil.example`). So requests must name this
 * server: a loopback name, an IP address (a rebinding attack always arrives under its own domain
 * name), MCP_PUBLIC_URL's host, or one of MCP_ALLOWED_HOSTS.
 */
import { isIP } from 'node:net';
import type { Config } from '../config.js';
import { secretsEqual } from './oauth/crypto.js';

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.']);
const LOOPBACK_BIND = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/;

/** Whether MCP_HOST binds beyond the loopback interface (0.0.0.0, a LAN address, ...). */
export function boundBeyondLoopback(config: Config): boolean {
  return !LOOPBACK_BIND.test(config.mcp.host);
}

/** Whether /mcp asks for credentials (MCP_AUTH_TOKEN or OAuth). */
export function authRequired(config: Config): boolean {
  return config.mcp.authToken !== undefined || config.oauth !== undefined;
}

/**
 * The warning for a server anyone on the network can use, or undefined when it is bound to
 * loopback or asks for credentials.
 */
export function exposureWarning(config: Config): string | undefined {
  if (!boundBeyondLoopback(config) || authRequired(config)) return undefined;
  return (
    `MCP_HOST=${config.mcp.host} accepts connections from other machines and /mcp has no authentication: ` +
    'anyone who can reach this port can read, write and delete every memory. Set MCP_AUTH_TOKEN (or ' +
    'MCP_PUBLIC_URL and MCP_OWNER_SECRET for OAuth), or bind MCP_HOST=127.0.0.1; MCP_REQUIRE_AUTH=true ' +
    'refuses to start like this.'
  );
}

/** The host name of a Host header value (`[::1]:3000` → `::1`, `a.example:80` → `a.example`). */
function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Whether a request's Host header names this server. DNS rebinding turns a browser into a client
 * of a server it believes private, which is what a loopback-bound server is: there, only loopback
 * names, addresses and the configured names pass. A server bound beyond loopback is reachable by
 * whatever names the network gives it (a container name, a tunnel's or a proxy's domain) and is
 * protected by its token; it checks names only once MCP_ALLOWED_HOSTS (or MCP_PUBLIC_URL) lists
 * them.
 */
export function hostAllowed(host: string | undefined, config: Config): boolean {
  if (host === undefined || host === '') return false;
  const lower = host.toLowerCase();
  const name = hostName(lower);
  if (LOOPBACK_NAMES.has(name) || isIP(name) !== 0) return true;
  if (config.mcp.allowedHosts.length === 0 && boundBeyondLoopback(config)) return true;
  return config.mcp.allowedHosts.some((allowed) =>
    allowed.includes(':') ? allowed === lower : allowed === name,
  );
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match === null ? undefined : match[1]!.trim();
}

/** The tokens that open /metrics and the detailed /health: METRICS_TOKEN and MCP_AUTH_TOKEN. */
function monitoringTokens(config: Config): string[] {
  return [config.mcp.metricsToken, config.mcp.authToken].filter((token) => token !== undefined);
}

/** Whether /metrics asks for a token (one of METRICS_TOKEN, MCP_AUTH_TOKEN is set). */
export function metricsProtected(config: Config): boolean {
  return monitoringTokens(config).length > 0;
}

/** Whether the Authorization header carries METRICS_TOKEN or MCP_AUTH_TOKEN. */
export function monitoringAuthorized(authorization: string | undefined, config: Config): boolean {
  const token = bearer(authorization);
  return token !== undefined && monitoringTokens(config).some((known) => secretsEqual(token, known));
}

/**
 * Whether /health may show its details (dependencies, errors, embedder, queue): to a request
 * with a monitoring token; without one only when no token is configured, the server is bound to
 * loopback and the Host header names it. Everyone else learns ok / degraded and nothing more.
 */
export function healthDetailsAllowed(
  request: { authorization: string | undefined; host: string | undefined },
  config: Config,
): boolean {
  if (monitoringAuthorized(request.authorization, config)) return true;
  return !metricsProtected(config) && !boundBeyondLoopback(config) && hostAllowed(request.host, config);
}

/**
 * Who may call /mcp: the static MCP_AUTH_TOKEN (clients that can send a header: Claude Code,
 * Cursor, scripts), an OAuth access token issued here for our resource (Claude.ai and Claude
 * Desktop connectors), either when both are on, or anyone when neither is.
 *
 * A refusal is a 401 whose WWW-Authenticate names the protected resource metadata when OAuth is
 * on (RFC 9728 §5.1; the MCP authorization specification): that header is how a connector finds
 * the authorization server. `error="invalid_token"` tells a client holding an expired or revoked
 * token to refresh it or sign in again (RFC 6750 §3.1).
 */
import type { Config } from '../../config.js';
import type { Sql } from '../../store/connect.js';
import { findToken } from '../../store/oauth.js';
import { exposureWarning } from '../exposure.js';
import { digest, ownerFingerprint, secretsEqual } from './crypto.js';
import { type OAuthUrls, oauthUrls } from './metadata.js';
import { ACCESS_TOKEN_PREFIX } from './token.js';

export type McpAuthResult =
  | { ok: true; via: 'static' | 'oauth'; clientId?: string }
  | { ok: false; message: string; challenge: string };

/** Checks the Authorization header of a /mcp request. */
export type McpAuthenticator = (authorization: string | undefined) => Promise<McpAuthResult>;

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match === null ? undefined : match[1]!.trim();
}

/** Undefined when /mcp is open (neither MCP_AUTH_TOKEN nor OAuth is configured). */
/** `sql` may still be starting: only an OAuth access token needs it, and waits for it. */
export function createMcpAuthenticator(
  config: Config,
  sql: Sql | PromiseLike<Sql>,
): McpAuthenticator | undefined {
  const staticToken = config.mcp.authToken;
  const urls: OAuthUrls | undefined = config.oauth ? oauthUrls(config.oauth.issuer) : undefined;
  const owner = config.oauth ? ownerFingerprint(config.oauth.ownerSecret) : undefined;
  if (staticToken === undefined && urls === undefined) return undefined;

  const refuse = (message: string, error?: string): McpAuthResult => {
    const parts = ['Bearer realm="memory"'];
    if (urls !== undefined) parts.push(`resource_metadata="${urls.resourceMetadata}"`);
    if (error !== undefined) parts.push(`error="invalid_token"`, `error_description="${error}"`);
    return { ok: false, message, challenge: parts.join(', ') };
  };
  const howTo =
    urls === undefined
      ? 'send Authorization: Bearer <MCP_AUTH_TOKEN>'
      : staticToken === undefined
        ? `sign in with OAuth (metadata: ${urls.resourceMetadata})`
        : `sign in with OAuth (metadata: ${urls.resourceMetadata}) or send Authorization: Bearer <MCP_AUTH_TOKEN>`;

  return async (header) => {
    const token = bearerToken(header);
    if (token === undefined) return refuse(`Unauthorized: ${howTo}`);
    if (staticToken !== undefined && secretsEqual(token, staticToken)) return { ok: true, via: 'static' };
    // Only our own access tokens are looked up: anything else costs no query.
    if (urls !== undefined && token.startsWith(ACCESS_TOKEN_PREFIX)) {
      const row = await findToken(await sql, digest(token), 'access');
      if (row === undefined) return refuse(`Unauthorized: unknown access token; ${howTo}`, 'unknown token');
      if (row.resource !== urls.resource) {
        return refuse(
          `Unauthorized: this access token was issued for ${row.resource}`,
          'token for another resource',
        );
      }
      if (row.revoked_at !== null)
        return refuse('Unauthorized: the access token was revoked', 'token revoked');
      if (!row.live) return refuse('Unauthorized: the access token expired; refresh it', 'token expired');
      if (row.owner_fingerprint !== owner) {
        return refuse(
          'Unauthorized: the owner secret changed since this client was approved',
          'token revoked',
        );
      }
      return { ok: true, via: 'oauth', clientId: row.client_id };
    }
    return refuse(`Unauthorized: ${howTo}`, 'invalid token');
  };
}

/**
 * Logs which ways into /mcp are open, and a SECURITY warning when none is and the bind is not
 * loopback (MCP_REQUIRE_AUTH=true refuses to start like that: see `refuseUnauthenticatedExposure`).
 */
export function announceAuthModes(
  config: Config,
  logger: { info(message: string): void; warn(message: string): void },
): void {
  const line = describeAuthModes(config);
  const warning = exposureWarning(config);
  if (warning === undefined) {
    logger.info(line);
    return;
  }
  logger.warn(line);
  logger.warn(`SECURITY WARNING: ${warning}`);
}

/** One line for the start-up log: which ways into /mcp are open. */
export function describeAuthModes(config: Config): string {
  const modes: string[] = [];
  if (config.mcp.authToken !== undefined) modes.push('static bearer token (MCP_AUTH_TOKEN)');
  if (config.oauth !== undefined) {
    modes.push(`OAuth 2.1 (issuer ${config.oauth.issuer}, consent with MCP_OWNER_SECRET)`);
  }
  const hint =
    config.oauth === undefined && config.mcp.publicUrl !== undefined
      ? ' (OAuth is off: MCP_PUBLIC_URL is set but MCP_OWNER_SECRET is not)'
      : '';
  if (modes.length === 0) {
    return `Auth on /mcp: NONE, anyone who can reach this port can read and write every memory (set MCP_AUTH_TOKEN, or MCP_PUBLIC_URL and MCP_OWNER_SECRET for OAuth)${hint}`;
  }
  return `Auth on /mcp: ${modes.join(' and ')}${hint}`;
}

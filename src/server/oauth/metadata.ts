/**
 * Where everything lives, and the two discovery documents: protected resource metadata
 * (RFC 9728) and authorization server metadata (RFC 8414).
 *
 * The server is both the resource (`/mcp`) and its authorization server, on one origin: the
 * issuer is MCP_PUBLIC_URL and the resource is `${issuer}/mcp`. The resource has no trailing
 * slash on purpose: the SDK's client accepts a resource whose path is a prefix of the URL it
 * connects to, so `/mcp` covers clients configured with `/mcp` and with `/mcp/`, where `/mcp/`
 * would refuse the former.
 */
import type { OAuthMetadata, OAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';

/** The one scope: everything the MCP tools do. Requested scopes are not refused (see authorize.ts). */
export const SCOPE = 'memory';

export interface OAuthUrls {
  issuer: string;
  /** The RFC 8707 resource indicator that every token is bound to. */
  resource: string;
  /** Named by the 401's WWW-Authenticate header. */
  resourceMetadata: string;
  authorization: string;
  token: string;
  registration: string;
  revocation: string;
}

/** The URLs of an issuer (an origin without a trailing slash, as config.ts makes it). */
export function oauthUrls(issuer: string): OAuthUrls {
  return {
    issuer,
    resource: `${issuer}/mcp`,
    resourceMetadata: `${issuer}/.well-known/oauth-protected-resource/mcp`,
    authorization: `${issuer}/authorize`,
    token: `${issuer}/token`,
    registration: `${issuer}/register`,
    revocation: `${issuer}/revoke`,
  };
}

/**
 * The canonical resource for a `resource` parameter, or undefined when it names something else.
 * Clients send what they were configured with or what the metadata said: `${issuer}/mcp`,
 * `${issuer}/mcp/`, or the bare origin (the MCP specification allows both the endpoint and the
 * server's base URL as its canonical URI). All name this server's one protected resource.
 */
export function canonicalResource(value: string, urls: OAuthUrls): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return undefined;
  }
  if (value.includes('#') || parsed.search !== '' || parsed.username !== '' || parsed.password !== '') {
    return undefined;
  }
  if (parsed.origin !== urls.issuer) return undefined;
  return ['/', '/mcp', '/mcp/'].includes(parsed.pathname) ? urls.resource : undefined;
}

export function protectedResourceMetadata(urls: OAuthUrls): OAuthProtectedResourceMetadata {
  return {
    resource: urls.resource,
    authorization_servers: [urls.issuer],
    scopes_supported: [SCOPE],
    bearer_methods_supported: ['header'],
    resource_name: 'memory',
  };
}

export function authorizationServerMetadata(urls: OAuthUrls): OAuthMetadata {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    registration_endpoint: urls.registration,
    revocation_endpoint: urls.revocation,
    scopes_supported: [SCOPE],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_post', 'client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
  };
}

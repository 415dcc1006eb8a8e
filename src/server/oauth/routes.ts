/**
 * The OAuth 2.1 authorization server, mounted on the main app when MCP_PUBLIC_URL and
 * MCP_OWNER_SECRET are set:
 *
 * | route | what |
 * |---|---|
 * | GET /.well-known/oauth-protected-resource[/mcp] | RFC 9728 metadata of /mcp |
 * | GET /.well-known/oauth-authorization-server | RFC 8414 metadata |
 * | POST /register | RFC 7591 dynamic client registration |
 * | GET, POST /authorize | the consent page and the owner's answer |
 * | POST /token | authorization_code and refresh_token grants |
 * | POST /revoke | RFC 7009 revocation |
 *
 * The SDK's client looks for the resource metadata path-aware first (for a server URL ending in
 * `/mcp/` it asks `/.well-known/oauth-protected-resource/mcp`), then at the root; both are
 * served, as is the `/mcp/` spelling. The SDK's own server-side router is Express; these are
 * Hono handlers over the same documents and rules.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import type { OAuthConfig } from '../../config.js';
import type { Sql } from '../../store/connect.js';
import { answerConsent, showConsent } from './authorize.js';
import { authorizationServerMetadata, oauthUrls, protectedResourceMetadata } from './metadata.js';
import { handleRegister } from './register.js';
import { oauthError } from './responses.js';
import { handleRevoke, handleToken } from './token.js';

/** Client metadata, a token request or the consent form are a few hundred bytes. */
const OAUTH_BODY_LIMIT = 64 * 1024;

export interface OAuthRoutesDeps {
  oauth: OAuthConfig;
  sql: Sql;
}

/** The OAuth endpoints as a Hono app, to mount at the root of the main one. */
export function createOAuthRoutes(deps: OAuthRoutesDeps): Hono {
  const app = new Hono();
  const urls = oauthUrls(deps.oauth.issuer);
  const handlerDeps = { sql: deps.sql, oauth: deps.oauth, urls };

  // Browser-based MCP clients read the metadata and call /register, /token and /revoke from
  // their own origin. No cookie is involved in those, so any origin may; the consent page gets
  // no CORS at all.
  const open = cors({ origin: '*', allowMethods: ['GET', 'POST', 'OPTIONS'], maxAge: 86_400 });
  for (const path of ['/.well-known/*', '/register', '/token', '/revoke']) app.use(path, open);
  const limit = bodyLimit({
    maxSize: OAUTH_BODY_LIMIT,
    onError: () => oauthError(413, 'invalid_request', `the body is larger than ${OAUTH_BODY_LIMIT} bytes`),
  });
  for (const path of ['/register', '/token', '/revoke', '/authorize']) app.use(path, limit);

  const resource = protectedResourceMetadata(urls);
  for (const path of [
    '/.well-known/oauth-protected-resource',
    '/.well-known/oauth-protected-resource/mcp',
    '/.well-known/oauth-protected-resource/mcp/',
  ]) {
    app.get(path, (c) => c.json(resource));
  }
  const server = authorizationServerMetadata(urls);
  app.get('/.well-known/oauth-authorization-server', (c) => c.json(server));

  app.post('/register', (c) => handleRegister(c.req.raw, deps.sql));
  app.get('/authorize', (c) => showConsent(c, handlerDeps));
  app.post('/authorize', (c) => answerConsent(c, handlerDeps));
  app.post('/token', (c) => handleToken(c, handlerDeps));
  app.post('/revoke', (c) => handleRevoke(c, handlerDeps));
  return app;
}

/**
 * POST /token (authorization_code and refresh_token grants) and POST /revoke (RFC 7009).
 *
 * Tokens are opaque random strings with a readable prefix (`memory_at_`, `memory_rt_`); only
 * their sha256 digests are stored. Access tokens are short-lived (MCP_ACCESS_TOKEN_TTL); refresh
 * tokens rotate on every use (OAuth 2.1 §4.3.1 for public clients), and a refresh token
 * presented after it was rotated away means two parties hold it, so its whole grant is revoked.
 * Self-contained JWTs were not chosen: /mcp would accept them without a database read, but a
 * revoked one would keep working until it expired, and revocation is what the owner asked for.
 */
import type { Context } from 'hono';
import type { OAuthConfig } from '../../config.js';
import { taggedLogger } from '../../log.js';
import type { Sql } from '../../store/connect.js';
import {
  type ClientRow,
  consumeAuthorizationCode,
  findClient,
  findToken,
  insertTokens,
  type NewToken,
  revokeGrant,
  rotateRefreshToken,
  type TokenGrant,
} from '../../store/oauth.js';
import { digest, ownerFingerprint, randomToken, secretsEqual, verifierMatches } from './crypto.js';
import { canonicalResource, type OAuthUrls } from './metadata.js';
import { jsonResponse, oauthError, param, repeatedParameter } from './responses.js';

const logger = taggedLogger('oauth');

export const ACCESS_TOKEN_PREFIX = 'memory_at_';
export const REFRESH_TOKEN_PREFIX = 'memory_rt_';
/** Refresh tokens live 30 days from their last use: a connector used monthly stays connected. */
export const REFRESH_TOKEN_SECONDS = 30 * 86_400;

export interface TokenDeps {
  sql: Sql;
  oauth: OAuthConfig;
  urls: OAuthUrls;
}

type Authenticated = { client: ClientRow } | { error: Response };

/** Reads the form body; undefined when it is not one. */
async function readForm(c: Context): Promise<URLSearchParams | undefined> {
  const type = c.req.header('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) return undefined;
  return new URLSearchParams(await c.req.text());
}

function invalidClient(description: string, basic: boolean): Response {
  // RFC 6749 §5.2: 401, with a Basic challenge when the client tried the Authorization header.
  return oauthError(
    401,
    'invalid_client',
    description,
    basic ? { 'www-authenticate': 'Basic realm="memory"' } : {},
  );
}

/**
 * Client authentication (RFC 6749 §2.3): HTTP Basic or client_secret in the body for clients
 * registered with a secret, the bare client_id for public clients (which PKCE protects).
 */
async function authenticateClient(c: Context, form: URLSearchParams, sql: Sql): Promise<Authenticated> {
  const header = c.req.header('authorization');
  let clientId = param(form, 'client_id');
  let secret = param(form, 'client_secret');
  const basic = header !== undefined && /^Basic\s/i.test(header);
  if (basic) {
    if (secret !== undefined) {
      return {
        error: oauthError(
          400,
          'invalid_request',
          'use one client authentication method, not Basic and client_secret',
        ),
      };
    }
    const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { error: invalidClient('malformed Basic credentials', true) };
    try {
      // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
      const basicId = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '));
      if (clientId !== undefined && clientId !== basicId) {
        return { error: invalidClient('client_id differs from the Basic credentials', true) };
      }
      clientId = basicId;
      // An empty secret is no secret: some public clients send `client_id:` this way.
      secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' ')) || undefined;
    } catch {
      return { error: invalidClient('malformed Basic credentials', true) };
    }
  }
  if (clientId === undefined) return { error: invalidClient('client_id is required', basic) };
  const client = await findClient(sql, clientId);
  if (client === undefined) {
    return { error: invalidClient('unknown client: register again through /register', basic) };
  }
  if (client.client_secret_hash === null) {
    if (secret !== undefined)
      return { error: invalidClient('this client was registered without a secret', basic) };
    return { client };
  }
  if (secret === undefined)
    return { error: invalidClient('this client must authenticate with its secret', basic) };
  if (!secretsEqual(digest(secret), client.client_secret_hash)) {
    return { error: invalidClient('wrong client secret', basic) };
  }
  return { client };
}

/** Every `resource` of a token request must name the grant's resource (RFC 8707 §2.2). */
/**
 * What a code or refresh token must still be bound to when it is exchanged: the owner secret that
 * approved it and this server's resource, and any `resource` the client names must be that one.
 */
function bindingProblem(
  granted: { owner_fingerprint: string; resource: string },
  what: 'authorization code' | 'refresh token',
  form: URLSearchParams,
  deps: TokenDeps,
): Response | undefined {
  const { urls } = deps;
  if (granted.owner_fingerprint !== ownerFingerprint(deps.oauth.ownerSecret)) {
    return oauthError(400, 'invalid_grant', `the owner secret changed since this ${what} was issued`);
  }
  if (granted.resource !== urls.resource) {
    // Another server under another public URL on the same database issued it.
    return oauthError(400, 'invalid_grant', `the ${what} was issued for ${granted.resource}`);
  }
  for (const resource of form.getAll('resource')) {
    if (canonicalResource(resource, urls) !== granted.resource) {
      return oauthError(
        400,
        'invalid_target',
        `tokens here are only for ${granted.resource}, not ${resource}`,
      );
    }
  }
  return undefined;
}

function newTokens(client: ClientRow, deps: TokenDeps) {
  const access = randomToken(ACCESS_TOKEN_PREFIX);
  const refresh = client.grant_types.includes('refresh_token')
    ? randomToken(REFRESH_TOKEN_PREFIX)
    : undefined;
  const rows: NewToken[] = [
    { hash: digest(access), kind: 'access', ttlSeconds: deps.oauth.accessTokenSeconds },
  ];
  if (refresh !== undefined)
    rows.push({ hash: digest(refresh), kind: 'refresh', ttlSeconds: REFRESH_TOKEN_SECONDS });
  const body = (scope: string) => ({
    access_token: access,
    token_type: 'Bearer',
    expires_in: deps.oauth.accessTokenSeconds,
    ...(refresh !== undefined ? { refresh_token: refresh } : {}),
    scope,
  });
  return { rows, body };
}

async function exchangeCode(form: URLSearchParams, client: ClientRow, deps: TokenDeps): Promise<Response> {
  const { sql } = deps;
  const code = param(form, 'code');
  const verifier = param(form, 'code_verifier');
  if (code === undefined) return oauthError(400, 'invalid_request', 'code is required');
  if (verifier === undefined) return oauthError(400, 'invalid_request', 'code_verifier is required (PKCE)');

  const consumed = await consumeAuthorizationCode(sql, digest(code));
  if (consumed.status === 'unknown') return oauthError(400, 'invalid_grant', 'unknown authorization code');
  if (consumed.status === 'expired')
    return oauthError(400, 'invalid_grant', 'the authorization code expired');
  if (consumed.status === 'reused') {
    logger.warn('An authorization code was presented twice; the tokens issued from it are revoked', {
      client_id: client.client_id,
      revoked: consumed.revokedTokens,
    });
    return oauthError(
      400,
      'invalid_grant',
      'the authorization code was already used; the tokens issued from it are revoked',
    );
  }
  const granted = consumed.code;
  if (granted.client_id !== client.client_id) {
    return oauthError(400, 'invalid_grant', 'the authorization code was issued to another client');
  }
  const redirectUri = param(form, 'redirect_uri');
  if ((granted.redirect_uri_explicit || redirectUri !== undefined) && redirectUri !== granted.redirect_uri) {
    return oauthError(400, 'invalid_grant', 'redirect_uri differs from the one of the authorization request');
  }
  if (!verifierMatches(verifier, granted.code_challenge)) {
    return oauthError(
      400,
      'invalid_grant',
      'PKCE verification failed: code_verifier does not match code_challenge',
    );
  }
  const problem = bindingProblem(granted, 'authorization code', form, deps);
  if (problem !== undefined) return problem;

  const grant: TokenGrant = {
    grantId: granted.grant_id,
    clientId: client.client_id,
    resource: granted.resource,
    scope: granted.scope,
  };
  const tokens = newTokens(client, deps);
  await insertTokens(sql, grant, tokens.rows);
  logger.info('OAuth tokens issued', { client_id: client.client_id, grant_id: grant.grantId });
  return jsonResponse(200, tokens.body(grant.scope));
}

async function refresh(form: URLSearchParams, client: ClientRow, deps: TokenDeps): Promise<Response> {
  const { sql } = deps;
  const presented = param(form, 'refresh_token');
  if (presented === undefined) return oauthError(400, 'invalid_request', 'refresh_token is required');
  const token = await findToken(sql, digest(presented), 'refresh');
  if (token === undefined || token.client_id !== client.client_id) {
    return oauthError(400, 'invalid_grant', 'unknown refresh token');
  }
  if (token.revoked_at !== null) {
    // Revoked by the owner, or rotated away and now replayed: either way the grant ends here.
    const revoked = await revokeGrant(sql, token.grant_id);
    if (revoked > 0) {
      logger.warn('A rotated refresh token was presented again; its grant is revoked', {
        client_id: client.client_id,
        grant_id: token.grant_id,
      });
    }
    return oauthError(400, 'invalid_grant', 'the refresh token was revoked');
  }
  if (!token.live) return oauthError(400, 'invalid_grant', 'the refresh token expired');
  const problem = bindingProblem(token, 'refresh token', form, deps);
  if (problem !== undefined) return problem;

  const grant: TokenGrant = {
    grantId: token.grant_id,
    clientId: client.client_id,
    resource: token.resource,
    scope: token.scope,
  };
  const tokens = newTokens(client, deps);
  if (!(await rotateRefreshToken(sql, token.token_id, grant, tokens.rows))) {
    // Another request rotated it first: the same token was presented twice.
    await revokeGrant(sql, token.grant_id);
    return oauthError(400, 'invalid_grant', 'the refresh token was already used; its grant is revoked');
  }
  return jsonResponse(200, tokens.body(grant.scope));
}

/** POST /token: authenticates the client, then exchanges a code or rotates a refresh token. */
export async function handleToken(c: Context, deps: TokenDeps): Promise<Response> {
  const form = await readForm(c);
  if (form === undefined) {
    return oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const repeated = repeatedParameter(form);
  if (repeated !== undefined)
    return oauthError(400, 'invalid_request', `${repeated} was sent more than once`);
  const grantType = param(form, 'grant_type');
  if (grantType === undefined) return oauthError(400, 'invalid_request', 'grant_type is required');
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    return oauthError(
      400,
      'unsupported_grant_type',
      'supported grant types: authorization_code, refresh_token',
    );
  }
  const authenticated = await authenticateClient(c, form, deps.sql);
  if ('error' in authenticated) return authenticated.error;
  const { client } = authenticated;
  if (!client.grant_types.includes(grantType)) {
    return oauthError(400, 'unauthorized_client', `the client did not register the ${grantType} grant`);
  }
  return grantType === 'authorization_code' ? exchangeCode(form, client, deps) : refresh(form, client, deps);
}

/**
 * RFC 7009: revokes the grant of an access or refresh token that belongs to the calling client.
 * Answers 200 whether or not the token was known, so it reveals nothing about other tokens.
 */
export async function handleRevoke(c: Context, deps: TokenDeps): Promise<Response> {
  const form = await readForm(c);
  if (form === undefined) {
    return oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  const presented = param(form, 'token');
  if (presented === undefined) return oauthError(400, 'invalid_request', 'token is required');
  const authenticated = await authenticateClient(c, form, deps.sql);
  if ('error' in authenticated) return authenticated.error;
  const hint = form.get('token_type_hint');
  const kinds: Array<'access' | 'refresh'> =
    hint === 'refresh_token' ? ['refresh', 'access'] : ['access', 'refresh'];
  for (const kind of kinds) {
    const token = await findToken(deps.sql, digest(presented), kind);
    if (token !== undefined && token.client_id === authenticated.client.client_id) {
      await revokeGrant(deps.sql, token.grant_id);
      logger.info('OAuth grant revoked by its client', {
        client_id: token.client_id,
        grant_id: token.grant_id,
      });
      break;
    }
  }
  return new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } });
}

/**
 * POST /register: dynamic client registration (RFC 7591), how Claude.ai, Claude Desktop and the
 * SDK's client introduce themselves. Registration is open, as the MCP specification expects;
 * it grants nothing by itself: tokens need the owner's approval on the consent page.
 */
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import type { Sql } from '../../store/connect.js';
import { deleteAbandonedClients, insertClient, type TokenEndpointAuthMethod } from '../../store/oauth.js';
import { digest, randomToken } from './crypto.js';
import { jsonResponse, oauthError } from './responses.js';

const MAX_REDIRECT_URIS = 10;
const MAX_URI_LENGTH = 2000;
/** A registration never approved is deleted after a day (see deleteAbandonedClients). */
const ABANDONED_CLIENT_SECONDS = 86_400;

/** Loopback hosts, where plain http is allowed for native apps' redirects (RFC 8252 §7.3). */
export const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * Schemes that can never be a redirect target: they run code, read local files or go nowhere.
 * Other non-http schemes are an app's own (RFC 8252 §7.1, e.g. `cursor://...`) and are allowed.
 */
const FORBIDDEN_SCHEMES = new Set([
  'javascript:',
  'data:',
  'vbscript:',
  'file:',
  'blob:',
  'about:',
  'filesystem:',
  'ws:',
  'wss:',
  'ftp:',
  'mailto:',
]);

/** Why `uri` cannot be a redirect URI, or undefined when it can. */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri.length > MAX_URI_LENGTH) return `longer than ${MAX_URI_LENGTH} characters`;
  if (uri.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK_HOST.test(url.hostname)
      ? undefined
      : 'http:// is allowed only for a loopback address (localhost, 127.0.0.1, [::1]); use https://';
  }
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `the ${url.protocol} scheme cannot receive a redirect`;
  return undefined;
}

/**
 * Whether a redirect URI of an authorization request matches a registered one: exactly, or for
 * loopback http URIs with any port, since native apps listen on a port the system picks
 * (RFC 8252 §7.3, required by OAuth 2.1).
 */
export function redirectUriMatches(requested: string, registered: string): boolean {
  if (requested === registered) return true;
  let req: URL;
  let reg: URL;
  try {
    req = new URL(requested);
    reg = new URL(registered);
  } catch {
    return false;
  }
  return (
    req.protocol === 'http:' &&
    reg.protocol === 'http:' &&
    LOOPBACK_HOST.test(req.hostname) &&
    req.hostname === reg.hostname &&
    req.pathname === reg.pathname &&
    req.search === reg.search &&
    !requested.includes('#')
  );
}

const AUTH_METHODS = ['none', 'client_secret_post', 'client_secret_basic'] as const;
const GRANT_TYPES = ['authorization_code', 'refresh_token'] as const;

const RegistrationSchema = v.object({
  redirect_uris: v.pipe(
    v.array(v.string('each redirect URI must be a string')),
    v.minLength(1, 'at least one redirect URI is required'),
    v.maxLength(MAX_REDIRECT_URIS, `at most ${MAX_REDIRECT_URIS} redirect URIs`),
  ),
  client_name: v.optional(
    v.pipe(
      v.string(),
      v.maxLength(200, 'at most 200 characters'),
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
      v.regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters'),
    ),
  ),
  token_endpoint_auth_method: v.optional(
    v.picklist(AUTH_METHODS, `one of ${AUTH_METHODS.join(', ')}`),
    // RFC 7591 §2: the default is client_secret_basic.
    'client_secret_basic',
  ),
  grant_types: v.optional(
    v.pipe(
      v.array(v.picklist(GRANT_TYPES, `only ${GRANT_TYPES.join(' and ')} are supported`)),
      v.minLength(1, 'at least one grant type'),
    ),
  ),
  response_types: v.optional(v.array(v.literal('code', 'only the code response type is supported'))),
  scope: v.optional(v.pipe(v.string(), v.maxLength(1000, 'at most 1000 characters'))),
});

/** Registers a client from RFC 7591 metadata: 201 with its client_id (and secret), or 400 naming the field. */
export async function handleRegister(request: Request, sql: Sql): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return oauthError(
      400,
      'invalid_client_metadata',
      'The body must be a JSON object of client metadata (RFC 7591).',
    );
  }
  const parsed = v.safeParse(RegistrationSchema, body);
  if (!parsed.success) {
    const issue = parsed.issues[0]!;
    const field = v.getDotPath(issue) ?? 'body';
    const code = field.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata';
    return oauthError(400, code, `${field}: ${issue.message}`);
  }
  const metadata = parsed.output;
  for (const uri of metadata.redirect_uris) {
    const problem = redirectUriProblem(uri);
    if (problem !== undefined)
      return oauthError(400, 'invalid_redirect_uri', `redirect_uris: ${uri} ${problem}`);
  }
  // RFC 7591 defaults grant_types to authorization_code alone; clients that leave it out still
  // expect to refresh (the SDK's examples do), so both are granted.
  const grantTypes = metadata.grant_types ?? [...GRANT_TYPES];
  if (!grantTypes.includes('authorization_code')) {
    return oauthError(
      400,
      'invalid_client_metadata',
      'grant_types: authorization_code is required (it is the only way to obtain tokens here)',
    );
  }
  const method: TokenEndpointAuthMethod = metadata.token_endpoint_auth_method;
  const secret = method === 'none' ? undefined : randomToken('memory_cs_');

  await deleteAbandonedClients(sql, ABANDONED_CLIENT_SECONDS);
  const client = await insertClient(sql, {
    client_id: randomUUID(),
    client_secret_hash: secret === undefined ? null : digest(secret),
    client_name: metadata.client_name ?? null,
    redirect_uris: metadata.redirect_uris,
    grant_types: [...new Set(grantTypes)],
    token_endpoint_auth_method: method,
    scope: metadata.scope ?? null,
  });
  return jsonResponse(201, {
    client_id: client.client_id,
    ...(secret !== undefined ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
    client_id_issued_at: Math.floor(client.created_at.getTime() / 1000),
    ...(client.client_name !== null ? { client_name: client.client_name } : {}),
    redirect_uris: client.redirect_uris,
    grant_types: client.grant_types,
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method,
    ...(client.scope !== null ? { scope: client.scope } : {}),
  });
}

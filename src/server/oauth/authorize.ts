/**
 * GET /authorize shows the consent page for a valid request; POST /authorize is the owner's
 * answer. Authorization code flow with PKCE S256 only (OAuth 2.1).
 *
 * Until the client and its redirect URI are known good, errors are shown as a page and never
 * redirected (RFC 6749 §4.1.2.1: redirecting to an unchecked URI makes the server an open
 * redirector). After that, errors go back to the client as `?error=...&state=...`.
 *
 * The request waits in Postgres (oauth_authorization_request) between the two steps, so any
 * replica can answer the POST and a restart in between loses nothing.
 *
 * Cross-site request forgery: the form carries a random CSRF token whose digest is stored with
 * the request, and the same token goes in an HttpOnly SameSite=Strict cookie named after the
 * request; the POST must present both and come from our own origin when it says where it comes
 * from. A form on another site can therefore not answer a request, nor can a request be answered
 * from a browser other than the one that opened it.
 *
 * Guessing the owner secret: wrong secrets are counted per client address and in total
 * (oauth_consent_failure); past the limit, approval is locked for a while, whatever secret is
 * given. Behind a reverse proxy or a tunnel every request comes from the proxy's address, so the
 * total limit is the one that holds there; X-Forwarded-For is not trusted, since anyone can send
 * it.
 */
import { randomBytes } from 'node:crypto';
import type { Context } from 'hono';
import type { OAuthConfig } from '../../config.js';
import { taggedLogger } from '../../log.js';
import type { Sql } from '../../store/connect.js';
import {
  approveAuthorizationRequest,
  clearConsentFailures,
  consentLockedUntil,
  deleteAuthorizationRequest,
  type FailureLimit,
  findAuthorizationRequest,
  findClient,
  insertAuthorizationRequest,
  recordConsentFailure,
  sweepExpiredOAuthRows,
} from '../../store/oauth.js';
import { consentPage, errorPage } from './consent-page.js';
import { digest, isS256Challenge, ownerFingerprint, randomToken, secretsEqual } from './crypto.js';
import { canonicalResource, type OAuthUrls, SCOPE } from './metadata.js';
import { redirectUriMatches } from './register.js';
import { formTarget, pageHeaders, param, redirectToClient, repeatedParameter } from './responses.js';

const logger = taggedLogger('oauth');

/** How long the consent page may stay open. */
const REQUEST_TTL_SECONDS = 600;
/** OAuth 2.1 §4.1.2: short-lived; clients exchange a code within seconds. */
export const CODE_TTL_SECONDS = 300;
/** Per client address: 5 wrong secrets in 15 minutes lock approval from there for 15 minutes. */
export const ADDRESS_LIMIT: FailureLimit = { max: 5, windowSeconds: 900, lockSeconds: 900 };
/** In total: 20 wrong secrets in 15 minutes lock approval for everyone for 15 minutes. */
export const GLOBAL_LIMIT: FailureLimit = { max: 20, windowSeconds: 900, lockSeconds: 900 };

export interface AuthorizeDeps {
  sql: Sql;
  oauth: OAuthConfig;
  urls: OAuthUrls;
}

function nonce(): string {
  return randomBytes(16).toString('base64url');
}

function page(status: number, title: string, message: string): Response {
  const n = nonce();
  return new Response(errorPage(n, title, message), { status, headers: pageHeaders(n) });
}

function cookieName(requestId: string): string {
  return `memory_consent_${requestId}`;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** The connecting address (not a forwarded one; see the file comment). */
function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** GET /authorize: validates the request, stores it and renders the consent page (or refuses). */
export async function showConsent(c: Context, deps: AuthorizeDeps): Promise<Response> {
  const { sql, urls } = deps;
  const query = new URL(c.req.url).searchParams;
  const clientId = param(query, 'client_id');
  if (clientId === undefined) {
    return page(400, 'Missing client', 'The request names no application (client_id is missing).');
  }
  const client = await findClient(sql, clientId);
  if (client === undefined) {
    return page(
      400,
      'Unknown application',
      `No application is registered as ${clientId}. It may have been removed after a day without approval; the application registers again when you reconnect it.`,
    );
  }
  const requested = query.getAll('redirect_uri');
  let redirectUri: string;
  if (requested.length > 1) {
    return page(400, 'Invalid request', 'redirect_uri was sent more than once.');
  } else if (requested.length === 1) {
    const wanted = requested[0]!;
    if (!client.redirect_uris.some((registered) => redirectUriMatches(wanted, registered))) {
      return page(
        400,
        'Unregistered redirect address',
        `This request would send you to ${wanted}, which is not an address the application registered. Nothing was sent to it.`,
      );
    }
    redirectUri = wanted;
  } else if (client.redirect_uris.length === 1) {
    redirectUri = client.redirect_uris[0]!;
  } else {
    return page(
      400,
      'Invalid request',
      'redirect_uri is required: the application registered several redirect addresses.',
    );
  }

  // From here on the client and its redirect URI are trusted: errors go back to it.
  const state = query.get('state');
  const fail = (error: string, description: string) =>
    redirectToClient(redirectUri, { error, error_description: description, state, iss: urls.issuer });
  const repeated = repeatedParameter(query);
  if (repeated !== undefined) return fail('invalid_request', `${repeated} was sent more than once`);
  const responseType = param(query, 'response_type');
  if (responseType === undefined) return fail('invalid_request', 'response_type is required');
  if (responseType !== 'code') {
    return fail('unsupported_response_type', 'only response_type=code is supported');
  }
  if (!client.grant_types.includes('authorization_code')) {
    return fail('unauthorized_client', 'the client did not register the authorization_code grant');
  }
  const challenge = param(query, 'code_challenge');
  if (challenge === undefined) {
    return fail('invalid_request', 'code_challenge is required: PKCE with S256 (OAuth 2.1)');
  }
  if (query.get('code_challenge_method') !== 'S256') {
    return fail('invalid_request', 'code_challenge_method must be S256 (plain is not supported)');
  }
  if (!isS256Challenge(challenge)) {
    return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
  }
  // RFC 8707: every resource asked for must be ours; none means ours, the only one there is.
  for (const resource of query.getAll('resource')) {
    if (canonicalResource(resource, urls) === undefined) {
      return fail('invalid_target', `this server issues tokens only for ${urls.resource}, not ${resource}`);
    }
  }
  // Scopes: there is one, `memory`, and every token has it. Requested scopes are not refused
  // (RFC 6749 §3.3 lets the server grant other scopes than asked and say so in the token
  // response): clients send what they were built with, such as `openid` or their own name, and
  // refusing them would only break the connection.

  const requestId = randomToken();
  const csrfToken = randomToken();
  await insertAuthorizationRequest(
    sql,
    {
      request_id: requestId,
      csrf_token_hash: digest(csrfToken),
      client_id: client.client_id,
      redirect_uri: redirectUri,
      redirect_uri_explicit: requested.length === 1,
      code_challenge: challenge,
      resource: urls.resource,
      scope: SCOPE,
      state,
    },
    REQUEST_TTL_SECONDS,
  );
  const n = nonce();
  const secure = urls.issuer.startsWith('https:') ? '; Secure' : '';
  return new Response(
    consentPage({
      nonce: n,
      clientName: client.client_name,
      clientId: client.client_id,
      redirectUri,
      resource: urls.resource,
      accessTokenSeconds: deps.oauth.accessTokenSeconds,
      requestId,
      csrfToken,
    }),
    {
      status: 200,
      headers: {
        ...pageHeaders(n, [formTarget(redirectUri)]),
        'set-cookie': `${cookieName(requestId)}=${csrfToken}; Max-Age=${REQUEST_TTL_SECONDS}; Path=/authorize; HttpOnly; SameSite=Strict${secure}`,
      },
    },
  );
}

/** POST /authorize: the owner's Approve (with the secret) or Deny, answered with a redirect to the client. */
export async function answerConsent(c: Context, deps: AuthorizeDeps): Promise<Response> {
  const { sql, urls, oauth } = deps;
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== urls.issuer) {
    return page(403, 'Refused', 'This approval was sent from another site. Nothing was approved.');
  }
  const type = c.req.header('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) {
    return page(400, 'Invalid request', 'Expected the approval form.');
  }
  const form = new URLSearchParams(await c.req.text());
  const requestId = param(form, 'request_id') ?? '';
  const csrfToken = param(form, 'csrf_token') ?? '';
  const request = requestId === '' ? undefined : await findAuthorizationRequest(sql, requestId);
  if (request === undefined) {
    return page(
      400,
      'This approval page has expired',
      'It was already answered, or it stayed open longer than 10 minutes.',
    );
  }
  const cookie = readCookie(c.req.header('cookie'), cookieName(requestId)) ?? '';
  if (!secretsEqual(digest(csrfToken), request.csrf_token_hash) || !secretsEqual(cookie, csrfToken)) {
    return page(
      403,
      'This form could not be verified',
      'It was not sent from the approval page opened in this browser. Nothing was approved.',
    );
  }
  const client = await findClient(sql, request.client_id);
  if (client === undefined) {
    return page(400, 'Unknown application', 'The application was removed while this page was open.');
  }
  const back = (params: Record<string, string>) =>
    redirectToClient(
      request.redirect_uri,
      { ...params, state: request.state, iss: urls.issuer },
      { 'set-cookie': `${cookieName(requestId)}=; Max-Age=0; Path=/authorize; HttpOnly; SameSite=Strict` },
    );

  const decision = form.get('decision');
  if (decision === 'deny') {
    await deleteAuthorizationRequest(sql, requestId);
    logger.info('OAuth request denied by the owner', { client_id: client.client_id });
    return back({ error: 'access_denied', error_description: 'the owner denied the request' });
  }
  if (decision !== 'approve') return page(400, 'Invalid request', 'Choose Approve or Deny.');

  const render = (status: number, error: string, headers: Record<string, string> = {}) => {
    const n = nonce();
    return new Response(
      consentPage({
        nonce: n,
        clientName: client.client_name,
        clientId: client.client_id,
        redirectUri: request.redirect_uri,
        resource: request.resource,
        accessTokenSeconds: oauth.accessTokenSeconds,
        requestId,
        csrfToken,
        error,
      }),
      { status, headers: { ...pageHeaders(n, [formTarget(request.redirect_uri)]), ...headers } },
    );
  };
  const locked = (until: Date) => {
    const minutes = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 60_000));
    return render(
      429,
      `Too many wrong owner secrets: approval is locked for ${minutes} more minute${minutes === 1 ? '' : 's'}. Nothing was approved.`,
      { 'retry-after': String(minutes * 60) },
    );
  };

  const addressKey = `address:${clientAddress(c)}`;
  const lockedUntil = await consentLockedUntil(sql, [addressKey, 'global']);
  if (lockedUntil !== undefined) return locked(lockedUntil);

  if (!secretsEqual(form.get('owner_secret') ?? '', oauth.ownerSecret)) {
    const byAddress = await recordConsentFailure(sql, addressKey, ADDRESS_LIMIT);
    const total = await recordConsentFailure(sql, 'global', GLOBAL_LIMIT);
    logger.warn('Wrong owner secret on the consent page', {
      client_id: client.client_id,
      address: clientAddress(c),
      failures: byAddress.failures,
    });
    const lock = byAddress.lockedUntil ?? total.lockedUntil;
    if (lock !== undefined) return locked(lock);
    const left = Math.min(ADDRESS_LIMIT.max - byAddress.failures, GLOBAL_LIMIT.max - total.failures);
    return render(
      403,
      `That is not the owner secret. ${left} attempt${left === 1 ? '' : 's'} left before approval locks for ${ADDRESS_LIMIT.lockSeconds / 60} minutes.`,
    );
  }

  await clearConsentFailures(sql, addressKey);
  const code = randomToken();
  const approved = await approveAuthorizationRequest(
    sql,
    requestId,
    digest(code),
    CODE_TTL_SECONDS,
    ownerFingerprint(oauth.ownerSecret),
  );
  if (approved === undefined) {
    return page(400, 'This approval page has expired', 'It was already answered in another window.');
  }
  await sweepExpiredOAuthRows(sql).catch((error: unknown) =>
    logger.warn('Could not sweep expired OAuth rows', { error: String(error) }),
  );
  logger.info('OAuth client approved by the owner', {
    client_id: client.client_id,
    client_name: client.client_name ?? undefined,
    grant_id: approved.grantId,
  });
  return back({ code });
}

/**
 * Response helpers shared by the OAuth endpoints: RFC 6749 §5.2 JSON errors, the security
 * headers of every HTML page, and redirects back to a client.
 */

/** JSON answers of the token, registration and revocation endpoints are never cached (RFC 6749 §5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** A JSON answer that no cache keeps. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...NO_STORE, ...headers },
  });
}

/** An OAuth error document: `{ error, error_description }` with the RFC's code. */
export function oauthError(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Response {
  return jsonResponse(status, { error, error_description: description }, headers);
}

/**
 * Headers of the consent and error pages: nothing may frame them (clickjacking an owner into
 * typing the secret), no script runs, styles only with this response's nonce, and the form may
 * post only here and be redirected only to the client's redirect URI (Chrome applies form-action
 * to the redirect that answers the form too). `same-origin` referrers: the page's own form post
 * keeps its Origin header (under `no-referrer` browsers send `Origin: null`), and nothing of the
 * page's URL leaks to the client or anywhere else.
 */
export function pageHeaders(nonce: string, formTargets: readonly string[] = []): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(' ');
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    ...NO_STORE,
  };
}

/** The CSP source that lets the form's redirect reach `redirectUri`: its origin, or its scheme for an app's own scheme. */
export function formTarget(redirectUri: string): string {
  const url = new URL(redirectUri);
  return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : url.protocol;
}

/**
 * A 302 to the client's redirect URI with `params` added to its query (RFC 6749 §4.1.2), plus
 * `iss` (RFC 9207) so a client talking to several servers knows which one answered.
 */
export function redirectToClient(
  redirectUri: string,
  params: Record<string, string | null | undefined>,
  extraHeaders: Record<string, string> = {},
): Response {
  const url = new URL(redirectUri);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, value);
  }
  return new Response(null, {
    status: 302,
    headers: { location: url.href, 'referrer-policy': 'no-referrer', ...NO_STORE, ...extraHeaders },
  });
}

/** Parameters that appear more than once, which RFC 6749 §3.1 and §3.2 forbid; `resource` may repeat (RFC 8707). */
export function repeatedParameter(params: URLSearchParams): string | undefined {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (key === 'resource') continue;
    if (seen.has(key)) return key;
    seen.add(key);
  }
  return undefined;
}

/** A non-empty single value, or undefined. */
export function param(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  return value === null || value === '' ? undefined : value;
}

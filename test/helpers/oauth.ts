/**
 * OAuth test helpers: a server with MCP_PUBLIC_URL on a loopback port it really listens on, an
 * `OAuthClientProvider` for the SDK's client that keeps everything in memory and records where
 * it was sent to sign in, and the owner's side of the consent page driven over plain HTTP.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { freePort } from '../../src/embedded/chroma-server.js';
import type { TestChroma } from './chroma.js';
import type { TestDatabase } from './database.js';
import { startTestServer, type TestServer } from './server.js';

export const OWNER_SECRET = 'owner-secret-0123456789abcdef';
/** Nothing listens there: the tests catch the redirect instead of following it. */
export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

/**
 * A server with OAuth on. The port is chosen first because MCP_PUBLIC_URL must name it; another
 * process taking that port in the instant between is possible but has not been seen.
 */
export async function startOAuthServer(
  env: Record<string, string> = {},
  shared?: { db?: TestDatabase; chroma?: TestChroma },
): Promise<TestServer & { base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startTestServer(
    { MCP_PORT: String(port), MCP_PUBLIC_URL: base, MCP_OWNER_SECRET: OWNER_SECRET, ...env },
    shared,
  );
  return Object.assign(server, { base });
}

/** The SDK's client-side OAuth state, in memory; `authorizationUrl` is where it last sent the user. */
export class TestOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  private client: OAuthClientInformationMixed | undefined;
  private saved: OAuthTokens | undefined;
  private verifier: string | undefined;

  constructor(
    private readonly metadata: Partial<OAuthClientMetadata> = {},
    readonly fixedState = `state-${randomBytes(6).toString('hex')}`,
  ) {}

  get redirectUrl(): string {
    return REDIRECT_URI;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'Test Connector',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      ...this.metadata,
    };
  }

  state(): string {
    return this.fixedState;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
  }

  tokens(): OAuthTokens | undefined {
    return this.saved;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }

  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }

  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }

  codeVerifier(): string {
    if (this.verifier === undefined) throw new Error('no code verifier saved');
    return this.verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function hidden(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (match === null) throw new Error(`the consent page has no ${name} field`);
  return match[1]!;
}

export interface ConsentPage {
  status: number;
  html: string;
  requestId: string;
  csrfToken: string;
  cookie: string;
}

/** Opens the consent page the way a browser would (GET, no redirect followed). */
export async function openConsent(authorizationUrl: URL | string): Promise<ConsentPage> {
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await response.text();
  if (response.status !== 200) throw new Error(`consent page answered ${response.status}: ${html}`);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0]!;
  return {
    status: response.status,
    html,
    requestId: hidden(html, 'request_id'),
    csrfToken: hidden(html, 'csrf_token'),
    cookie,
  };
}

/** Posts the consent form; the answer is returned unfollowed (a 302 to the client, or a page). */
export async function answerConsent(
  base: string,
  page: ConsentPage,
  options: {
    secret?: string;
    decision?: 'approve' | 'deny';
    cookie?: string | null;
    csrfToken?: string;
    origin?: string;
  } = {},
): Promise<Response> {
  const body = new URLSearchParams({
    request_id: page.requestId,
    csrf_token: options.csrfToken ?? page.csrfToken,
    owner_secret: options.secret ?? OWNER_SECRET,
    decision: options.decision ?? 'approve',
  });
  const cookie = options.cookie === undefined ? page.cookie : options.cookie;
  return fetch(`${base}/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(cookie !== null ? { cookie } : {}),
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
    },
    body,
  });
}

/** Opens the page, approves with the owner secret and returns the code from the redirect. */
export async function approve(base: string, authorizationUrl: URL | string): Promise<URL> {
  const page = await openConsent(authorizationUrl);
  const answer = await answerConsent(base, page);
  const location = answer.headers.get('location');
  if (answer.status !== 302 || location === null) {
    throw new Error(`approval answered ${answer.status}: ${await answer.text()}`);
  }
  return new URL(location);
}

/** Registers a client with raw HTTP; returns the status and the JSON answer. */
export async function register(
  base: string,
  metadata: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** An authorization URL with sensible defaults; `undefined` values are left out. */
export function authorizeUrl(base: string, params: Record<string, string | undefined>): URL {
  const url = new URL(`${base}/authorize`);
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    code_challenge_method: 'S256',
    state: 'xyz',
    resource: `${base}/mcp`,
    ...params,
  };
  for (const [key, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(key, value);
  return url;
}

/** POSTs a token request (form-encoded); returns the status and the JSON answer. */
export async function tokenRequest(
  base: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

/** A raw tools/list POST with `authorization`, for status and header checks. */
export function mcpRequest(base: string, authorization?: string): Promise<Response> {
  return fetch(`${base}/mcp/`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...(authorization !== undefined ? { authorization } : {}) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
}

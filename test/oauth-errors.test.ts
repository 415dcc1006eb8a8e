/**
 * OAuth bad input, over raw HTTP: every refusal carries the RFC's error code and issues nothing.
 * Registration (RFC 7591), authorization (RFC 6749 §4.1.2.1, RFC 7636, RFC 8707), the consent
 * page (CSRF, Origin, wrong secrets and the lock), the token endpoint (codes, PKCE, redirect URI,
 * resource, refresh replay, client authentication), revocation (RFC 7009), and a token presented
 * to another resource.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  answerConsent,
  approve,
  authorizeUrl,
  mcpRequest,
  openConsent,
  pkcePair,
  REDIRECT_URI,
  register,
  sha256Hex,
  startOAuthServer,
  tokenRequest,
} from './helpers/oauth.js';
import type { TestServer } from './helpers/server.js';

const STATIC_TOKEN = 'static-token-0123456789abcdef';

describe('OAuth bad input', () => {
  let t: TestServer & { base: string };
  let other: TestServer & { base: string };
  let rotated: TestServer & { base: string };
  let clientId: string;

  before(async () => {
    t = await startOAuthServer({ MCP_AUTH_TOKEN: STATIC_TOKEN });
    const registered = await register(t.base, {
      client_name: 'Bad Input Client',
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
    });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    clientId = String(registered.body.client_id);
  });
  after(async () => {
    await other?.stop();
    await rotated?.stop();
    await t.stop();
  });

  const count = async (table: string): Promise<number> => {
    const [row] = await t.db.sql`select count(*)::int as n from ${t.db.sql(table)}`;
    return row!.n as number;
  };

  /** Approves a fresh request and returns the code with its verifier. */
  const freshCode = async (client = clientId, redirectUri = REDIRECT_URI) => {
    const { verifier, challenge } = pkcePair();
    const redirect = await approve(
      t.base,
      authorizeUrl(t.base, { client_id: client, code_challenge: challenge, redirect_uri: redirectUri }),
    );
    return { code: redirect.searchParams.get('code')!, verifier };
  };

  const exchange = (code: string, verifier: string | undefined, extra: Record<string, string> = {}) =>
    tokenRequest(t.base, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: clientId,
      ...(verifier !== undefined ? { code_verifier: verifier } : {}),
      ...extra,
    });

  test('registration refuses bad redirect URIs and unsupported metadata, and stores nothing', async () => {
    const before = await count('oauth_client');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ client_name: 'x' }, 'invalid_redirect_uri'],
      [{ redirect_uris: [] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['http://evil.example/cb'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['https://app.example/cb#fragment'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: ['not a url'] }, 'invalid_redirect_uri'],
      [{ redirect_uris: [REDIRECT_URI], grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
      [
        { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'private_key_jwt' },
        'invalid_client_metadata',
      ],
      [{ redirect_uris: [REDIRECT_URI], response_types: ['token'] }, 'invalid_client_metadata'],
      [{ redirect_uris: [REDIRECT_URI], grant_types: ['refresh_token'] }, 'invalid_client_metadata'],
    ];
    for (const [metadata, error] of cases) {
      const answer = await register(t.base, metadata);
      assert.equal(answer.status, 400, JSON.stringify(metadata));
      assert.equal(answer.body.error, error, JSON.stringify(metadata));
      assert.equal(typeof answer.body.error_description, 'string');
    }
    const notJson = await fetch(`${t.base}/register`, { method: 'POST', body: 'redirect_uris=x' });
    assert.equal(notJson.status, 400);
    assert.equal(await count('oauth_client'), before);

    const accepted = await register(t.base, {
      redirect_uris: [
        'https://claude.ai/api/mcp/auth_callback',
        'cursor://anysphere.cursor-retrieval/oauth/cb',
      ],
    });
    assert.equal(accepted.status, 201);
    assert.equal(accepted.body.token_endpoint_auth_method, 'client_secret_basic', 'the RFC 7591 default');
    assert.match(String(accepted.body.client_secret), /^memory_cs_/);
  });

  test('an unknown client or an unregistered redirect URI gets a page, never a redirect', async () => {
    const before = await count('oauth_authorization_request');
    const { challenge } = pkcePair();
    const unknown = await fetch(
      authorizeUrl(t.base, { client_id: 'no-such-client', code_challenge: challenge }),
      {
        redirect: 'manual',
      },
    );
    assert.equal(unknown.status, 400);
    assert.equal(unknown.headers.get('location'), null);
    assert.match(await unknown.text(), /Unknown application/);

    for (const redirect of ['https://evil.example/callback', 'http://127.0.0.1:9/other']) {
      const answer = await fetch(
        authorizeUrl(t.base, { client_id: clientId, code_challenge: challenge, redirect_uri: redirect }),
        { redirect: 'manual' },
      );
      assert.equal(answer.status, 400, redirect);
      assert.equal(answer.headers.get('location'), null, redirect);
      assert.match(await answer.text(), /not an address the application registered/);
    }
    assert.equal(await count('oauth_authorization_request'), before);
  });

  test('a loopback redirect URI may use another port (RFC 8252 §7.3)', async () => {
    const { challenge } = pkcePair();
    const page = await openConsent(
      authorizeUrl(t.base, {
        client_id: clientId,
        code_challenge: challenge,
        redirect_uri: 'http://127.0.0.1:4567/callback',
      }),
    );
    assert.match(page.html, /127\.0\.0\.1:4567/);
  });

  test('missing PKCE, plain PKCE, a wrong response type or another resource go back to the client as errors', async () => {
    const before = await count('oauth_authorization_request');
    const { challenge } = pkcePair();
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ code_challenge: undefined }, 'invalid_request'],
      [{ code_challenge: challenge, code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge: challenge, code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: 'too-short' }, 'invalid_request'],
      [{ code_challenge: challenge, response_type: 'token' }, 'unsupported_response_type'],
      [{ code_challenge: challenge, resource: 'https://other.example/mcp' }, 'invalid_target'],
      [{ code_challenge: challenge, resource: `${t.base}/elsewhere` }, 'invalid_target'],
    ];
    for (const [params, error] of cases) {
      const answer = await fetch(authorizeUrl(t.base, { client_id: clientId, ...params }), {
        redirect: 'manual',
      });
      assert.equal(answer.status, 302, JSON.stringify(params));
      const location = new URL(answer.headers.get('location')!);
      assert.equal(location.origin + location.pathname, REDIRECT_URI);
      assert.equal(location.searchParams.get('error'), error, JSON.stringify(params));
      assert.equal(location.searchParams.get('state'), 'xyz');
      assert.equal(location.searchParams.get('code'), null);
    }
    assert.equal(await count('oauth_authorization_request'), before);
  });

  test('the consent form refuses a missing cookie, a wrong CSRF token and a foreign Origin', async () => {
    const { challenge } = pkcePair();
    const page = await openConsent(authorizeUrl(t.base, { client_id: clientId, code_challenge: challenge }));
    const grantsBefore = await count('oauth_grant');
    for (const options of [
      { cookie: null },
      { csrfToken: 'forged' },
      { cookie: `${page.cookie.split('=')[0]}=forged` },
      { origin: 'https://evil.example' },
    ]) {
      const answer = await answerConsent(t.base, page, options);
      assert.equal(answer.status, 403, JSON.stringify(options));
      assert.equal(answer.headers.get('location'), null);
    }
    assert.equal(await count('oauth_grant'), grantsBefore);
    // The request is still waiting: the right form from the right browser approves it.
    const approved = await answerConsent(t.base, page, { origin: t.base });
    assert.equal(approved.status, 302);
    assert.ok(new URL(approved.headers.get('location')!).searchParams.get('code'));
    // ... once.
    const again = await answerConsent(t.base, page);
    assert.equal(again.status, 400);
    assert.match(await again.text(), /expired/);
  });

  test('the owner may deny: access_denied goes back with the state, and nothing is issued', async () => {
    const { challenge } = pkcePair();
    const page = await openConsent(authorizeUrl(t.base, { client_id: clientId, code_challenge: challenge }));
    const grantsBefore = await count('oauth_grant');
    const denied = await answerConsent(t.base, page, { decision: 'deny', secret: '' });
    assert.equal(denied.status, 302);
    const location = new URL(denied.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'xyz');
    assert.equal(location.searchParams.get('code'), null);
    assert.equal(await count('oauth_grant'), grantsBefore);
  });

  test('missing or wrong PKCE verifier: invalid_request, then invalid_grant; the spent code is dead', async () => {
    const { code, verifier } = await freshCode();
    const tokensBefore = await count('oauth_token');
    const missing = await exchange(code, undefined);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
    const wrong = await exchange(code, pkcePair().verifier);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');
    const right = await exchange(code, verifier);
    assert.equal(right.body.error, 'invalid_grant', 'a code is spent by any attempt that reached it');
    assert.equal(await count('oauth_token'), tokensBefore);
  });

  test('a reused code is refused and revokes the tokens issued from it', async () => {
    const { code, verifier } = await freshCode();
    const first = await exchange(code, verifier);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const access = String(first.body.access_token);
    assert.equal((await mcpRequest(t.base, `Bearer ${access}`)).status, 200);
    const tokensBefore = await count('oauth_token');

    const second = await exchange(code, verifier);
    assert.equal(second.status, 400);
    assert.equal(second.body.error, 'invalid_grant');
    assert.equal(await count('oauth_token'), tokensBefore, 'nothing issued');
    assert.equal((await mcpRequest(t.base, `Bearer ${access}`)).status, 401);
    const refresh = await tokenRequest(t.base, {
      grant_type: 'refresh_token',
      refresh_token: String(first.body.refresh_token),
      client_id: clientId,
    });
    assert.equal(refresh.body.error, 'invalid_grant');
  });

  test('an expired code, an unknown code, another redirect URI or another client: invalid_grant', async () => {
    const tokensBefore = await count('oauth_token');
    const expired = await freshCode();
    await t.db.sql`update oauth_authorization_code set expires_at = now() - interval '1 second'`;
    assert.equal((await exchange(expired.code, expired.verifier)).body.error, 'invalid_grant');
    assert.equal((await exchange('no-such-code', pkcePair().verifier)).body.error, 'invalid_grant');

    const redirect = await freshCode();
    const otherRedirect = await exchange(redirect.code, redirect.verifier, {
      redirect_uri: 'http://127.0.0.1:9/elsewhere',
    });
    assert.equal(otherRedirect.body.error, 'invalid_grant');

    const second = await register(t.base, {
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
    });
    const stolen = await freshCode();
    const byOther = await tokenRequest(t.base, {
      grant_type: 'authorization_code',
      code: stolen.code,
      code_verifier: stolen.verifier,
      redirect_uri: REDIRECT_URI,
      client_id: String(second.body.client_id),
    });
    assert.equal(byOther.body.error, 'invalid_grant');
    assert.equal(await count('oauth_token'), tokensBefore);
  });

  test('a token for another resource is refused (invalid_target), and nothing is issued', async () => {
    const tokensBefore = await count('oauth_token');
    const { code, verifier } = await freshCode();
    const answer = await exchange(code, verifier, { resource: 'https://other.example/mcp' });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_target');
    assert.equal(await count('oauth_token'), tokensBefore);
  });

  test('the token endpoint: unknown client, wrong grant type, not a form', async () => {
    const unknown = await tokenRequest(t.base, {
      grant_type: 'authorization_code',
      code: 'x',
      code_verifier: pkcePair().verifier,
      client_id: 'no-such-client',
    });
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error, 'invalid_client');
    const password = await tokenRequest(t.base, { grant_type: 'password', client_id: clientId });
    assert.equal(password.body.error, 'unsupported_grant_type');
    const twice = await fetch(`${t.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&grant_type=refresh_token',
    });
    assert.equal(((await twice.json()) as { error: string }).error, 'invalid_request');
    const json = await fetch(`${t.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code' }),
    });
    assert.equal(json.status, 400);
    assert.equal(((await json.json()) as { error: string }).error, 'invalid_request');
  });

  test('a confidential client authenticates with its secret (Basic or in the body); a wrong secret is invalid_client', async () => {
    const registered = await register(t.base, {
      client_name: 'Confidential',
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const id = String(registered.body.client_id);
    const secret = String(registered.body.client_secret);
    const basic = (s: string) => `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}`;

    const first = await freshCode(id);
    const wrong = await tokenRequest(
      t.base,
      {
        grant_type: 'authorization_code',
        code: first.code,
        code_verifier: first.verifier,
        redirect_uri: REDIRECT_URI,
      },
      { authorization: basic('wrong-secret') },
    );
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
    const noSecret = await tokenRequest(t.base, {
      grant_type: 'authorization_code',
      code: first.code,
      code_verifier: first.verifier,
      redirect_uri: REDIRECT_URI,
      client_id: id,
    });
    assert.equal(noSecret.body.error, 'invalid_client');
    const right = await tokenRequest(
      t.base,
      {
        grant_type: 'authorization_code',
        code: first.code,
        code_verifier: first.verifier,
        redirect_uri: REDIRECT_URI,
      },
      { authorization: basic(secret) },
    );
    assert.equal(right.status, 200, JSON.stringify(right.body));
    const inBody = await tokenRequest(t.base, {
      grant_type: 'refresh_token',
      refresh_token: String(right.body.refresh_token),
      client_id: id,
      client_secret: secret,
    });
    assert.equal(inBody.status, 200, JSON.stringify(inBody.body));
  });

  test('a replayed refresh token revokes its grant', async () => {
    const { code, verifier } = await freshCode();
    const issued = await exchange(code, verifier);
    const refresh = (token: unknown) =>
      tokenRequest(t.base, {
        grant_type: 'refresh_token',
        refresh_token: String(token),
        client_id: clientId,
      });
    const rotated = await refresh(issued.body.refresh_token);
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.refresh_token, issued.body.refresh_token);

    const replay = await refresh(issued.body.refresh_token);
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal(
      (await refresh(rotated.body.refresh_token)).body.error,
      'invalid_grant',
      'the successor is revoked too',
    );
    assert.equal((await mcpRequest(t.base, `Bearer ${String(rotated.body.access_token)}`)).status, 401);

    const next = await freshCode();
    const expired = await exchange(next.code, next.verifier);
    await t.db.sql`
      update oauth_token set expires_at = now() - interval '1 second'
      where token_hash = ${sha256Hex(String(expired.body.refresh_token))}`;
    assert.equal((await refresh(expired.body.refresh_token)).body.error, 'invalid_grant');
  });

  test('RFC 7009 revocation by the client ends its grant', async () => {
    const { code, verifier } = await freshCode();
    const issued = await exchange(code, verifier);
    const access = String(issued.body.access_token);
    assert.equal((await mcpRequest(t.base, `Bearer ${access}`)).status, 200);
    const revoked = await fetch(`${t.base}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: String(issued.body.refresh_token), client_id: clientId }),
    });
    assert.equal(revoked.status, 200);
    assert.equal((await mcpRequest(t.base, `Bearer ${access}`)).status, 401);
    const unknown = await fetch(`${t.base}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'memory_at_unknown', client_id: clientId }),
    });
    assert.equal(unknown.status, 200, 'unknown tokens are not revealed');
  });

  test('the static token and OAuth work side by side; a token for another resource is refused at /mcp', async () => {
    assert.equal((await mcpRequest(t.base, `Bearer ${STATIC_TOKEN}`)).status, 200);
    assert.equal((await mcpRequest(t.base, `Bearer ${STATIC_TOKEN}x`)).status, 401);
    const { code, verifier } = await freshCode();
    const issued = await exchange(code, verifier);
    const access = String(issued.body.access_token);
    assert.equal((await mcpRequest(t.base, `Bearer ${access}`)).status, 200);

    // Another server on the same database under another public URL: another resource.
    other = await startOAuthServer({ MCP_AUTH_TOKEN: STATIC_TOKEN }, { db: t.db, chroma: t.chroma });
    const refused = await mcpRequest(other.base, `Bearer ${access}`);
    assert.equal(refused.status, 401);
    const challenge = refused.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /error="invalid_token"/);
    assert.ok(
      challenge.includes(`resource_metadata="${other.base}/.well-known/oauth-protected-resource/mcp"`),
    );
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /issued for/);
    assert.equal((await mcpRequest(other.base, `Bearer ${STATIC_TOKEN}`)).status, 200);
    const refreshElsewhere = await tokenRequest(other.base, {
      grant_type: 'refresh_token',
      refresh_token: String(issued.body.refresh_token),
      client_id: clientId,
    });
    assert.equal(
      refreshElsewhere.body.error,
      'invalid_grant',
      'its token endpoint serves only its own resource',
    );
  });

  test('changing MCP_OWNER_SECRET ends every approval made under the old one', async () => {
    const { code, verifier } = await freshCode();
    const issued = await exchange(code, verifier);
    const access = String(issued.body.access_token);
    // The same public URL (as behind a proxy), the same database, another owner secret.
    rotated = await startOAuthServer(
      { MCP_PUBLIC_URL: t.base, MCP_OWNER_SECRET: 'a-new-owner-secret-9876543210' },
      { db: t.db, chroma: t.chroma },
    );
    assert.equal(
      (await mcpRequest(t.base, `Bearer ${access}`)).status,
      200,
      'the old server still honours it',
    );
    const refused = await mcpRequest(rotated.base, `Bearer ${access}`);
    assert.equal(refused.status, 401);
    assert.match(
      ((await refused.json()) as { error: { message: string } }).error.message,
      /owner secret changed/,
    );
    const refresh = await tokenRequest(rotated.base, {
      grant_type: 'refresh_token',
      refresh_token: String(issued.body.refresh_token),
      client_id: clientId,
    });
    assert.equal(refresh.body.error, 'invalid_grant');
  });

  test('wrong owner secrets lock approval: the limit holds even for the right secret, and nothing is issued', async () => {
    const { challenge } = pkcePair();
    const page = await openConsent(authorizeUrl(t.base, { client_id: clientId, code_challenge: challenge }));
    const grantsBefore = await count('oauth_grant');
    for (let attempt = 1; attempt <= 4; attempt++) {
      const answer = await answerConsent(t.base, page, { secret: `wrong-${attempt}` });
      assert.equal(answer.status, 403);
      assert.match(await answer.text(), new RegExp(`${5 - attempt} attempts? left`));
    }
    const fifth = await answerConsent(t.base, page, { secret: 'wrong-5' });
    assert.equal(fifth.status, 429);
    assert.ok(Number(fifth.headers.get('retry-after')) > 0);
    assert.match(await fifth.text(), /locked/);
    const right = await answerConsent(t.base, page);
    assert.equal(right.status, 429, 'locked: the right secret is not even checked');
    assert.equal(right.headers.get('location'), null);
    assert.equal(await count('oauth_grant'), grantsBefore);

    await t.db.sql`update oauth_consent_failure set locked_until = now() - interval '1 second'`;
    const unlocked = await answerConsent(t.base, page);
    assert.equal(unlocked.status, 302, 'the lock ends by itself');
  });
});

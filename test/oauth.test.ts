/**
 * OAuth 2.1 end to end, the way a Claude.ai or Claude Desktop connector does it, through the
 * SDK's own client OAuth support: discovery from the 401, dynamic registration, authorization
 * with PKCE (the consent page answered by the test over HTTP), token, a tool call, refresh, and
 * revocation with `memory tokens revoke`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  OAuthMetadataSchema,
  OAuthProtectedResourceMetadataSchema,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { runCli } from './helpers/cli.js';
import {
  approve,
  mcpRequest,
  REDIRECT_URI,
  sha256Hex,
  startOAuthServer,
  TestOAuthProvider,
} from './helpers/oauth.js';
import { callTool, type TestServer } from './helpers/server.js';

describe('OAuth through the SDK client (OAuth alone, as for a Claude.ai connector)', () => {
  let t: TestServer & { base: string };
  const provider = new TestOAuthProvider();
  const clients: Client[] = [];
  let client: Client;

  const connect = async (): Promise<Client> => {
    const c = new Client({ name: 'oauth-test', version: '1.0.0' });
    clients.push(c);
    await c.connect(new StreamableHTTPClientTransport(new URL(`${t.base}/mcp/`), { authProvider: provider }));
    return c;
  };

  before(async () => {
    t = await startOAuthServer({ MCP_ACCESS_TOKEN_TTL: '600' });
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await t.stop();
  });

  test('a request without a token gets 401 naming the resource metadata, which is served where the SDK looks', async () => {
    const response = await mcpRequest(t.base);
    assert.equal(response.status, 401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /);
    assert.ok(
      challenge.includes(`resource_metadata="${t.base}/.well-known/oauth-protected-resource/mcp"`),
      challenge,
    );
    assert.doesNotMatch(challenge, /error=/, 'no token sent: no error code (RFC 6750 §3.1)');

    for (const path of [
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
    ]) {
      const metadata = OAuthProtectedResourceMetadataSchema.parse(
        await (await fetch(`${t.base}${path}`)).json(),
      );
      assert.equal(metadata.resource, `${t.base}/mcp`, path);
      assert.deepEqual(metadata.authorization_servers, [t.base]);
    }
    const server = OAuthMetadataSchema.parse(
      await (await fetch(`${t.base}/.well-known/oauth-authorization-server`)).json(),
    );
    assert.equal(server.issuer, t.base);
    assert.equal(server.authorization_endpoint, `${t.base}/authorize`);
    assert.equal(server.token_endpoint, `${t.base}/token`);
    assert.equal(server.registration_endpoint, `${t.base}/register`);
    assert.deepEqual(server.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(server.grant_types_supported, ['authorization_code', 'refresh_token']);
  });

  test('discovery, registration and authorization with PKCE; the owner approves; the code buys tokens; a tool call works', async () => {
    await assert.rejects(connect(), UnauthorizedError, 'the first connection is sent to sign in');
    const registered = provider.clientInformation();
    assert.ok(registered?.client_id, 'the client registered itself');
    const [row] = await t.db.sql`
      select client_name, redirect_uris, token_endpoint_auth_method, client_secret_hash
      from oauth_client where client_id = ${registered.client_id}`;
    assert.deepEqual(
      { ...row },
      {
        client_name: 'Test Connector',
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'none',
        client_secret_hash: null,
      },
    );

    const url = provider.authorizationUrl!;
    assert.equal(url.origin + url.pathname, `${t.base}/authorize`);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('resource'), `${t.base}/mcp`);
    assert.equal(url.searchParams.get('client_id'), registered.client_id);

    const redirect = await approve(t.base, url);
    assert.equal(redirect.origin + redirect.pathname, REDIRECT_URI);
    assert.equal(redirect.searchParams.get('state'), provider.fixedState);
    assert.equal(redirect.searchParams.get('iss'), t.base);
    const code = redirect.searchParams.get('code');
    assert.ok(code);

    const transport = new StreamableHTTPClientTransport(new URL(`${t.base}/mcp/`), {
      authProvider: provider,
    });
    await transport.finishAuth(code);
    const tokens = provider.tokens()!;
    assert.match(tokens.access_token, /^memory_at_/);
    assert.match(tokens.refresh_token ?? '', /^memory_rt_/);
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 600);

    // Stored as digests only.
    const stored = await t.db.sql`select token_hash, kind, resource from oauth_token order by kind`;
    assert.deepEqual(
      stored.map((token) => [token.kind, token.resource]),
      [
        ['access', `${t.base}/mcp`],
        ['refresh', `${t.base}/mcp`],
      ],
    );
    const hashes = stored.map((token) => token.token_hash);
    assert.ok(hashes.includes(sha256Hex(tokens.access_token)));
    assert.ok(!hashes.includes(tokens.access_token));

    client = await connect();
    const storedMemory = await callTool(client, 'memory_store', {
      content: 'Remote connectors sign in with OAuth',
      type: 'fact',
      confidence: 0.9,
    });
    assert.equal(storedMemory.isError, false, JSON.stringify(storedMemory.data));
    const listed = await callTool(client, 'memory_list', {});
    assert.equal((listed.data.memories as unknown[]).length, 1);
  });

  test('an expired access token gets 401 invalid_token; the client refreshes and the refresh token rotates', async () => {
    const before = provider.tokens()!;
    await t.db.sql`update oauth_token set expires_at = now() - interval '1 second' where kind = 'access'`;
    const refused = await mcpRequest(t.base, `Bearer ${before.access_token}`);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    const listed = await callTool(client, 'memory_list', {});
    assert.equal(listed.isError, false);
    const after = provider.tokens()!;
    assert.notEqual(after.access_token, before.access_token);
    assert.notEqual(after.refresh_token, before.refresh_token);
    const [old] = await t.db.sql`
      select revoked_at from oauth_token where token_hash = ${sha256Hex(before.refresh_token!)}`;
    assert.ok(old?.revoked_at, 'the used refresh token is revoked');
    assert.equal((await mcpRequest(t.base, `Bearer ${after.access_token}`)).status, 200);
  });

  test('memory tokens list shows the client and its live tokens, never a token value', async () => {
    const tokens = provider.tokens()!;
    const listed = await runCli(['tokens', 'list'], { EVENTS_DB_DSN: t.db.url, LOG_LEVEL: 'ERROR' });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(provider.clientInformation()!.client_id));
    assert.ok(listed.stdout.includes('Test Connector'));
    assert.match(listed.stdout, /Live tokens \(2\)/);
    assert.ok(!listed.stdout.includes(tokens.access_token) && !listed.stdout.includes(tokens.refresh_token!));
    assert.ok(!listed.stdout.includes(sha256Hex(tokens.access_token)), 'not even the digest');

    const json = await runCli(['tokens', 'list', '--json'], { EVENTS_DB_DSN: t.db.url, LOG_LEVEL: 'ERROR' });
    const parsed = JSON.parse(json.stdout) as { clients: unknown[]; tokens: Array<{ kind: string }> };
    assert.equal(parsed.clients.length, 1);
    assert.deepEqual(parsed.tokens.map((token) => token.kind).sort(), ['access', 'refresh']);

    const withoutDatabase = await runCli(['tokens', 'list'], {});
    assert.equal(withoutDatabase.code, 2);
    assert.match(withoutDatabase.stderr, /EVENTS_DB_DSN is not set/);
  });

  test('memory tokens revoke <id> cuts the client off: 401, the refresh fails, and the client is sent to sign in again', async () => {
    const tokens = provider.tokens()!;
    const [access] = await t.db.sql`
      select token_id from oauth_token where token_hash = ${sha256Hex(tokens.access_token)}`;
    const revoked = await runCli(['tokens', 'revoke', String(access!.token_id)], {
      EVENTS_DB_DSN: t.db.url,
      LOG_LEVEL: 'ERROR',
    });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /Revoked 2 tokens/);

    const refused = await mcpRequest(t.base, `Bearer ${tokens.access_token}`);
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

    provider.authorizationUrl = undefined;
    await assert.rejects(callTool(client, 'memory_list', {}), UnauthorizedError);
    assert.ok(provider.authorizationUrl, 'the client was sent back to the consent page');
    const [live] = await t.db.sql`
      select count(*)::int as n from oauth_token where revoked_at is null and expires_at > now()`;
    assert.equal(live?.n, 0, 'the failed refresh issued nothing');
    assert.equal(await t.server.services.vectors.count('memory'), 1);
  });

  test('memory tokens revoke needs exactly one target and says when there is nothing to revoke', async () => {
    const env = { EVENTS_DB_DSN: t.db.url, LOG_LEVEL: 'ERROR' };
    assert.equal((await runCli(['tokens', 'revoke'], env)).code, 2);
    assert.equal((await runCli(['tokens', 'revoke', 'not-a-uuid'], env)).code, 2);
    const missing = await runCli(['tokens', 'revoke', '00000000-0000-0000-0000-000000000000'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no token/);
    const all = await runCli(['tokens', 'revoke', '--all'], env);
    assert.equal(all.code, 0);
    assert.match(all.stdout, /Revoked 0 tokens/);
    assert.equal((await runCli(['tokens', 'revoke', '--client', 'nobody'], env)).code, 1);
  });
});

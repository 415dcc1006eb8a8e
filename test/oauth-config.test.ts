/**
 * OAuth configuration (MCP_PUBLIC_URL, MCP_OWNER_SECRET, MCP_ACCESS_TOKEN_TTL), the start-up
 * line naming the auth modes, and the pure rules: redirect URIs, resource indicators, PKCE.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { describeAuthModes } from '../src/server/oauth/bearer.js';
import { verifierMatches } from '../src/server/oauth/crypto.js';
import { canonicalResource, oauthUrls } from '../src/server/oauth/metadata.js';
import { redirectUriMatches, redirectUriProblem } from '../src/server/oauth/register.js';

const SECRET = 'a-long-enough-owner-secret';

describe('OAuth configuration', () => {
  test('off by default; on only with both MCP_PUBLIC_URL and MCP_OWNER_SECRET', () => {
    assert.equal(loadConfig({}).oauth, undefined);
    const urlOnly = loadConfig({ MCP_PUBLIC_URL: 'https://memory.example.com' });
    assert.equal(urlOnly.oauth, undefined);
    assert.equal(urlOnly.mcp.publicUrl, 'https://memory.example.com');
    const on = loadConfig({ MCP_PUBLIC_URL: 'https://Memory.Example.com:443/', MCP_OWNER_SECRET: SECRET });
    assert.deepEqual(on.oauth, {
      issuer: 'https://memory.example.com',
      ownerSecret: SECRET,
      accessTokenSeconds: 3600,
    });
    assert.ok(Object.isFrozen(on.oauth));
    const loopback = loadConfig({
      MCP_PUBLIC_URL: 'http://127.0.0.1:3000',
      MCP_OWNER_SECRET: SECRET,
      MCP_ACCESS_TOKEN_TTL: '120',
    });
    assert.equal(loopback.oauth?.issuer, 'http://127.0.0.1:3000');
    assert.equal(loopback.oauth?.accessTokenSeconds, 120);
  });

  const invalid: Array<[Record<string, string>, string, RegExp]> = [
    [{ MCP_PUBLIC_URL: 'http://memory.example.com' }, 'MCP_PUBLIC_URL', /https:\/\//],
    [{ MCP_PUBLIC_URL: 'https://memory.example.com/mcp/' }, 'MCP_PUBLIC_URL', /no path/],
    [{ MCP_PUBLIC_URL: 'https://memory.example.com/?x=1' }, 'MCP_PUBLIC_URL', /no path/],
    [{ MCP_PUBLIC_URL: 'memory.example.com' }, 'MCP_PUBLIC_URL', /https:\/\//],
    [{ MCP_PUBLIC_URL: 'ftp://memory.example.com' }, 'MCP_PUBLIC_URL', /https:\/\//],
    [{ MCP_PUBLIC_URL: 'https://memory.example.com', MCP_OWNER_SECRET: 'short' }, 'MCP_OWNER_SECRET', /16/],
    [{ MCP_OWNER_SECRET: SECRET }, 'MCP_OWNER_SECRET', /MCP_PUBLIC_URL/],
    [{ MCP_ACCESS_TOKEN_TTL: '10' }, 'MCP_ACCESS_TOKEN_TTL', /60 to 86400/],
    [{ MCP_ACCESS_TOKEN_TTL: 'hour' }, 'MCP_ACCESS_TOKEN_TTL', /integer/],
  ];
  for (const [env, variable, expected] of invalid) {
    test(`rejects ${JSON.stringify(env)} naming ${variable}, on one line, without the secret`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === variable &&
          error.message.startsWith(`${variable}=`) &&
          expected.test(error.message) &&
          !error.message.includes('\n') &&
          !error.message.includes(SECRET) &&
          !(env.MCP_OWNER_SECRET !== undefined && error.message.includes(env.MCP_OWNER_SECRET)),
      );
    });
  }

  test('the start-up line says which auth modes are on', () => {
    assert.match(describeAuthModes(loadConfig({})), /NONE/);
    assert.equal(
      describeAuthModes(loadConfig({ MCP_AUTH_TOKEN: 'tok-123456' })),
      'Auth on /mcp: static bearer token (MCP_AUTH_TOKEN)',
    );
    const both = describeAuthModes(
      loadConfig({
        MCP_AUTH_TOKEN: 'tok-123456',
        MCP_PUBLIC_URL: 'https://m.example',
        MCP_OWNER_SECRET: SECRET,
      }),
    );
    assert.match(both, /static bearer token \(MCP_AUTH_TOKEN\) and OAuth 2\.1 \(issuer https:\/\/m\.example/);
    assert.ok(!both.includes(SECRET));
    assert.match(
      describeAuthModes(loadConfig({ MCP_PUBLIC_URL: 'https://m.example' })),
      /OAuth is off: MCP_PUBLIC_URL is set but MCP_OWNER_SECRET is not/,
    );
  });
});

describe('OAuth rules', () => {
  test('redirect URIs: https anywhere, http only on loopback, app schemes, never script or file', () => {
    for (const ok of [
      'https://claude.ai/api/mcp/auth_callback',
      'http://127.0.0.1:33418/callback',
      'http://localhost/cb',
      'http://[::1]:8080/cb',
      'cursor://anysphere.cursor-retrieval/oauth/user-memory/callback',
    ]) {
      assert.equal(redirectUriProblem(ok), undefined, ok);
    }
    for (const bad of [
      'http://claude.ai/callback',
      'https://claude.ai/cb#x',
      'javascript:alert(1)',
      'data:text/html,hi',
      'file:///etc/passwd',
      'https://user:pw@claude.ai/cb',
      '/relative',
      `https://a.example/${'x'.repeat(2100)}`,
    ]) {
      assert.ok(redirectUriProblem(bad), bad);
    }
  });

  test('a redirect URI matches exactly, or on loopback with any port', () => {
    assert.ok(redirectUriMatches('https://a.example/cb', 'https://a.example/cb'));
    assert.ok(!redirectUriMatches('https://a.example/cb/', 'https://a.example/cb'));
    assert.ok(!redirectUriMatches('https://a.example:8443/cb', 'https://a.example/cb'));
    assert.ok(redirectUriMatches('http://127.0.0.1:5555/cb', 'http://127.0.0.1:9/cb'));
    assert.ok(!redirectUriMatches('http://127.0.0.1:5555/other', 'http://127.0.0.1:9/cb'));
    assert.ok(!redirectUriMatches('http://localhost:5555/cb', 'http://127.0.0.1:9/cb'));
  });

  test('resource indicators: this server under any spelling, nothing else', () => {
    const urls = oauthUrls('https://m.example');
    for (const ok of [
      'https://m.example/mcp',
      'https://m.example/mcp/',
      'https://m.example',
      'https://M.EXAMPLE:443/',
    ]) {
      assert.equal(canonicalResource(ok, urls), 'https://m.example/mcp', ok);
    }
    for (const bad of [
      'https://other.example/mcp',
      'http://m.example/mcp',
      'https://m.example/mcp/tools',
      'https://m.example/mcp#frag',
      'https://m.example/mcp?x=1',
      'not a url',
    ]) {
      assert.equal(canonicalResource(bad, urls), undefined, bad);
    }
  });

  test('PKCE S256 (RFC 7636 appendix B)', () => {
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    assert.equal(
      createHash('sha256').update(verifier).digest('base64url'),
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
    assert.ok(verifierMatches(verifier, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'));
    assert.ok(!verifierMatches(`${verifier}x`, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'));
    assert.ok(!verifierMatches('short', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'));
  });
});

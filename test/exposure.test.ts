/**
 * Transport security: the Host allow-list (DNS rebinding), what /health and /metrics tell
 * without a token, the warning and the refusal for a server bound beyond loopback without
 * authentication, and the `security` line of `memory check`.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { hostAllowed } from '../src/server/exposure.js';
import { announceAuthModes } from '../src/server/oauth/bearer.js';
import { runCli } from './helpers/cli.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const TOKEN = 'exposure-test-token-0123456789';
const METRICS_TOKEN = 'metrics-only-token-0123456789';

/** A raw HTTP request, so that the Host header is exactly what the test says (fetch sets its own). */
function send(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolveSend, reject) => {
    const req = request(
      { hostname, port, method: options.method ?? 'GET', path: options.path, headers: options.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolveSend({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
});
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: `Bearer ${TOKEN}`,
};

describe('Host allow-list, /health and /metrics with a token configured', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({
      MCP_AUTH_TOKEN: TOKEN,
      METRICS_TOKEN,
      MCP_ALLOWED_HOSTS: 'memory.example.com, mcp-server:3000',
    });
  });
  after(() => t?.stop());

  test('a foreign Host gets 403 even with a valid token; loopback, IPs and allowed hosts pass', async () => {
    const port = new URL(t.url).port;
    const evil = await send(t.url, {
      method: 'POST',
      path: '/mcp/',
      headers: { ...MCP_HEADERS, host: 'evil.example' },
      body: INITIALIZE,
    });
    assert.equal(evil.status, 403);
    const refusal = JSON.parse(evil.body) as { error: { message: string } };
    assert.match(refusal.error.message, /Host "evil\.example" is not allowed.*MCP_ALLOWED_HOSTS/);
    const evilWithPort = await send(t.url, {
      method: 'POST',
      path: '/mcp',
      headers: { ...MCP_HEADERS, host: `evil.example:${port}` },
      body: INITIALIZE,
    });
    assert.equal(evilWithPort.status, 403);
    // An allowed name on another port than the one listed is not the listed host.
    const wrongPort = await send(t.url, {
      method: 'POST',
      path: '/mcp/',
      headers: { ...MCP_HEADERS, host: 'mcp-server:4000' },
      body: INITIALIZE,
    });
    assert.equal(wrongPort.status, 403);
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      '10.1.2.3',
      'memory.example.com',
      'MEMORY.example.com:443',
      'mcp-server:3000',
    ]) {
      const answer = await send(t.url, {
        method: 'POST',
        path: '/mcp/',
        headers: { ...MCP_HEADERS, host },
        body: INITIALIZE,
      });
      assert.equal(answer.status, 200, `${host}: ${answer.body}`);
    }
    const metricsEvil = await send(t.url, {
      path: '/metrics',
      headers: { host: 'evil.example', authorization: `Bearer ${METRICS_TOKEN}` },
    });
    assert.equal(metricsEvil.status, 403);
  });

  test('/metrics needs METRICS_TOKEN or MCP_AUTH_TOKEN', async () => {
    const open = await fetch(`${t.url}/metrics`);
    assert.equal(open.status, 401);
    assert.doesNotMatch(await open.text(), /memory_/);
    const wrong = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    for (const token of [METRICS_TOKEN, TOKEN]) {
      const ok = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /memory_tool_calls_total/);
    }
  });

  test('/health without a token says only ok; with one, the details; any Host may ask', async () => {
    const bare = await fetch(`${t.url}/health`);
    assert.equal(bare.status, 200);
    assert.deepEqual(await bare.json(), { status: 'ok' });
    const foreign = await send(t.url, { path: '/health', headers: { host: 'evil.example' } });
    assert.equal(foreign.status, 200);
    assert.deepEqual(JSON.parse(foreign.body), { status: 'ok' });
    const detailed = await fetch(`${t.url}/health`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    const report = (await detailed.json()) as Record<string, unknown>;
    assert.equal(report.status, 'ok');
    assert.equal((report.postgres as { ok: boolean }).ok, true);
    assert.ok(report.queue !== undefined);
  });

  test('memory check --service mcp-server sends the token and reads the details', async () => {
    const { port } = new URL(t.url);
    const result = await runCli(['check', '--service', 'mcp-server'], {
      MCP_PORT: port,
      MCP_AUTH_TOKEN: TOKEN,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /mcp-server: ok \(offline: local\//);
  });
});

describe('a server bound beyond loopback without authentication', () => {
  test('start-up logs a SECURITY WARNING; with a token or on loopback it does not', () => {
    const lines = (env: Record<string, string>) => {
      const logged: string[] = [];
      const collect = (line: string) => {
        logged.push(line);
      };
      announceAuthModes(loadConfig(env), { info: collect, warn: (line) => collect(`WARN ${line}`) });
      return logged.join('\n');
    };
    assert.match(
      lines({ MCP_HOST: '0.0.0.0' }),
      /WARN SECURITY WARNING: MCP_HOST=0\.0\.0\.0 .*no authentication/,
    );
    assert.doesNotMatch(lines({ MCP_HOST: '0.0.0.0', MCP_AUTH_TOKEN: TOKEN }), /SECURITY/);
    assert.doesNotMatch(lines({ MCP_HOST: '127.0.0.1' }), /SECURITY/);
  });

  test('MCP_REQUIRE_AUTH=true refuses to start it, before touching any service', async () => {
    const result = await runCli(['serve'], {
      MCP_HOST: '0.0.0.0',
      MCP_PORT: '0',
      MCP_REQUIRE_AUTH: 'true',
      EVENTS_DB_DSN: 'postgres://nobody@127.0.0.1:1/none',
      CHROMA_HOST: '127.0.0.1',
      CHROMA_PORT: '1',
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout + result.stderr, /MCP_REQUIRE_AUTH=true: refusing to start.*MCP_AUTH_TOKEN/);
    assert.doesNotMatch(result.stdout + result.stderr, /Waiting for/);
  });

  test('memory check prints a security line: WARN when exposed, FAIL under MCP_REQUIRE_AUTH, ok otherwise', async () => {
    const exposed = await runCli(['check', '--service', 'security'], { MCP_HOST: '0.0.0.0' });
    assert.equal(exposed.code, 0);
    assert.match(
      exposed.stdout,
      /^security: WARN MCP_HOST=0\.0\.0\.0 accepts connections from other machines/m,
    );
    const refused = await runCli(['check', '--service', 'security'], {
      MCP_HOST: '0.0.0.0',
      MCP_REQUIRE_AUTH: 'true',
    });
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^security: FAIL /m);
    const guarded = await runCli(['check', '--service', 'security', '--json'], {
      MCP_HOST: '0.0.0.0',
      MCP_AUTH_TOKEN: TOKEN,
    });
    assert.equal(guarded.code, 0);
    const parsed = JSON.parse(guarded.stdout) as { results: Array<{ service: string; detail: string }> };
    assert.match(parsed.results[0]!.detail, /^ok, MCP_HOST=0\.0\.0\.0 with authentication/);
    const local = await runCli(['check', '--service', 'security'], {});
    assert.match(local.stdout, /^security: ok, bound to loopback \(127\.0\.0\.1\); \/metrics is open/m);
  });

  test('MCP_ALLOWED_HOSTS, MCP_REQUIRE_AUTH and METRICS_TOKEN are validated', () => {
    assert.throws(() => loadConfig({ MCP_ALLOWED_HOSTS: 'https://a.example' }), /MCP_ALLOWED_HOSTS/);
    assert.throws(() => loadConfig({ MCP_REQUIRE_AUTH: 'yes' }), /MCP_REQUIRE_AUTH/);
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN.*16 characters/);
    assert.deepEqual(
      loadConfig({ MCP_ALLOWED_HOSTS: 'A.example, b.example:8443', MCP_PUBLIC_URL: 'https://m.example.org' })
        .mcp.allowedHosts,
      ['a.example', 'b.example:8443', 'm.example.org'],
    );
  });
});

describe('which Host names pass, by where the server is bound', () => {
  test('loopback-bound: loopback names, addresses and the configured names only', () => {
    const config = loadConfig({});
    assert.equal(hostAllowed('localhost:3000', config), true);
    assert.equal(hostAllowed('127.0.0.1:3000', config), true);
    assert.equal(hostAllowed('evil.example', config), false);
    const named = loadConfig({ MCP_ALLOWED_HOSTS: 'memory.internal' });
    assert.equal(hostAllowed('memory.internal:3000', named), true);
    assert.equal(hostAllowed('evil.example', named), false);
  });

  test('bound beyond loopback: any name (a container, a tunnel, a proxy) until MCP_ALLOWED_HOSTS lists them', () => {
    const open = loadConfig({ MCP_HOST: '0.0.0.0' });
    assert.equal(hostAllowed('mcp-server:3000', open), true);
    assert.equal(hostAllowed('abc.ngrok-free.app', open), true);
    const pinned = loadConfig({ MCP_HOST: '0.0.0.0', MCP_ALLOWED_HOSTS: 'mcp.example.com' });
    assert.equal(hostAllowed('mcp.example.com', pinned), true);
    assert.equal(hostAllowed('abc.ngrok-free.app', pinned), false);
    const published = loadConfig({
      MCP_HOST: '0.0.0.0',
      MCP_PUBLIC_URL: 'https://memory.example.com',
      MCP_OWNER_SECRET: 'a-long-enough-owner-secret',
    });
    assert.equal(hostAllowed('memory.example.com', published), true);
    assert.equal(hostAllowed('evil.example', published), false);
  });
});

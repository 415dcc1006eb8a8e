/**
 * The real `memory serve` process with OAuth and the static token on: the start-up line says
 * both modes are on, the consent flow works against it, and neither the owner secret nor a token
 * appears in its output, even at DEBUG.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/embedded/chroma-server.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { BIN } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import {
  answerConsent,
  approve,
  authorizeUrl,
  mcpRequest,
  OWNER_SECRET,
  openConsent,
  pkcePair,
  REDIRECT_URI,
  register,
  tokenRequest,
} from './helpers/oauth.js';
import { eventually } from './helpers/worker.js';

const STATIC_TOKEN = 'static-token-for-the-serve-test-42';

describe('memory serve with OAuth', () => {
  let db: TestDatabase;
  let chroma: TestChroma;
  before(async () => {
    [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
  });
  after(async () => {
    await db.drop();
    await chroma.destroy();
  });

  test('says which auth modes are on, serves the flow, and never prints the owner secret or a token', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, [BIN, 'serve', '--no-worker'], {
      cwd: tmpdir(),
      env: {
        PATH: process.env.PATH ?? '',
        EVENTS_DB_DSN: db.url,
        CHROMA_HOST: '127.0.0.1',
        CHROMA_PORT: String(chroma.port),
        MCP_PORT: String(port),
        MCP_PUBLIC_URL: base,
        MCP_OWNER_SECRET: OWNER_SECRET,
        MCP_AUTH_TOKEN: STATIC_TOKEN,
        LOG_LEVEL: 'DEBUG',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let tokens: Record<string, unknown> = {};
    try {
      await eventually(
        async () => (/Auth on \/mcp/.test(output) ? true : undefined),
        30_000,
        'the server to start',
      );
      assert.match(
        output,
        new RegExp(
          `Auth on /mcp: static bearer token \\(MCP_AUTH_TOKEN\\) and OAuth 2\\.1 \\(issuer ${base}`,
        ),
      );

      const registered = await register(base, { client_name: 'Serve Test', redirect_uris: [REDIRECT_URI] });
      const clientId = String(registered.body.client_id);
      const secret = String(registered.body.client_secret);
      const { verifier, challenge } = pkcePair();
      const url = authorizeUrl(base, { client_id: clientId, code_challenge: challenge });
      const wrong = await answerConsent(base, await openConsent(url), { secret: 'a-guess-that-is-wrong' });
      assert.equal(wrong.status, 403);
      const code = (await approve(base, url)).searchParams.get('code')!;
      const issued = await tokenRequest(base, {
        grant_type: 'authorization_code',
        code,
        code_verifier: verifier,
        redirect_uri: REDIRECT_URI,
        client_id: clientId,
        client_secret: secret,
      });
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      tokens = issued.body;
      assert.equal((await mcpRequest(base, `Bearer ${String(tokens.access_token)}`)).status, 200);
      assert.equal((await mcpRequest(base, `Bearer ${STATIC_TOKEN}`)).status, 200);
      await eventually(
        async () => (/OAuth tokens issued/.test(output) ? true : undefined),
        10_000,
        'the log line',
      );
      assert.match(output, /Wrong owner secret on the consent page/);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
    for (const value of [OWNER_SECRET, STATIC_TOKEN, tokens.access_token, tokens.refresh_token]) {
      assert.ok(typeof value === 'string' && !output.includes(value), 'no secret or token in the output');
    }
  });
});

/**
 * The consent page in a real browser (Debian's Chromium driven by playwright-core): it renders
 * what the owner must see, refuses a wrong owner secret, approves with the right one (the
 * browser lands on the client's redirect URI with a code that buys tokens), and denies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  authorizeUrl,
  OWNER_SECRET,
  pkcePair,
  register,
  startOAuthServer,
  tokenRequest,
} from './helpers/oauth.js';
import type { TestServer } from './helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the consent page in Chromium', () => {
  let t: TestServer & { base: string };
  let browser: BrowserContext;
  let profile: string;
  let callback: Server;
  let callbackUrl: string;
  let clientId: string;
  const pages: Page[] = [];

  before(async () => {
    t = await startOAuthServer();
    // The client's redirect URI: a real listener, so the browser's last step lands somewhere.
    callback = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('connected');
    });
    await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
    const address = callback.address() as { port: number };
    callbackUrl = `http://127.0.0.1:${address.port}/callback`;
    const registered = await register(t.base, {
      client_name: 'Browser Test Client',
      redirect_uris: [callbackUrl],
      token_endpoint_auth_method: 'none',
    });
    clientId = String(registered.body.client_id);

    profile = mkdtempSync(join(tmpdir(), 'memory-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
  });

  after(async () => {
    for (const page of pages) await page.close().catch(() => {});
    await browser?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
    await new Promise<void>((resolve) => (callback ? callback.close(() => resolve()) : resolve()));
    await t.stop();
  });

  const openConsent = async (challenge: string): Promise<Page> => {
    const page = await browser.newPage();
    pages.push(page);
    const response = await page.goto(
      authorizeUrl(t.base, { client_id: clientId, code_challenge: challenge, redirect_uri: callbackUrl })
        .href,
    );
    assert.equal(response?.status(), 200);
    return page;
  };

  test('renders the client name, where it sends the owner back, a secret field, Approve and Deny', async () => {
    const page = await openConsent(pkcePair().challenge);
    assert.equal(await page.title(), 'Allow Browser Test Client to use your memory?');
    assert.equal(await page.locator('#client-name').textContent(), 'Browser Test Client');
    assert.match(
      (await page.locator('#redirect-host').textContent()) ?? '',
      new RegExp(new URL(callbackUrl).host),
    );
    assert.equal(await page.locator('input[name=owner_secret]').getAttribute('type'), 'password');
    assert.ok(await page.getByRole('button', { name: 'Approve' }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Deny' }).isVisible());
    // No DOM types in this project: the expression runs in the page.
    const styled = await page.evaluate("getComputedStyle(document.querySelector('button.approve')).color");
    assert.equal(styled, 'rgb(255, 255, 255)', 'the nonce-bound stylesheet applied under the CSP');
  });

  test('a wrong owner secret is refused with a message; the page stays and nothing is issued', async () => {
    const page = await openConsent(pkcePair().challenge);
    await page.fill('input[name=owner_secret]', 'not-the-owner-secret');
    const [answer] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === 'POST'),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    assert.equal(answer.status(), 403);
    await page.locator('[role=alert]').waitFor();
    assert.match((await page.locator('[role=alert]').textContent()) ?? '', /not the owner secret/);
    assert.equal(new URL(page.url()).pathname, '/authorize');
    const [grants] = await t.db.sql`select count(*)::int as n from oauth_grant`;
    assert.equal(grants?.n, 0);
  });

  test('the right owner secret approves: the browser lands on the client with a code that buys tokens', async () => {
    const { verifier, challenge } = pkcePair();
    const page = await openConsent(challenge);
    await page.fill('input[name=owner_secret]', OWNER_SECRET);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/callback'),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    const landed = new URL(page.url());
    assert.equal(landed.origin, new URL(callbackUrl).origin);
    assert.equal(landed.searchParams.get('state'), 'xyz');
    assert.equal(landed.searchParams.get('iss'), t.base);
    const code = landed.searchParams.get('code');
    assert.ok(code);
    const tokens = await tokenRequest(t.base, {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: callbackUrl,
      client_id: clientId,
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.match(String(tokens.body.access_token), /^memory_at_/);
  });

  test('Deny sends the owner back with access_denied, without asking for the secret', async () => {
    const page = await openConsent(pkcePair().challenge);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/callback'),
      page.getByRole('button', { name: 'Deny' }).click(),
    ]);
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get('error'), 'access_denied');
    assert.equal(landed.searchParams.get('code'), null);
  });
});

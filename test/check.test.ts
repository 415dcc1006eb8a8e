import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/embedded/chroma-server.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { runCli } from './helpers/cli.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from './helpers/database.js';

/** A TCP server that accepts connections and never answers: a host that hangs. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const server: NetServer = createServer((socket) => sockets.push(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * How long the probe of `service` took, as `memory check` prints it: "postgres: FAIL ... (12 ms)".
 * Timing the probe rather than the whole process keeps node's start-up (1 s idle, 5-13 s on a
 * busy machine) out of assertions about the probe's own deadline.
 */
function probeMs(stdout: string, service: string): number {
  const match = new RegExp(`^${service}: .*\\((\\d+) ms\\)$`, 'm').exec(stdout);
  assert.ok(match, `no timed ${service} line in:\n${stdout}`);
  return Number(match[1]);
}

describe('memory check', () => {
  let db: TestDatabase;
  let chroma: TestChroma;
  before(async () => {
    // allSettled, not all: when one fails, the other is still assigned and stopped by `after`
    // (a Chroma left running keeps this file's process, and so the run, alive).
    const started = await Promise.allSettled([
      createTestDatabase().then((value) => {
        db = value;
      }),
      startTestChroma().then((value) => {
        chroma = value;
      }),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
  });
  after(async () => {
    await db?.drop();
    await chroma?.destroy();
  });

  test('postgres: ok on a migrated database', async () => {
    const result = await runCli(['check', '--service', 'postgres'], { EVENTS_DB_DSN: db.url });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^postgres: ok \(\d+ ms\)$/m);
  });

  test('postgres: fails while migrations are pending', async () => {
    const empty = await createEmptyDatabase();
    try {
      const result = await runCli(['check', '--service', 'postgres'], { EVENTS_DB_DSN: empty.url });
      assert.equal(result.code, 1);
      assert.match(
        result.stdout,
        /postgres: FAIL migrations not applied: 001_artifact_revision\.sql.*run memory migrate/,
      );
    } finally {
      await empty.drop();
    }
  });

  test('postgres: a closed port fails at once with a readable line', async () => {
    const result = await runCli(['check', '--service', 'postgres'], {
      EVENTS_DB_DSN: 'postgres://postgres@127.0.0.1:1/x',
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^postgres: FAIL connection refused 127\.0\.0\.1:1 \(\d+ ms\)$/m);
    // At once: far below the default 5,000 ms deadline (the process exited by itself: code 1).
    const ms = probeMs(result.stdout, 'postgres');
    assert.ok(ms < 4000, `the probe took ${ms} ms`);
  });

  test('postgres: a host that never answers fails within the timeout', async () => {
    const silent = await silentServer();
    try {
      const result = await runCli(['check', '--service', 'postgres', '--timeout-ms', '800'], {
        EVENTS_DB_DSN: `postgres://postgres@127.0.0.1:${silent.port}/x`,
      });
      assert.equal(result.code, 1);
      assert.match(result.stdout, /postgres: FAIL no answer within 800 ms/);
      // The 800 ms deadline ended the probe (not the default 5,000 ms, not a hang), and the
      // process exited by itself with the half-open socket still there (code 1 above, not killed).
      const ms = probeMs(result.stdout, 'postgres');
      assert.ok(ms >= 790 && ms < 4000, `the probe took ${ms} ms`);
    } finally {
      await silent.close();
    }
  });

  test('chroma: ok against a running server, FAIL when it is stopped', async () => {
    const env = { CHROMA_HOST: '127.0.0.1', CHROMA_PORT: String(chroma.port) };
    const ok = await runCli(['check', '--service', 'chroma'], env);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^chroma: ok/m);

    const other = await startTestChroma();
    const port = other.port;
    await other.destroy();
    const down = await runCli(['check', '--service', 'chroma'], {
      CHROMA_HOST: '127.0.0.1',
      CHROMA_PORT: String(port),
    });
    assert.equal(down.code, 1);
    assert.match(down.stdout, new RegExp(`chroma: FAIL connection refused 127\\.0\\.0\\.1:${port}`));
  });

  test('worker: FAIL without a fresh heartbeat, ok with one', async () => {
    const env = { EVENTS_DB_DSN: db.url, POLL_INTERVAL_MS: '1000' };
    await db.sql`delete from worker_heartbeat`;
    await db.sql`insert into worker_heartbeat (worker_id, last_seen_at) values ('old', now() - interval '1 minute')`;
    const stale = await runCli(['check', '--service', 'worker'], env);
    assert.equal(stale.code, 1);
    assert.match(stale.stdout, /worker: FAIL no worker heartbeat in the last 15 s/);

    await db.sql`insert into worker_heartbeat (worker_id) values ('fresh')`;
    const fresh = await runCli(['check', '--service', 'worker'], env);
    assert.equal(fresh.code, 0, fresh.stdout);
    assert.match(fresh.stdout, /worker: ok, 1 worker/);
  });

  test('mcp-server: GET /health must answer 200', async () => {
    let status = 200;
    const server: Server = createHttpServer((request, response) => {
      response.writeHead(request.url === '/health' ? status : 404).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const ok = await runCli(['check', '--service', 'mcp-server'], { MCP_PORT: String(port) });
      assert.equal(ok.code, 0, ok.stdout);
      status = 503;
      const down = await runCli(['check', '--service', 'mcp-server'], { MCP_PORT: String(port) });
      assert.equal(down.code, 1);
      assert.match(down.stdout, /mcp-server: FAIL .*HTTP 503/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('all: one line per service, exit 0 only when every one is ok, --json for machines', async () => {
    await db.sql`insert into worker_heartbeat (worker_id) values ('all-check') on conflict (worker_id) do update set last_seen_at = now()`;
    const closedPort = await freePort();
    const env = {
      EVENTS_DB_DSN: db.url,
      CHROMA_HOST: '127.0.0.1',
      CHROMA_PORT: String(chroma.port),
      MCP_PORT: String(closedPort),
    };
    const result = await runCli(['check', '--service', 'all'], env);
    assert.equal(result.code, 1, 'mcp-server is not running');
    const lines = result.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((line) => line.split(':')[0]),
      ['mcp-server', 'worker', 'postgres', 'chroma', 'security'],
    );
    assert.match(result.stdout, /mcp-server: FAIL connection refused/);
    assert.match(result.stdout, /postgres: ok/);

    const json = await runCli(['check', '--service', 'postgres', '--json'], env);
    const parsed = JSON.parse(json.stdout) as {
      ok: boolean;
      results: Array<{ service: string; ok: boolean }>;
    };
    assert.equal(parsed.ok, true);
    assert.deepEqual(
      parsed.results.map((r) => [r.service, r.ok]),
      [['postgres', true]],
    );
  });
});

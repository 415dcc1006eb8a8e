/**
 * Start-up with the services down: `memory serve` and `memory work` wait for Postgres and Chroma
 * on ports that refuse connections, say so in their logs and in /health, carry on once the
 * services answer, and give up with a clear error after STARTUP_TIMEOUT_SECONDS.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { type ChromaServer, freePort, startChromaServer } from '../src/embedded/chroma-server.js';
import { BIN, runCli, SLOW_MS, stopChild } from './helpers/cli.js';
import { createTestDatabase, databaseUrl, type TestDatabase } from './helpers/database.js';
import { connectClient } from './helpers/server.js';
import { eventually, spawnWorker, type WorkerProcess } from './helpers/worker.js';

const POSTGRES = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');

/** A TCP proxy to the real Postgres on `port`, started only when the test says so. */
async function proxyToPostgres(port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(Number(POSTGRES.port || 5432), POSTGRES.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolveListen);
  });
  return {
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolveClose());
      }),
  };
}

/** The URL of `db` through `port` instead of Postgres's own. */
function throughPort(db: TestDatabase, port: number): string {
  const url = new URL(databaseUrl(db.name));
  url.port = String(port);
  return url.toString();
}

describe('start-up while Postgres and Chroma are down', () => {
  let db: TestDatabase;
  const closers: Array<() => Promise<void>> = [];
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await db?.drop();
  });

  test('memory work waits for Postgres, logs each wait, and starts once it answers', async () => {
    const port = await freePort();
    const worker: WorkerProcess = spawnWorker('startup-worker', {
      EVENTS_DB_DSN: throughPort(db, port),
      STARTUP_TIMEOUT_SECONDS: '600',
    });
    closers.push(() => worker.kill());
    await worker.waitForOutput(/Waiting for postgres.*"attempt":2/);
    assert.match(worker.output(), /connection refused 127\.0\.0\.1/);
    assert.equal(worker.child.exitCode, null, 'still running while Postgres is down');
    const proxy = await proxyToPostgres(port);
    closers.push(() => proxy.close());
    await worker.started();
    await worker.waitForOutput(/postgres is reachable/);
    await eventually(async () => {
      const rows = await db.sql`select 1 from worker_heartbeat where worker_id = 'startup-worker'`;
      return rows.length > 0 ? true : undefined;
    });
  });

  test('memory serve binds at once, /health says "waiting" for each service, then serves MCP', async () => {
    const [pgPort, chromaPort, mcpPort] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'memory-startup-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    let output = '';
    const server: ChildProcess = spawn(process.execPath, [BIN, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        EVENTS_DB_DSN: throughPort(db, pgPort),
        CHROMA_HOST: '127.0.0.1',
        CHROMA_PORT: String(chromaPort),
        MCP_PORT: String(mcpPort),
        STARTUP_TIMEOUT_SECONDS: '600',
        LOG_LEVEL: 'INFO',
      },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    closers.push(() => stopChild(server));
    for (const stream of [server.stdout, server.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
    }
    const health = async () => {
      const response = await fetch(`http://127.0.0.1:${mcpPort}/health`).catch(() => undefined);
      if (response === undefined) return undefined;
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const waitingFor = (service: string) =>
      eventually(
        async () => {
          const answer = await health();
          return answer?.body.waiting_for === service ? answer : undefined;
        },
        SLOW_MS,
        `/health waiting for ${service}; output:\n${output}`,
      );

    const first = await waitingFor('postgres');
    assert.equal(first.status, 503);
    assert.equal(first.body.status, 'waiting');
    // MCP is served meanwhile: tools/list needs no storage and is answered at once.
    const mcp = await fetch(`http://127.0.0.1:${mcpPort}/mcp/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(mcp.status, 200);
    const listed = (await mcp.json()) as { result?: { tools?: unknown[] } };
    assert.ok((listed.result?.tools?.length ?? 0) > 0);

    const proxy = await proxyToPostgres(pgPort);
    closers.push(() => proxy.close());
    await waitingFor('chroma');
    assert.match(output, /Waiting for chroma/);

    const chromaDir = mkdtempSync(join(tmpdir(), 'memory-startup-chroma-'));
    closers.push(async () => rmSync(chromaDir, { recursive: true, force: true }));
    const chroma: ChromaServer = await startChromaServer({
      path: join(chromaDir, 'data'),
      logFile: join(chromaDir, 'chroma.log'),
      port: chromaPort,
    });
    closers.push(() => chroma.stop());
    const ready = await eventually(
      async () => {
        const answer = await health();
        return answer?.status === 200 ? answer : undefined;
      },
      SLOW_MS,
      `/health 200; output:\n${output}`,
    );
    assert.equal(ready.body.status, 'ok');
    const client = await connectClient(`http://127.0.0.1:${mcpPort}/mcp/`);
    closers.push(() => client.close());
    const tools = await client.listTools();
    assert.ok(tools.tools.length > 0);
  });

  test('after STARTUP_TIMEOUT_SECONDS the start is given up with one clear line, exit 1', async () => {
    const port = await freePort();
    const result = await runCli(['work'], {
      EVENTS_DB_DSN: throughPort(db, port),
      STARTUP_TIMEOUT_SECONDS: '2',
      WORKER_ID: 'gives-up',
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout + result.stderr,
      /postgres was still unreachable after 2 s of retries \(STARTUP_TIMEOUT_SECONDS=2\): connection refused.*Start PostgreSQL or fix EVENTS_DB_DSN/,
    );
    assert.match(result.stdout + result.stderr, /Waiting for postgres/);
  });

  test('an error that waiting cannot fix ends the start at once', async () => {
    const url = new URL(databaseUrl('memory_no_such_database'));
    const result = await runCli(['work'], {
      EVENTS_DB_DSN: url.toString(),
      STARTUP_TIMEOUT_SECONDS: '600',
      WORKER_ID: 'no-db',
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /memory_no_such_database.*does not exist/);
    assert.doesNotMatch(result.stdout + result.stderr, /Waiting for postgres/);
  });

  test('STARTUP_TIMEOUT_SECONDS is validated', () => {
    assert.equal(loadConfig({}).startupTimeoutSeconds, 300);
    assert.equal(loadConfig({ STARTUP_TIMEOUT_SECONDS: '0' }).startupTimeoutSeconds, 0);
    assert.throws(() => loadConfig({ STARTUP_TIMEOUT_SECONDS: '-1' }), /STARTUP_TIMEOUT_SECONDS/);
    assert.throws(() => loadConfig({ STARTUP_TIMEOUT_SECONDS: 'soon' }), /STARTUP_TIMEOUT_SECONDS/);
  });
});

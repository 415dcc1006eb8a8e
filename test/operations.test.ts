import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/embedded/chroma-server.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { BIN, exitOf, SLOW_MS, stopChild, within } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';
import { callTool, connectClient, startTestServer, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/worker.js';

const TOKEN = 'tok_0123456789abcdefghijklmnop';
const jsonRpc = (method: string, params: Record<string, unknown> = {}) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('bearer token and origin checks', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ MCP_AUTH_TOKEN: TOKEN, MCP_ALLOWED_ORIGINS: 'https://app.example.com' });
  });
  after(() => t.stop());

  const ingestCall = jsonRpc('tools/call', {
    name: 'memory_store',
    arguments: { content: 'should not be stored', type: 'fact', confidence: 1 },
  });

  test('no token or a wrong token: 401 with WWW-Authenticate, and nothing is executed', async () => {
    const before = await t.server.services.vectors.count('memory');
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, TOKEN, 'Basic abc']) {
      const response = await fetch(`${t.url}/mcp/`, {
        method: 'POST',
        headers: { ...MCP_HEADERS, ...(authorization ? { authorization } : {}) },
        body: ingestCall,
      });
      assert.equal(response.status, 401, String(authorization));
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    assert.equal(await t.server.services.vectors.count('memory'), before);
  });

  test('the right token works through the SDK client', async () => {
    const client = await connectClient(`${t.url}/mcp/`, { authorization: `Bearer ${TOKEN}` });
    const stored = await callTool(client, 'memory_store', {
      content: 'authorised',
      type: 'fact',
      confidence: 1,
    });
    assert.equal(stored.isError, false);
    await client.close();
  });

  test('a forged Origin gets 403 even with the right token; an allowed one passes', async () => {
    const forged = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' },
      body: jsonRpc('tools/list'),
    });
    assert.equal(forged.status, 403);
    const allowed = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${TOKEN}`, origin: 'https://app.example.com' },
      body: jsonRpc('tools/list'),
    });
    assert.equal(allowed.status, 200);
  });

  test('/health answers without a token and says nothing secret', async () => {
    const response = await fetch(`${t.url}/health`);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.doesNotMatch(text, new RegExp(TOKEN));
    assert.doesNotMatch(text, /postgres:\/\//);
  });
});

describe('/metrics', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  const scrape = async () => {
    const response = await fetch(`${t.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    return response.text();
  };
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  test('values move after tool calls and jobs', async () => {
    const before = await scrape();
    assert.equal(value(before, 'memory_queue_depth'), 0);
    assert.match(before, /memory_process_cpu_user_seconds_total/);

    await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      content: 'We decided to ship on Friday.',
    });
    await t.call('memory_delete', { memory_id: 'mem_000000000000' });
    const afterCalls = await scrape();
    assert.equal(
      value(afterCalls, 'memory_tool_calls_total{tool="artifact_ingest",outcome="ok",code=""}'),
      1,
    );
    assert.equal(
      value(afterCalls, 'memory_tool_calls_total{tool="memory_delete",outcome="error",code="NOT_FOUND"}'),
      1,
    );
    assert.equal(
      value(afterCalls, 'memory_tool_call_duration_seconds_count{tool="artifact_ingest",outcome="ok"}'),
      1,
    );
    assert.equal(value(afterCalls, 'memory_queue_depth'), 1);
    assert.equal(value(afterCalls, 'memory_jobs{status="PENDING"}'), 1);
    assert.ok((value(afterCalls, 'memory_oldest_pending_job_age_seconds') ?? -1) >= 0);

    // Run the job with an in-process worker.
    const { startWorker } = await import('../src/worker/worker.js');
    const { createRulesExtractor } = await import('../src/domain/extraction/rules/rules.js');
    const worker = startWorker({
      config: t.server.services.config,
      sql: t.server.services.sql,
      extractor: createRulesExtractor(),
      listen: false,
    });
    try {
      await eventually(async () => {
        const text = await scrape();
        return value(text, 'memory_jobs{status="DONE"}') === 1 ? text : undefined;
      });
      const afterJob = await scrape();
      assert.equal(value(afterJob, 'memory_queue_depth'), 0);
      assert.ok((value(afterJob, 'memory_events{category="Decision"}') ?? 0) >= 1);
      assert.equal(value(afterJob, 'memory_workers_alive'), 1);
      assert.ok(value(afterJob, 'memory_job_duration_seconds{quantile="0.5"}') !== undefined);
    } finally {
      await worker.stop();
    }
  });
});

describe('secrets never reach the logs', () => {
  let db: TestDatabase;
  let chroma: TestChroma;
  let fake: FakeOpenAI;
  before(async () => {
    // allSettled, not all: when one fails, the others are still assigned and stopped by `after`.
    const started = await Promise.allSettled([
      createTestDatabase().then((value) => {
        db = value;
      }),
      startTestChroma().then((value) => {
        chroma = value;
      }),
      startFakeOpenAI().then((value) => {
        fake = value;
      }),
    ]);
    for (const result of started) if (result.status === 'rejected') throw result.reason;
  });
  after(async () => {
    await db?.drop();
    await chroma?.destroy();
    await fake?.close();
  });

  test('LOG_LEVEL=DEBUG, a full ingest-and-extract run with failures: no key, token or password in the output', async () => {
    const key = 'sk-proj-VERYSECRETKEY0123456789';
    const password = 'pg-secret-pw-42';
    const dsn = new URL(db.url);
    dsn.username = 'postgres';
    dsn.password = password;
    // OpenAI echoes a wrong key back in its error message; so does our fake server here.
    fake.queue('embeddings', { kind: 'status', status: 401, message: `Incorrect API key provided: ${key}` });
    fake.queue('chat', { kind: 'status', status: 500, message: `upstream failed for key ${key}` });
    fake.onChat(() =>
      JSON.stringify({
        events: [
          {
            category: 'Decision',
            narrative: 'The team decided to ship on Friday.',
            event_time: null,
            subject: { type: 'project', ref: 'release' },
            actors: [],
            confidence: 0.9,
            evidence: [{ quote: 'We decided to ship on Friday.', chunk_index: 0 }],
          },
        ],
      }),
    );
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--with-worker'], {
      cwd: tmpdir(),
      env: {
        PATH: process.env.PATH ?? '',
        EVENTS_DB_DSN: dsn.toString(),
        CHROMA_HOST: '127.0.0.1',
        CHROMA_PORT: String(chroma.port),
        OPENAI_API_KEY: key,
        OPENAI_BASE_URL: fake.url,
        OPENAI_EMBED_MODEL: 'text-embedding-3-small',
        OPENAI_EMBED_DIMS: '32',
        OPENAI_MAX_RETRIES: '0',
        MCP_AUTH_TOKEN: TOKEN,
        MCP_PORT: String(port),
        LOG_LEVEL: 'DEBUG',
        POLL_INTERVAL_MS: '100',
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
    const exited = exitOf(child);
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`serve exited early:\n${output}`);
          return /MCP endpoint/.test(output) ? true : undefined;
        },
        SLOW_MS,
        'the server to start',
      );
      const client = await connectClient(`http://127.0.0.1:${port}/mcp/`, {
        authorization: `Bearer ${TOKEN}`,
      });
      const denied = await callTool(client, 'artifact_ingest', {
        artifact_type: 'note',
        source_system: 'm',
        content: 'first',
      });
      assert.equal(denied.data.error?.code, 'OPENAI_AUTH_ERROR');
      assert.doesNotMatch(JSON.stringify(denied.data), new RegExp(key));
      const ingest = await callTool(client, 'artifact_ingest', {
        artifact_type: 'note',
        source_system: 'm',
        content: 'We decided to ship on Friday.',
      });
      assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
      const uid = String(ingest.data.artifact_uid);
      // First attempt fails (500), then make the retry due now and let it succeed.
      await eventually(async () => {
        const status = await callTool(client, 'job_status', { artifact_uid: uid });
        return (status.data.job as { attempts: number; status: string }).attempts >= 1 &&
          (status.data.job as { status: string }).status === 'PENDING'
          ? true
          : undefined;
      });
      await db.sql`update event_jobs set next_run_at = now() where artifact_uid = ${uid}`;
      await eventually(async () => {
        const status = await callTool(client, 'job_status', { artifact_uid: uid });
        return (status.data.job as { status: string }).status === 'DONE' ? true : undefined;
      });
      await client.close();
      assert.match(output, /Polling for jobs/, 'DEBUG lines are there');
      assert.match(output, /Job done/);
    } finally {
      // SIGTERM as in production (its shutdown is part of what must not log secrets); SIGKILL if
      // it has not exited within the deadline, so a stuck shutdown cannot hang the run.
      await stopChild(child, 'SIGTERM', SLOW_MS);
    }
    assert.notEqual(await within(exited, 1000, 'exit'), null, `serve did not stop on SIGTERM:\n${output}`);
    assert.ok(output.length > 0);
    assert.doesNotMatch(output, new RegExp(key), 'the API key never appears');
    assert.doesNotMatch(output, new RegExp(TOKEN), 'the bearer token never appears');
    assert.doesNotMatch(output, new RegExp(password), 'the database password never appears');
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/embedded/chroma-server.js';
import { createChromaIndex } from '../src/vectors/chroma.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { BIN, exitOf, runCli, SLOW_MS, stopChild } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';
import { callTool, connectClient, startTestServer, type TestServer } from './helpers/server.js';
import { eventually } from './helpers/worker.js';

const LONG = Array.from(
  { length: 400 },
  (_, i) =>
    `Paragraph ${i} of the migration plan: the billing service moves to the new cluster in phase ${i % 7}.`,
).join('\n');

function env(db: TestDatabase, chroma: TestChroma, fake: FakeOpenAI, dims: number): Record<string, string> {
  return {
    EVENTS_DB_DSN: db.url,
    CHROMA_HOST: '127.0.0.1',
    CHROMA_PORT: String(chroma.port),
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: fake.url,
    OPENAI_EMBED_MODEL: 'text-embedding-3-small',
    OPENAI_EMBED_DIMS: String(dims),
    OPENAI_MAX_RETRIES: '0',
    LOG_LEVEL: 'ERROR',
    INDEX_POLL_MS: '100',
  };
}

function json(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

describe('memory reindex', () => {
  let fake: FakeOpenAI;
  let t: TestServer;

  before(async () => {
    fake = await startFakeOpenAI();
    t = await startTestServer({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
      OPENAI_EMBED_MODEL: 'text-embedding-3-small',
      OPENAI_EMBED_DIMS: '32',
      INDEX_POLL_MS: '100',
    });
  });
  after(async () => {
    await t?.stop();
    await fake?.close();
  });

  test('to another embedding space with the server running: searches answer throughout and afterwards', async () => {
    for (let i = 0; i < 6; i++) {
      const ingested = await t.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'notes',
        source_id: `n${i}`,
        content: `Note ${i}: the quarterly review of project kestrel${i} is on Thursday.`,
      });
      assert.equal(ingested.isError, false, JSON.stringify(ingested.data));
    }
    const long = await t.call('artifact_ingest', {
      artifact_type: 'doc',
      source_system: 'docs',
      source_id: 'plan',
      title: 'Migration plan',
      content: LONG,
    });
    assert.equal(long.data.is_chunked, true);
    await t.call('memory_store', {
      content: 'The user prefers tea over coffee',
      type: 'preference',
      confidence: 0.9,
    });
    await t.call('history_append', {
      conversation_id: 'c1',
      role: 'user',
      content: 'Where is kestrel3?',
      turn_index: 0,
    });

    // Searches run without pause while the index is rebuilt and switched.
    let searching = true;
    let answered = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (searching) {
        const hits = await t.call('hybrid_search', { query: 'kestrel3 quarterly review', limit: 3 });
        if (hits.isError) failures.push(JSON.stringify(hits.data));
        else answered++;
      }
    })();

    const stopSearching = async () => {
      searching = false;
      await loop;
    };
    const run = await runCli(['reindex'], env(t.db, t.chroma, fake, 48), undefined, 5 * SLOW_MS).catch(
      async (error: unknown) => {
        await stopSearching();
        throw error;
      },
    );
    if (run.code !== 0) await stopSearching();
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const progress = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(progress.some((p) => p.type === 'progress' && p.kind === 'artifacts' && p.phase === 'done'));
    const summary = progress[progress.length - 1]!;
    assert.deepEqual(summary.space, { provider: 'openai', model: 'text-embedding-3-small', dimensions: 48 });

    try {
      await eventually(
        async () => (t.server.services.embedder.space.dimensions === 48 ? true : undefined),
        SLOW_MS,
        'the server to follow the switch',
      );
      const seenBefore = answered;
      await eventually(
        async () => (answered > seenBefore + 2 ? true : undefined),
        SLOW_MS,
        'searches after the switch',
      );
    } finally {
      await stopSearching();
    }
    assert.deepEqual(failures, []);

    const hits = await t.call('hybrid_search', {
      query: 'kestrel3 quarterly review',
      limit: 3,
      include_memory: true,
    });
    assert.equal(hits.isError, false);
    const results = hits.data.results as Array<{ artifact_uid?: string; title?: string; snippet?: string }>;
    assert.ok(results.length > 0);
    const memories = await t.call('memory_search', { query: 'tea or coffee', limit: 1 });
    assert.equal(
      (memories.data.memories as Array<{ content: string }>)[0]?.content,
      'The user prefers tea over coffee',
    );
    const history = await t.call('history_get', { conversation_id: 'c1', limit: 5 });
    assert.equal((history.data.turns as unknown[]).length, 1);

    // The new collections are of the new space; a check in that space finds nothing to fix.
    const check = await runCli(['reindex', '--check'], env(t.db, t.chroma, fake, 48));
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.equal(json(check.stdout).problems, 0);
    // The old space is refused, naming the command that rebuilds.
    const old = await runCli(['reindex', '--check'], env(t.db, t.chroma, fake, 32));
    assert.equal(old.code, 1);
    assert.match(old.stdout, /memory reindex/);
  });
});

describe('a killed reindex', () => {
  let fake: FakeOpenAI;
  let t: TestServer;

  before(async () => {
    fake = await startFakeOpenAI();
    t = await startTestServer({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
      OPENAI_EMBED_MODEL: 'text-embedding-3-small',
      OPENAI_EMBED_DIMS: '32',
      INDEX_POLL_MS: '100',
    });
  });
  after(async () => {
    fake?.reset();
    await t?.stop();
    await fake?.close();
  });

  test('resumes after its last saved batch', async () => {
    const topics = ['tea', 'cycling', 'rust', 'jazz', 'gardening', 'chess'];
    for (const topic of topics) {
      await t.call('memory_store', {
        content: `The user enjoys ${topic}`,
        type: 'preference',
        confidence: 0.8,
      });
    }
    const base = { ...env(t.db, t.chroma, fake, 32), LOG_LEVEL: 'ERROR' };
    const before = fake.count('embeddings');
    // The first batch is embedded, the second hangs: the reindex is killed there.
    fake.queue('embeddings', { kind: 'delay', ms: 0 }, { kind: 'hang' });
    const child = spawn(process.execPath, [BIN, 'reindex', '--only', 'memories', '--batch-size', '2'], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', ...base },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`reindex exited early:\n${output}`);
          return fake.count('embeddings') >= before + 2 && /"items":2/.test(output) ? true : undefined;
        },
        SLOW_MS,
        'the first batch and the hung second one',
      );
      child.kill('SIGKILL');
      await exitOf(child);
    } finally {
      await stopChild(child, 'SIGKILL');
      fake.reset();
    }
    const atRestart = fake.count('embeddings');
    const run = await runCli(['reindex', '--only', 'memories', '--batch-size', '2'], base);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const summary = json(run.stdout) as { kinds: Array<{ kind: string; items: number; resumed: boolean }> };
    assert.deepEqual(
      summary.kinds.map(({ kind, items, resumed }) => ({ kind, items, resumed })),
      [{ kind: 'memories', items: 6, resumed: true }],
    );
    // Only the two batches left were embedded again.
    assert.equal(fake.count('embeddings') - atRestart, 2);
    await eventually(
      async () => ((t.server.services.vectors.generations.memory ?? 0) > 0 ? true : undefined),
      SLOW_MS,
      'the server to follow the switch',
    );
    const found = await t.call('memory_search', { query: 'jazz', limit: 1 });
    assert.equal((found.data.memories as Array<{ content: string }>)[0]?.content, 'The user enjoys jazz');
    const check = await runCli(['reindex', '--check'], base);
    assert.equal(check.code, 0, check.stdout);
  });
});

describe('a server killed mid-ingest, then reindex --check and --repair', () => {
  let db: TestDatabase;
  let chroma: TestChroma;
  let fake: FakeOpenAI;

  before(async () => {
    [db, chroma, fake] = await Promise.all([createTestDatabase(), startTestChroma(), startFakeOpenAI()]);
  });
  after(async () => {
    await db?.drop();
    await chroma?.destroy();
    await fake?.close();
  });

  test('kill -9 leaves orphans that --check finds and --repair removes; the sweep removes them too', async () => {
    const base = env(db, chroma, fake, 32);
    // Seed one artifact so the index has a live record besides the orphans.
    const seed = await runCli(['migrate'], base);
    assert.equal(seed.code, 0, seed.stderr);
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--no-worker'], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', ...base, MCP_PORT: String(port), LOG_LEVEL: 'INFO' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const index = createChromaIndex({
      url: chroma.url,
      space: { provider: 'openai', model: 'text-embedding-3-small', dimensions: 32 },
    });
    // Postgres is held (the table locked) so that ingests write their vectors and then wait.
    const blocker = await db.sql.reserve();
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`serve exited early:\n${output}`);
          return /MCP endpoint/.test(output) ? true : undefined;
        },
        SLOW_MS,
        'the server to start',
      );
      const client = await connectClient(`http://127.0.0.1:${port}/mcp/`);
      const kept = await callTool(client, 'artifact_ingest', {
        artifact_type: 'note',
        source_system: 'notes',
        source_id: 'kept',
        content: 'This note is committed before the crash.',
      });
      assert.equal(kept.isError, false, JSON.stringify(kept.data));
      await blocker`begin`;
      await blocker`lock table artifact_revision in exclusive mode`;
      const pending = [0, 1, 2].map((i) =>
        callTool(client, 'artifact_ingest', {
          artifact_type: 'doc',
          source_system: 'notes',
          source_id: `lost${i}`,
          content: i === 0 ? LONG : `Lost note ${i}, never committed.`,
        }).catch(() => undefined),
      );
      // Ingest writes the artifact record, then its chunks: wait for both before the kill.
      await eventually(
        async () =>
          (await index.count('artifacts')) >= 4 && (await index.count('artifact_chunks')) > 1
            ? true
            : undefined,
        SLOW_MS,
        'the in-flight ingests to write their vectors',
      );
      child.kill('SIGKILL');
      await exitOf(child);
      await Promise.all(pending);
    } finally {
      await blocker`rollback`.catch(() => {});
      blocker.release();
      await stopChild(child, 'SIGKILL');
    }

    const check = await runCli(['reindex', '--check'], base);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    const found = json(check.stdout) as { collections: Array<{ collection: string; orphans: number }> };
    const artifacts = found.collections.find((c) => c.collection === 'artifacts')!;
    const chunks = found.collections.find((c) => c.collection === 'artifact_chunks')!;
    assert.equal(artifacts.orphans, 3);
    assert.ok(chunks.orphans > 1);

    // The sweep of a running server removes orphans older than its grace period, and counts them.
    const t = await startTestServer(
      { ...base, ORPHAN_SWEEP_INTERVAL_SECONDS: '1', ORPHAN_GRACE_SECONDS: '0' },
      { db, chroma },
    );
    try {
      const removed = await eventually(
        async () => {
          const text = await (await fetch(`${t.url}/metrics`)).text();
          const match = /memory_orphan_vectors_removed_total\{collection="artifacts"\} (\d+)/.exec(text);
          return match && Number(match[1]) >= 3 ? Number(match[1]) : undefined;
        },
        SLOW_MS,
        'the sweep',
      );
      assert.equal(removed, 3);
    } finally {
      await t.stop();
    }
    assert.equal(await index.count('artifacts'), 1);

    // --repair: a record deleted behind Postgres's back is a row without a vector; repair writes it.
    const [keptRecord] = await index.get('artifacts', { limit: 1 });
    await index.delete('artifacts', { ids: [keptRecord!.id] });
    const missing = await runCli(['reindex', '--check'], base);
    assert.equal(missing.code, 1);
    assert.equal(
      (
        json(missing.stdout) as { collections: Array<{ collection: string; missing: number }> }
      ).collections.find((c) => c.collection === 'artifacts')!.missing,
      1,
    );
    const requests = fake.requests.length;
    const repair = await runCli(['reindex', '--repair'], base);
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.equal(json(repair.stdout).remaining, 0);
    // Only the missing artifact was embedded again.
    assert.equal(fake.requests.length - requests, 1);
    const clean = await runCli(['reindex', '--check'], base);
    assert.equal(clean.code, 0, clean.stdout);
  });
});

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { runCli } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eventually, SLOW_MS, spawnWorker } from './helpers/worker.js';

const LONG = Array.from({ length: 300 }, (_, i) =>
  i % 100 === 50
    ? `Section ${i}. Dana Ortiz decided that the Atlas launch moves to March ${(i % 27) + 1}; Priya owns the rollout checklist.`
    : `Section ${i}. The archive index for shelf ${i} lists boxes, labels and the storage room it sits in.`,
).join('\n');

function env(db: TestDatabase, chroma: TestChroma, fake: FakeOpenAI): Record<string, string> {
  return {
    EVENTS_DB_DSN: db.url,
    CHROMA_HOST: '127.0.0.1',
    CHROMA_PORT: String(chroma.port),
    OPENAI_API_KEY: 'sk-test',
    OPENAI_BASE_URL: fake.url,
    OPENAI_EMBED_MODEL: 'text-embedding-3-small',
    OPENAI_EMBED_DIMS: '32',
    OPENAI_MAX_RETRIES: '0',
    EVENT_EXTRACTOR: 'rules',
    LOG_LEVEL: 'ERROR',
  };
}

/** The lines of an export without the header's time. */
function body(file: string): string[] {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const header = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(header.format, 'memory-export');
  assert.equal(header.version, 1);
  return [JSON.stringify({ ...header, exported_at: undefined }), ...lines.slice(1)];
}

/**
 * What the tools answer. The queries were chosen so that no two stored texts are at the same
 * distance from them under the test embedder (32 hashed dimensions): between exact ties the
 * index answers in insertion order, which an import does not keep.
 */
async function answers(t: TestServer): Promise<unknown[]> {
  const hybrid = await t.call('hybrid_search', {
    query: 'Atlas beta launch checklist',
    limit: 5,
    include_memory: true,
  });
  const memories = await t.call('memory_search', { query: 'prefers dark mode in the editor', limit: 3 });
  const list = await t.call('memory_list', { limit: 10 });
  const history = await t.call('history_get', { conversation_id: 'conv-1', limit: 10 });
  // Every matching event (fewer than 100), so ties at the cut cannot pick different ones.
  const events = await t.call('event_search', { query: 'launch', limit: 100 });
  for (const answer of [hybrid, memories, list, history, events])
    assert.equal(answer.isError, false, JSON.stringify(answer.data));
  const results = (hybrid.data.results as Array<Record<string, unknown>>).map((r) => [
    r.artifact_id ?? r.memory_id ?? r.id,
    r.revision_id,
  ]);
  assert.ok((events.data.events as unknown[]).length < 100);
  // Events of equal rank come in no set order: compare them as a set.
  const found = (events.data.events as Array<{ event_id: string }>).toSorted((a, b) =>
    a.event_id.localeCompare(b.event_id),
  );
  return [results, memories.data, list.data, history.data, found];
}

describe('memory export and memory import', () => {
  let fake: FakeOpenAI;
  let source: TestServer;
  let copy: { db: TestDatabase; chroma: TestChroma } | undefined;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'memory-export-'));
    fake = await startFakeOpenAI();
    source = await startTestServer({
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
      OPENAI_EMBED_MODEL: 'text-embedding-3-small',
      OPENAI_EMBED_DIMS: '32',
    });
  });
  after(async () => {
    await source?.stop();
    await copy?.db.drop();
    await copy?.chroma.destroy();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('round trip: export, import into a fresh store, export again: identical; tools answer the same', async () => {
    const ingest = (args: Record<string, unknown>) => source.call('artifact_ingest', args);
    assert.equal(
      (
        await ingest({
          artifact_type: 'doc',
          source_system: 'docs',
          source_id: 'atlas',
          title: 'Atlas plan',
          content: LONG,
        })
      ).isError,
      false,
    );
    await ingest({
      artifact_type: 'note',
      source_system: 'notes',
      source_id: 'n1',
      content: 'Priya decided to ship the Atlas beta on Friday.',
    });
    // A second revision: both are exported, the first stays readable.
    await ingest({
      artifact_type: 'note',
      source_system: 'notes',
      source_id: 'n1',
      content: 'Priya decided to ship the Atlas beta on Monday instead.',
    });
    await ingest({
      artifact_type: 'email',
      source_system: 'mail',
      content: 'Dana agreed to review the launch checklist by Thursday.',
      participants: ['Dana', 'Priya'],
    });
    await source.call('memory_store', {
      content: 'The user prefers dark mode in every editor',
      type: 'preference',
      confidence: 0.9,
    });
    await source.call('memory_store', { content: 'Atlas ships in March', type: 'project', confidence: 0.7 });
    for (let i = 0; i < 3; i++) {
      await source.call('history_append', {
        conversation_id: 'conv-1',
        role: i % 2 ? 'assistant' : 'user',
        content: `Turn ${i} about the Atlas launch`,
        turn_index: i,
      });
    }
    // Events, extracted by a real worker.
    const worker = spawnWorker('export-worker', env(source.db, source.chroma, fake));
    try {
      await eventually(
        async () => {
          const [row] = await source.db.sql<{ open: number; events: number }[]>`
            select (select count(*) from event_jobs where status in ('PENDING', 'PROCESSING'))::int as open,
                   (select count(*) from semantic_event)::int as events`;
          return row!.open === 0 && row!.events > 0 ? true : undefined;
        },
        SLOW_MS,
        'the extraction jobs',
      );
    } finally {
      await worker.kill();
    }

    const first = join(dir, 'first.jsonl');
    const exported = await runCli(['export', '--out', first], env(source.db, source.chroma, fake));
    assert.equal(exported.code, 0, exported.stderr);
    const summary = JSON.parse(exported.stdout) as { records: Record<string, number> };
    assert.deepEqual(
      { ...summary.records, event: summary.records.event! > 0 },
      { memory: 2, turn: 3, revision: 4, event: true, job: 4 },
    );

    const [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
    copy = { db, chroma };
    const target = env(db, chroma, fake);
    const dry = await runCli(['import', first, '--dry-run'], target);
    assert.equal(dry.code, 0, dry.stderr);
    const [dryCount] = await db.sql<{ n: number }[]>`select count(*)::int as n from artifact_revision`;
    assert.equal(dryCount?.n, 0);

    const imported = await runCli(['import', first], target);
    assert.equal(imported.code, 0, imported.stderr);
    const report = JSON.parse(imported.stdout) as {
      written: Record<string, number>;
      read: Record<string, number>;
    };
    assert.deepEqual(report.written, report.read);
    // Twice is once.
    const again = await runCli(['import', first], target);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as typeof report).written, {
      memory: 0,
      turn: 0,
      revision: 0,
      event: 0,
      job: 0,
    });

    const second = join(dir, 'second.jsonl');
    const reexported = await runCli(['export', '--out', second], target);
    assert.equal(reexported.code, 0, reexported.stderr);
    assert.deepEqual(body(second), body(first));

    // The index was rebuilt from the imported rows: nothing to repair, and the tools answer the same.
    const check = await runCli(['reindex', '--check'], target);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const restored = await startTestServer(
      {
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: fake.url,
        OPENAI_EMBED_MODEL: 'text-embedding-3-small',
        OPENAI_EMBED_DIMS: '32',
      },
      { db, chroma },
    );
    try {
      assert.deepEqual(await answers(restored), await answers(source));
    } finally {
      await restored.stop();
    }
  });

  test('embedded mode: import, reindex, check and export against the data folder', async () => {
    const first = join(dir, 'first.jsonl');
    const folder = mkdtempSync(join(tmpdir(), 'memory-embedded-transfer-'));
    try {
      const embedded = {
        MEMORY_DATA_DIR: join(folder, '.memory'),
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: fake.url,
        OPENAI_EMBED_MODEL: 'text-embedding-3-small',
        OPENAI_EMBED_DIMS: '32',
        OPENAI_MAX_RETRIES: '0',
        LOG_LEVEL: 'ERROR',
        INDEX_POLL_MS: '100',
      };
      const imported = await runCli(['import', first], embedded, folder, 3 * SLOW_MS);
      assert.equal(imported.code, 0, imported.stderr);
      const reindexed = await runCli(['reindex'], embedded, folder, 3 * SLOW_MS);
      assert.equal(reindexed.code, 0, reindexed.stderr + reindexed.stdout);
      const check = await runCli(['reindex', '--check'], embedded, folder, 3 * SLOW_MS);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const again = join(dir, 'embedded.jsonl');
      const exported = await runCli(['export', '--out', again], embedded, folder, 3 * SLOW_MS);
      assert.equal(exported.code, 0, exported.stderr);
      assert.deepEqual(body(again), body(first));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a truncated or corrupted line: an error naming it, and nothing written', async () => {
    const first = join(dir, 'first.jsonl');
    const lines = readFileSync(first, 'utf8').trimEnd().split('\n');
    const [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
    try {
      const target = env(db, chroma, fake);
      // The last line cut in the middle, as by a full disk.
      const truncated = join(dir, 'truncated.jsonl');
      writeFileSync(truncated, `${lines.join('\n').slice(0, -20)}\n`);
      const cut = await runCli(['import', truncated], target);
      assert.equal(cut.code, 1);
      assert.match(cut.stderr, new RegExp(`line ${lines.length}: \\(line\\): is not valid JSON`));
      // A revision whose text no longer matches its hash.
      const at = lines.findIndex((line) => line.includes('"type":"revision"'));
      const corrupted = join(dir, 'corrupted.jsonl');
      const edited = [...lines];
      edited[at] = edited[at]!.replace('Priya', 'Pryia');
      writeFileSync(corrupted, `${edited.join('\n')}\n`);
      const bad = await runCli(['import', corrupted], target);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, new RegExp(`line ${at + 1}: content_hash: does not match`));
      const [counts] = await db.sql<{ memories: number; turns: number; revisions: number }[]>`
        select (select count(*) from memory)::int as memories, (select count(*) from conversation_turn)::int as turns,
               (select count(*) from artifact_revision)::int as revisions`;
      assert.deepEqual(counts, { memories: 0, turns: 0, revisions: 0 });
    } finally {
      await db.drop();
      await chroma.destroy();
    }
  });
});

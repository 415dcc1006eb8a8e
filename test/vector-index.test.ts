/**
 * The vector index contract, run against both implementations: Chroma (a real server) and
 * pgvector in the embedded PGlite (a real PGlite with its socket server, as `memory serve` runs
 * it). The same calls must give the same answers: filters (equality, $ne, ranges), ids, paging,
 * counts, cosine distances, and the refusal of another embedding space.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedPostgres } from '../src/embedded/start.js';
import type { EmbeddingSpace } from '../src/providers/embedder.js';
import { connect, type Sql } from '../src/store/connect.js';
import { createChromaIndex } from '../src/vectors/chroma.js';
import type { VectorIndex, VectorRecord } from '../src/vectors/index.js';
import { createPgvectorIndex } from '../src/vectors/pgvector.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';

const SPACE: EmbeddingSpace = { provider: 'local', model: 'contract-test', dimensions: 8 };

/** A unit vector pointing mostly along axis `axis`, tilted by `tilt` towards the next axis. */
function unit(axis: number, tilt = 0): number[] {
  const vector = Array.from({ length: SPACE.dimensions }, () => 0);
  vector[axis % SPACE.dimensions] = 1;
  vector[(axis + 1) % SPACE.dimensions] = tilt;
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

const RECORDS: VectorRecord[] = Array.from({ length: 40 }, (_, i) => ({
  id: `rec-${String(i).padStart(2, '0')}`,
  embedding: unit(0, i / 10),
  document: `document ${i} with "quotes", a backslash \\ and a newline\nhere`,
  metadata: {
    kind: i % 2 === 0 ? 'even' : 'odd',
    n: i,
    flag: i % 3 === 0,
    ...(i % 4 === 0 ? { rare: 'yes' } : {}),
  },
}));

interface Implementation {
  name: string;
  open(space: EmbeddingSpace): VectorIndex;
}

const implementations: Implementation[] = [];
let chroma: TestChroma | undefined;
let pglite: { url: string; stop(): Promise<void> } | undefined;
let pgliteDir: string | undefined;
let sql: Sql | undefined;

before(async () => {
  pgliteDir = mkdtempSync(join(tmpdir(), 'memory-pgvector-'));
  const [chromaResult, pgliteResult] = await Promise.allSettled([
    startTestChroma(),
    startEmbeddedPostgres(join(pgliteDir, 'pg')),
  ]);
  if (chromaResult.status === 'fulfilled') chroma = chromaResult.value;
  if (pgliteResult.status === 'fulfilled') pglite = pgliteResult.value;
  if (chromaResult.status === 'rejected') throw chromaResult.reason;
  if (pgliteResult.status === 'rejected') throw pgliteResult.reason;
  const chromaUrl = chroma!.url;
  sql = connect(pglite!.url, { max: 1 });
  const pgSql = sql;
  implementations.push(
    { name: 'chroma', open: (space) => createChromaIndex({ url: chromaUrl, space }) },
    { name: 'pgvector (PGlite)', open: (space) => createPgvectorIndex({ sql: pgSql, space }) },
  );
});

after(async () => {
  await sql?.end({ timeout: 1 });
  await pglite?.stop();
  await chroma?.destroy();
  if (pgliteDir !== undefined) rmSync(pgliteDir, { recursive: true, force: true });
});

/** Runs `check` against every implementation, with the records written to the `memory` collection. */
async function onEach(check: (index: VectorIndex, name: string) => Promise<void>): Promise<void> {
  for (const implementation of implementations) {
    const index = implementation.open(SPACE);
    await index.open();
    await index.delete('memory', { filter: { n: { $gte: 0 } } });
    await index.upsert('memory', RECORDS);
    await check(index, implementation.name);
  }
}

describe('the vector index contract (Chroma and pgvector)', () => {
  test('nearest neighbours by cosine distance, the same order and distances', async () => {
    const answers: Array<Array<[string, number]>> = [];
    await onEach(async (index, name) => {
      const hits = await index.query('memory', unit(0, 0.5), { limit: 5 });
      assert.equal(hits.length, 5, name);
      assert.equal(hits[0]?.id, 'rec-05', name);
      assert.ok(Math.abs(hits[0]!.distance) < 1e-4, `${name}: ${hits[0]?.distance}`);
      for (let i = 1; i < hits.length; i++) assert.ok(hits[i]!.distance >= hits[i - 1]!.distance, name);
      assert.deepEqual(Object.keys(hits[0]!).sort(), ['distance', 'id'], `${name}: ids and distances only`);
      const [stored] = await index.get('memory', { ids: [hits[0]!.id] });
      assert.equal(stored?.document, RECORDS[5]?.document, name);
      assert.deepEqual(stored?.metadata, RECORDS[5]?.metadata, name);
      answers.push(hits.map((hit) => [hit.id, Number(hit.distance.toFixed(4))]));
    });
    assert.deepEqual(
      answers[0]?.map(([id]) => id),
      answers[1]?.map(([id]) => id),
    );
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(answers[0]![i]![1] - answers[1]![i]![1]) < 1e-3);
  });

  test('filters: equality of strings, numbers and booleans, $ne, ranges, all together', async () => {
    await onEach(async (index, name) => {
      const ids = async (filter: Parameters<VectorIndex['listIds']>[1]) => index.listIds('memory', filter);
      assert.equal((await ids({ filter: { kind: 'even' } })).length, 20, name);
      assert.deepEqual(await ids({ filter: { n: 7 } }), ['rec-07'], name);
      assert.deepEqual(await ids({ filter: { kind: 7 } }), [], `${name}: a number never equals a string`);
      assert.equal((await ids({ filter: { flag: true } })).length, 14, name);
      assert.equal(
        (await ids({ filter: { rare: { $ne: 'yes' } } })).length,
        30,
        `${name}: $ne, field missing`,
      );
      assert.equal((await ids({ filter: { kind: { $ne: 'even' } } })).length, 20, name);
      assert.deepEqual(await ids({ filter: { n: { $gte: 37 } } }), ['rec-37', 'rec-38', 'rec-39'], name);
      assert.deepEqual(
        await ids({ filter: { n: { $gte: 3, $lte: 5 } } }),
        ['rec-03', 'rec-04', 'rec-05'],
        name,
      );
      assert.deepEqual(
        await ids({ filter: { kind: 'odd', flag: true, n: { $lte: 10 }, missing: undefined } }),
        ['rec-03', 'rec-09'],
        name,
      );
    });
  });

  test('a filtered query still returns `limit` rows when the filter keeps few of the nearest', async () => {
    await onEach(async (index, name) => {
      // The nearest records to axis 0 have small n; only n >= 30 pass.
      const hits = await index.query('memory', unit(0), { limit: 5, filter: { n: { $gte: 30 } } });
      assert.deepEqual(
        hits.map((hit) => hit.id),
        ['rec-30', 'rec-31', 'rec-32', 'rec-33', 'rec-34'],
        name,
      );
    });
  });

  test('get by ids with embeddings, paging of ids, count, delete by ids and by filter, upsert replaces', async () => {
    await onEach(async (index, name) => {
      const [got] = await index.get('memory', { ids: ['rec-02'], includeEmbeddings: true });
      assert.equal(got?.id, 'rec-02', name);
      for (const [i, x] of got!.embedding!.entries()) {
        assert.ok(Math.abs(x - RECORDS[2]!.embedding[i]!) < 1e-6, name);
      }
      const withoutText = await index.get('memory', { ids: ['rec-02'], includeDocuments: false });
      assert.equal(withoutText[0]?.document, undefined, name);
      const page = await index.listIds('memory', { limit: 3, offset: 3 });
      assert.equal(page.length, 3, name);
      assert.equal(await index.count('memory'), 40, name);
      await index.delete('memory', { ids: ['rec-00', 'rec-01'] });
      await index.delete('memory', { filter: { kind: 'odd', n: { $gte: 30 } } });
      assert.equal(await index.count('memory'), 40 - 2 - 5, name);
      await index.upsert('memory', [
        { ...RECORDS[2]!, document: 'replaced', metadata: { kind: 'new', n: 2 } },
      ]);
      const [replaced] = await index.get('memory', { ids: ['rec-02'] });
      assert.equal(replaced?.document, 'replaced', name);
      assert.deepEqual(replaced?.metadata, { kind: 'new', n: 2, flag: false }, `${name}: metadata merged`);
      assert.equal(await index.count('memory'), 33, name);
    });
  });

  test('another embedding space is refused with EMBEDDING_SPACE_MISMATCH', async () => {
    for (const implementation of implementations) {
      await implementation.open(SPACE).open();
      const other = implementation.open({ ...SPACE, model: 'another-model' });
      await assert.rejects(other.open(), { code: 'EMBEDDING_SPACE_MISMATCH' }, implementation.name);
    }
  });
});

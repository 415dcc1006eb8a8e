/**
 * The postings of sql/011 and the bounded BM25 that reads them (store/lexical.ts):
 * - the triggers keep the postings equal to the searchable rows through every write (a new
 *   revision, a reverted one, a delete, a replaced turn, an undone write), and the migration
 *   gives a database written before it the same postings;
 * - when no query term is common (every posting of every term is read), the search from postings
 *   returns exactly what BM25 over every matching row returns (same rows, order and scores);
 * - only the shortlist is scored in full, and a filter that leaves fewer rows than the limit in
 *   it makes the search score every row the filter keeps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import type { Sql } from '../src/store/connect.js';
import { connect } from '../src/store/connect.js';
import { type LexicalTable, lexicalSearch, lexicalSearchRows } from '../src/store/lexical.js';
import { deleteMemoryRow, insertMemories, insertMemory } from '../src/store/memories.js';
import { migrate, readMigrations } from '../src/store/migrate.js';
import { deleteArtifactRows, type NewRevision, writeRevision } from '../src/store/revisions.js';
import { insertTurns, restoreTurn, upsertTurn } from '../src/store/turns.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from './helpers/database.js';

/** A small deterministic generator, so a failing case can be run again. */
function generator(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const VOCABULARY = (
  'harbour lantern copper meadow falcon quarry willow ember glacier orchard ' +
  'parcel signal timber velvet canyon beacon thistle marble summit harvest ' +
  'ledger anchor prism cobalt ferry garnet hollow island juniper kettle'
).split(' ');

/** Text of `words` words, skewed so that some words are in most rows and some in few. */
function text(next: () => number, words: number): string {
  return Array.from({ length: words }, () => VOCABULARY[Math.floor(next() ** 2 * VOCABULARY.length)]!).join(
    ' ',
  );
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** A revision as ingest writes it: one piece, or several chunks when `pieces` has more than one. */
async function writeArtifact(
  sql: Sql,
  n: number,
  pieces: string[],
): Promise<{ uid: string; revision: string }> {
  const content = pieces.join(' ');
  const uid = `uid_${hex(n, 16)}`;
  const revision = `rev_${hex(n * 1000 + content.length, 16)}`;
  const chunked = pieces.length > 1;
  const row: NewRevision = {
    artifact_uid: uid,
    revision_id: revision,
    artifact_id: `art_${hex(n * 1000 + content.length, 16)}`,
    artifact_type: 'doc',
    source_system: 'test',
    source_id: `doc-${n}`,
    source_url: null,
    source_ts: null,
    title: null,
    author: null,
    participants: [],
    content_hash: hex(content.length, 8),
    token_count: content.split(' ').length,
    is_chunked: chunked,
    chunk_count: chunked ? pieces.length : 0,
    sensitivity: 'normal',
    visibility_scope: 'me',
    retention_policy: 'forever',
  };
  let start = 0;
  const chunks = pieces.map((piece, index) => {
    const chunk = {
      chunk_index: index,
      chunk_id: chunked ? `${row.artifact_id}::chunk::${index}` : row.artifact_id,
      start_char: start,
      end_char: start + piece.length,
      token_count: piece.split(' ').length,
      content_hash: hex(piece.length, 8),
      text: piece,
    };
    start += piece.length + 1;
    return chunk;
  });
  await writeRevision(sql, row, content, chunks, 3);
  return { uid, revision };
}

/**
 * Postings that should exist but do not, and postings that exist but should not, per table: both
 * must be 0. What should exist is computed afresh from the rows.
 */
async function postingDrift(sql: Sql): Promise<Record<string, number>> {
  const [row] = await sql<Record<string, number>[]>`
    with chunk_expected as (
      select p.lexeme, p.impact, c.artifact_uid, c.chunk_index, p.tf, c.text_length as dl
      from artifact_revision r
      join artifact_chunk c on c.artifact_uid = r.artifact_uid and c.revision_id = r.revision_id,
           lexical_postings(c.text_tsv, c.text_length, 100) p
      where r.is_latest
    ),
    memory_expected as (
      select p.lexeme, p.impact, m.memory_id, p.tf, m.text_length as dl from memory m, lexical_postings(m.text_tsv, m.text_length, 20) p
    ),
    turn_expected as (
      select p.lexeme, p.impact, t.turn_id, p.tf, t.text_length as dl from conversation_turn t, lexical_postings(t.text_tsv, t.text_length, 20) p
    )
    select
      (select count(*) from (select * from chunk_expected except select * from chunk_posting) x)::int as chunk_missing,
      (select count(*) from (select * from chunk_posting except select * from chunk_expected) x)::int as chunk_extra,
      (select count(*) from (select * from memory_expected except select * from memory_posting) x)::int as memory_missing,
      (select count(*) from (select * from memory_posting except select * from memory_expected) x)::int as memory_extra,
      (select count(*) from (select * from turn_expected except select * from turn_posting) x)::int as turn_missing,
      (select count(*) from (select * from turn_posting except select * from turn_expected) x)::int as turn_extra,
      (select count(*) from chunk_posting)::int as chunk_postings`;
  return row!;
}

function assertNoDrift(drift: Record<string, number>, when: string): void {
  const { chunk_postings: _, ...counts } = drift;
  assert.deepEqual(
    counts,
    {
      chunk_missing: 0,
      chunk_extra: 0,
      memory_missing: 0,
      memory_extra: 0,
      turn_missing: 0,
      turn_extra: 0,
    },
    when,
  );
}

const memory = (n: number, content: string) => ({
  memory_id: `mem_${hex(n, 12)}`,
  content,
  type: 'fact' as const,
  confidence: 0.9,
  conversation_id: null,
  ts: new Date(Date.UTC(2024, 0, 1, 0, n)),
});

const turn = (conversation: string, index: number, content: string) => ({
  conversation_id: conversation,
  turn_index: index,
  role: 'user' as const,
  speaker: null,
  content,
  ts: new Date(Date.UTC(2024, 0, 1, 0, index)),
});

describe('postings follow the rows', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  test('through revisions, reverts, deletes, replaced turns and undone writes', async () => {
    const { sql } = db;
    const first = await writeArtifact(sql, 1, ['copper lantern harbour', 'falcon meadow quarry']);
    await writeArtifact(sql, 2, ['willow ember glacier']);
    assertNoDrift(await postingDrift(sql), 'after two ingests');
    assert.ok(((await postingDrift(sql)).chunk_postings ?? 0) > 0);

    // A new revision replaces the old one's postings; reverting brings them back.
    await writeArtifact(sql, 1, ['orchard parcel']);
    assertNoDrift(await postingDrift(sql), 'after a new revision');
    assert.deepEqual(await lexicalSearch(sql, lexicalQuery('falcon'), { limit: 10 }), []);
    await writeArtifact(sql, 1, ['copper lantern harbour', 'falcon meadow quarry']);
    assertNoDrift(await postingDrift(sql), 'after reverting to the first revision');
    assert.equal(
      (await lexicalSearch(sql, lexicalQuery('falcon'), { limit: 10 }))[0]?.revisionId,
      first.revision,
    );

    await deleteArtifactRows(sql, first.uid);
    assertNoDrift(await postingDrift(sql), 'after a delete');

    await insertMemory(sql, memory(1, 'The harbour lantern is copper'));
    await insertMemories(sql, [memory(2, 'Falcons nest in the quarry'), memory(3, 'Willow by the meadow')]);
    await deleteMemoryRow(sql, memory(2, '').memory_id);
    assertNoDrift(await postingDrift(sql), 'after memory writes');

    await insertTurns(sql, [turn('c1', 0, 'Meet at the ferry'), turn('c1', 1, 'Bring the kettle')]);
    const previous = await upsertTurn(sql, turn('c1', 1, 'Bring the juniper instead'));
    assertNoDrift(await postingDrift(sql), 'after replacing a turn');
    await restoreTurn(sql, { conversation_id: 'c1', turn_index: 1 }, previous);
    await restoreTurn(sql, { conversation_id: 'c1', turn_index: 2 }, undefined);
    assertNoDrift(await postingDrift(sql), 'after undoing the replacement');
    assert.equal(
      (await lexicalSearchRows(sql, 'conversation_turn', lexicalQuery('kettle'), { limit: 5 }))[0]?.id,
      'c1_turn_1',
    );
    assert.deepEqual(
      await lexicalSearchRows(sql, 'conversation_turn', lexicalQuery('juniper'), { limit: 5 }),
      [],
    );
  });

  test('a failed write leaves no postings behind', async () => {
    const { sql } = db;
    const before = await postingDrift(sql);
    await assert.rejects(
      sql.begin(async (tx) => {
        await tx`insert into memory (memory_id, content, type, confidence) values ('mem_0000000000ff', 'garnet prism', 'fact', 0.5)`;
        await tx`select 1 / 0`;
      }),
    );
    assert.deepEqual(await postingDrift(sql), before);
    assert.deepEqual(await lexicalSearchRows(sql, 'memory', lexicalQuery('garnet'), { limit: 5 }), []);
  });

  test('the migration gives rows written before it their postings', async () => {
    const empty = await createEmptyDatabase();
    const sql = connect(empty.url, { max: 2 });
    try {
      const files = readMigrations();
      await migrate(
        sql,
        files.filter((file) => file.name < '011'),
      );
      // Written without the triggers, as every version before the migration wrote.
      await writeArtifact(sql, 7, ['cobalt canyon beacon', 'thistle marble summit']);
      await writeArtifact(sql, 7, ['harvest ledger anchor']);
      await insertMemories(sql, [memory(7, 'cobalt beacon at the summit')]);
      await insertTurns(sql, [turn('c7', 0, 'the anchor is marble')]);
      await migrate(sql, files);
      assertNoDrift(await postingDrift(sql), 'after the migration');
      const [hit] = await lexicalSearch(sql, lexicalQuery('ledger'), { limit: 5 });
      assert.equal(hit?.artifactUid, `uid_${hex(7, 16)}`);
      assert.deepEqual(await lexicalSearch(sql, lexicalQuery('thistle'), { limit: 5 }), []);
    } finally {
      await sql.end();
      await empty.drop();
    }
  });
});

describe('bounded BM25 over postings', () => {
  let db: TestDatabase;
  const queries: string[] = [];

  before(async () => {
    db = await createTestDatabase();
    const next = generator(42);
    for (let n = 1; n <= 120; n++) {
      const pieces =
        next() < 0.3
          ? [text(next, 12), text(next, 20), text(next, 7)]
          : [text(next, 4 + Math.floor(next() * 30))];
      await writeArtifact(db.sql, n, pieces);
    }
    await insertMemories(
      db.sql,
      Array.from({ length: 150 }, (_, i) => memory(i + 1, text(next, 3 + Math.floor(next() * 12)))),
    );
    await insertTurns(
      db.sql,
      Array.from({ length: 150 }, (_, i) => turn(`c${i % 7}`, i, text(next, 2 + Math.floor(next() * 15)))),
    );
    for (let i = 0; i < 40; i++) {
      const words = 1 + Math.floor(next() * 4);
      const query = Array.from({ length: words }, () => VOCABULARY[Math.floor(next() * VOCABULARY.length)]!);
      // Some capitalised words, which weigh more (lexical-query.ts).
      queries.push(
        ['find', ...query.map((w, j) => (j % 2 === 1 ? w[0]!.toUpperCase() + w.slice(1) : w))].join(' '),
      );
    }
  });
  after(() => db.drop());

  test('with every posting read, artifacts rank exactly as BM25 over every matching chunk ranks them', async () => {
    for (const query of queries) {
      const exact = await lexicalSearch(db.sql, lexicalQuery(query), { limit: 15, exact: true });
      const bounded = await lexicalSearch(db.sql, lexicalQuery(query), { limit: 15 });
      assert.deepEqual(
        bounded.map((hit) => [hit.artifactUid, hit.chunkIndex, hit.revisionId, hit.chunkId, hit.artifactId]),
        exact.map((hit) => [hit.artifactUid, hit.chunkIndex, hit.revisionId, hit.chunkId, hit.artifactId]),
        query,
      );
      for (const [i, hit] of bounded.entries()) {
        assert.ok(Math.abs(hit.score - (exact[i]?.score ?? Number.NaN)) < 1e-9, query);
      }
    }
  });

  for (const table of ['memory', 'conversation_turn'] as LexicalTable[]) {
    test(`with every posting read, ${table} rows rank exactly as BM25 over every matching row ranks them`, async () => {
      for (const query of queries) {
        const exact = await lexicalSearchRows(db.sql, table, lexicalQuery(query), { limit: 15, exact: true });
        const bounded = await lexicalSearchRows(db.sql, table, lexicalQuery(query), { limit: 15 });
        assert.deepEqual(
          bounded.map((hit) => hit.id),
          exact.map((hit) => hit.id),
          query,
        );
        for (const [i, hit] of bounded.entries()) {
          assert.ok(Math.abs(hit.score - (exact[i]?.score ?? Number.NaN)) < 1e-9, query);
        }
      }
    });
  }

  test('a filter that leaves fewer rows than the limit among the best postings scores every row it keeps', async () => {
    for (const query of queries) {
      const keep = db.sql`d.conversation_id = 'c3'`;
      const narrow = await lexicalSearchRows(db.sql, 'conversation_turn', lexicalQuery(query), {
        limit: 10,
        keep,
        shortlist: 5,
      });
      const exact = await lexicalSearchRows(db.sql, 'conversation_turn', lexicalQuery(query), {
        limit: 10,
        keep,
        exact: true,
      });
      assert.deepEqual(
        narrow.map((hit) => hit.id),
        exact.map((hit) => hit.id),
        query,
      );
      assert.ok(narrow.every((hit) => hit.id.startsWith('c3_turn_')));
    }
  });

  test('only the shortlist (the best scores over the postings read) is scored in full, exactly', async () => {
    for (const query of queries) {
      // No term here is common (the corpus is small), so every posting of every term is read and
      // the shortlist is the exact top 5.
      const short = await lexicalSearchRows(db.sql, 'memory', lexicalQuery(query), {
        limit: 10,
        shortlist: 5,
      });
      const exact = await lexicalSearchRows(db.sql, 'memory', lexicalQuery(query), { limit: 5, exact: true });
      assert.deepEqual(
        short.map((hit) => hit.id),
        exact.map((hit) => hit.id),
        query,
      );
      for (const [i, hit] of short.entries()) {
        assert.ok(Math.abs(hit.score - (exact[i]?.score ?? Number.NaN)) < 1e-9, query);
      }
    }
  });
});

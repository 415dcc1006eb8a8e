import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import type { Sql } from '../src/store/connect.js';
import { lexicalSearch } from '../src/store/lexical.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

function hex16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

interface ArtifactSpec {
  name: string;
  /** One entry per revision, oldest first; the last one is the latest. Arrays are chunks. */
  revisions: (string | string[])[];
  artifactType?: string;
  sourceSystem?: string;
  sensitivity?: string;
  visibilityScope?: string;
  sourceTs?: Date;
}

interface Inserted {
  uid: string;
  artifactId: string;
  revisionIds: string[];
}

async function insertArtifact(sql: Sql, spec: ArtifactSpec): Promise<Inserted> {
  const key = hex16(`test:${spec.name}`);
  const uid = `uid_${key}`;
  const artifactId = `art_${key}`;
  const revisionIds: string[] = [];
  for (const [index, revision] of spec.revisions.entries()) {
    const chunks = Array.isArray(revision) ? revision : [revision];
    const content = chunks.join('');
    const revisionId = `rev_${hex16(content)}`;
    revisionIds.push(revisionId);
    const chunked = Array.isArray(revision);
    await sql`insert into artifact_revision ${sql({
      artifact_uid: uid,
      revision_id: revisionId,
      artifact_id: artifactId,
      artifact_type: spec.artifactType ?? 'doc',
      source_system: spec.sourceSystem ?? 'test',
      source_id: spec.name,
      source_ts: spec.sourceTs ?? null,
      content_hash: hex16(content),
      token_count: content.split(/\s+/).length,
      is_chunked: chunked,
      chunk_count: chunked ? chunks.length : 0,
      sensitivity: spec.sensitivity ?? 'normal',
      visibility_scope: spec.visibilityScope ?? 'me',
      is_latest: index === spec.revisions.length - 1,
    })}`;
    let start = 0;
    for (const [chunkIndex, text] of chunks.entries()) {
      await sql`insert into artifact_chunk ${sql({
        artifact_uid: uid,
        revision_id: revisionId,
        chunk_index: chunkIndex,
        chunk_id: chunked
          ? `${artifactId}::chunk::${String(chunkIndex).padStart(3, '0')}::${hex16(text).slice(0, 8)}`
          : artifactId,
        start_char: start,
        end_char: start + text.length,
        token_count: text.split(/\s+/).length,
        content_hash: hex16(text),
        text,
      })}`;
      start += text.length;
    }
  }
  return { uid, artifactId, revisionIds };
}

describe('lexicalSearch', () => {
  let db: TestDatabase;
  const a: Record<string, Inserted> = {};

  before(async () => {
    db = await createTestDatabase();
    const specs: ArtifactSpec[] = [
      {
        name: 'zebra',
        revisions: ['Zebra herds cross the river during the great migration every year.'],
        artifactType: 'note',
        sourceTs: new Date('2024-03-01T00:00:00Z'),
      },
      {
        name: 'river',
        revisions: ['The river was high this year and the migration of birds came early.'],
        artifactType: 'doc',
        sourceTs: new Date('2024-06-01T00:00:00Z'),
      },
      {
        name: 'budget',
        revisions: ['The budget review for the year is on Thursday; bring the river project numbers.'],
        artifactType: 'email',
        sourceSystem: 'gmail',
        sensitivity: 'sensitive',
        visibilityScope: 'team',
        sourceTs: new Date('2024-09-01T00:00:00Z'),
      },
      {
        name: 'revised',
        revisions: [
          'Draft: the quokka survey covers the island every spring.',
          'Final: the wallaby survey covers the island every spring.',
        ],
      },
      {
        name: 'chunked',
        revisions: [
          [
            'Chapter one is about gardening and tomatoes in a small greenhouse. ',
            'Chapter two is about the kakapo, a flightless parrot of New Zealand. ',
            'Chapter three returns to gardening and compost.',
          ],
        ],
      },
      { name: 'twin-1', revisions: ['Identical twin text about lighthouses.'] },
      { name: 'twin-2', revisions: ['Identical twin text about lighthouses.'] },
    ];
    for (const spec of specs) a[spec.name] = await insertArtifact(db.sql, spec);
  });
  after(() => db.drop());

  const search = (query: string, options: Parameters<typeof lexicalSearch>[2] = { limit: 10 }) =>
    lexicalSearch(db.sql, lexicalQuery(query), options);

  test('the chunk with the rare query term ranks first', async () => {
    const hits = await search('zebra river migration');
    assert.equal(hits[0]?.artifactUid, a.zebra?.uid);
    assert.ok(hits.some((h) => h.artifactUid === a.river?.uid));
    for (let i = 1; i < hits.length; i++) assert.ok((hits[i - 1]?.score ?? 0) >= (hits[i]?.score ?? 0));
  });

  test('returns the ids of the hit and respects the limit', async () => {
    const [hit] = await search('zebra');
    assert.deepEqual(hit && { ...hit, score: 0 }, {
      artifactUid: a.zebra?.uid,
      revisionId: a.zebra?.revisionIds[0],
      artifactId: a.zebra?.artifactId,
      chunkId: a.zebra?.artifactId,
      chunkIndex: 0,
      score: 0,
    });
    assert.equal((await search('river migration year', { limit: 1 })).length, 1);
    assert.deepEqual(await search('river', { limit: 0 }), []);
  });

  test('scores are Okapi BM25 with k1 1.2 and b 0.75 over latest chunks', async () => {
    const [stats] = await db.sql<{ n: number; avgdl: number }[]>`
      select count(*)::float8 as n, avg(c.text_length)::float8 as avgdl
      from artifact_chunk c join artifact_revision r using (artifact_uid, revision_id)
      where r.is_latest`;
    const [row] = await db.sql<{ dl: number }[]>`
      select text_length as dl from artifact_chunk where artifact_uid = ${a.zebra?.uid ?? ''}`;
    assert.ok(stats && row);
    // "zebra" occurs once, in one latest chunk.
    const idf = Math.log(1 + (stats.n - 1 + 0.5) / (1 + 0.5));
    const expected = (idf * (1 * 2.2)) / (1 + 1.2 * (1 - 0.75 + (0.75 * row.dl) / stats.avgdl));
    const [hit] = await search('zebra');
    assert.ok(Math.abs((hit?.score ?? 0) - expected) < 1e-9, `${hit?.score} = ${expected}`);
  });

  test('only latest revisions are searched', async () => {
    assert.deepEqual(await search('quokka'), []);
    const hits = await search('wallaby survey island');
    assert.equal(hits.length, 1);
    assert.equal(hits[0]?.revisionId, a.revised?.revisionIds[1]);
  });

  test('a chunked artifact answers with the matching chunk', async () => {
    const [hit, ...rest] = await search('flightless parrot kakapo');
    assert.equal(rest.length, 0);
    assert.equal(hit?.artifactUid, a.chunked?.uid);
    assert.equal(hit?.chunkIndex, 1);
    assert.match(hit?.chunkId ?? '', /^art_[0-9a-f]{16}::chunk::001::[0-9a-f]{8}$/);
    const gardening = await search('gardening');
    assert.deepEqual(gardening.map((h) => h.chunkIndex).sort(), [0, 2]);
  });

  test('filters restrict the hits', async () => {
    const uids = async (filters: Parameters<typeof lexicalSearch>[2]['filters']) =>
      (await search('river', { limit: 10, filters })).map((h) => h.artifactUid).sort();
    assert.deepEqual(await uids({}), [a.budget?.uid, a.river?.uid, a.zebra?.uid].sort());
    assert.deepEqual(await uids({ artifactType: 'note' }), [a.zebra?.uid]);
    assert.deepEqual(await uids({ sourceSystem: 'gmail' }), [a.budget?.uid]);
    assert.deepEqual(await uids({ sensitivity: 'sensitive' }), [a.budget?.uid]);
    assert.deepEqual(await uids({ visibilityScope: 'team' }), [a.budget?.uid]);
    assert.deepEqual(await uids({ visibilityScope: 'me', artifactType: 'doc' }), [a.river?.uid]);
    assert.deepEqual(
      await uids({ timeRangeStart: new Date('2024-05-01T00:00:00Z') }),
      [a.budget?.uid, a.river?.uid].sort(),
    );
    assert.deepEqual(
      await uids({
        timeRangeStart: new Date('2024-05-01T00:00:00Z'),
        timeRangeEnd: new Date('2024-07-01T00:00:00Z'),
      }),
      [a.river?.uid],
    );
    assert.deepEqual(await uids({ artifactType: 'chat' }), []);
  });

  test('filters do not change how rare a word is', async () => {
    const [unfiltered] = await search('zebra');
    const [filtered] = await search('zebra', { limit: 10, filters: { artifactType: 'note' } });
    assert.equal(filtered?.score, unfiltered?.score);
  });

  test('a query without lexemes returns nothing', async () => {
    for (const query of ['', '   ', 'the of and to', 'What is it?', '?!...', '"\'\\']) {
      assert.deepEqual(await search(query), [], JSON.stringify(query));
    }
  });

  test('quotes, backslashes and tsquery operators in the query are plain text', async () => {
    for (const query of [
      "zebra's river",
      'zebra & !river | (year',
      'zebra:* \\ river',
      "O'Neil's zebra",
      'zebra <-> river',
    ]) {
      const hits = await search(query);
      assert.ok(hits.length > 0, query);
    }
  });

  test('ties are broken by artifact uid, revision and chunk', async () => {
    const hits = await search('lighthouses');
    assert.equal(hits.length, 2);
    assert.equal(hits[0]?.score, hits[1]?.score);
    assert.deepEqual(
      hits.map((h) => h.artifactUid),
      [a['twin-1']?.uid, a['twin-2']?.uid].sort(),
    );
  });
});

describe('lexicalQuery', () => {
  test('keeps the text and picks the capitalised words after the first', () => {
    assert.deepEqual(lexicalQuery('When did Iain Norman Macleod die?'), {
      text: 'When did Iain Norman Macleod die?',
      emphasised: 'Iain Norman Macleod',
    });
    assert.deepEqual(lexicalQuery('what did we decide about "Pricing"'), {
      text: 'what did we decide about "Pricing"',
      emphasised: '"Pricing"',
    });
  });

  test('drops the adjective of a "how many / how tall" question', () => {
    assert.equal(lexicalQuery('How tall is the African elephant?').text, 'How is the African elephant?');
    assert.equal(lexicalQuery('how many people work at G4S').text, 'how people work at G4S');
    assert.equal(lexicalQuery('How did the tall ship sink?').text, 'How did the tall ship sink?');
  });
});

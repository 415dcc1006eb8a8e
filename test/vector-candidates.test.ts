/**
 * The vector index answers ids and distances only; search resolves every id in Postgres. Checked
 * with a real Chroma and Postgres: what a record resolves to, which records drop out (a replaced
 * revision's chunks, a deleted artifact), and that the text shown is always the stored text, even
 * where the index holds another copy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { artifactIdOfChunk } from '../src/domain/ids.js';
import { vectorCandidates } from '../src/domain/search/candidates.js';
import { toFilters } from '../src/domain/search/filters.js';
import { nearestArtifactRecords, OVERFETCH } from '../src/domain/search/nearest.js';
import type { Services } from '../src/domain/services.js';
import type { VectorIndex } from '../src/vectors/index.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/** About 3,000 tokens: several chunks at the default policy. */
function longText(topic: string): string {
  return Array.from(
    { length: 300 },
    (_, i) => `Line ${i} about ${topic}: the numbers for week ${i % 52} were as planned.`,
  ).join('\n');
}

describe('vector neighbours resolved in Postgres', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.stop();
  });

  async function ingest(sourceId: string, content: string) {
    const answer = await t.call('artifact_ingest', {
      source_system: 'notes',
      source_id: sourceId,
      artifact_type: 'doc',
      content,
    });
    assert.equal(answer.isError, false, JSON.stringify(answer.data));
    return answer.data as { artifact_id: string; revision_id: string; stored_ids: string[] };
  }

  test('a chunk record resolves to its place, an artifact record to its first piece', async () => {
    const small = await ingest('small', 'A short note on the release train.');
    const long = await ingest('long', longText('the storage budget'));
    const chunkIds = long.stored_ids.slice(1);
    assert.ok(chunkIds.length >= 3, 'the long text is chunked');
    assert.equal(artifactIdOfChunk(chunkIds[1]!), long.artifact_id);
    assert.equal(artifactIdOfChunk(small.artifact_id), small.artifact_id, 'an artifact id is its own');

    const found = await vectorCandidates(
      t.db.sql,
      [
        { id: long.artifact_id, distance: 0.1 },
        { id: small.artifact_id, distance: 0.2 },
      ],
      [{ id: chunkIds[1]!, distance: 0.3 }],
    );
    // The chunked artifact's record is shown by its chunk 0; the small one is its own passage.
    assert.equal(found.chunkedArtifacts.length, 1);
    const [chunked] = found.chunkedArtifacts;
    assert.equal(chunked?.match.chunk_id, chunkIds[0]);
    assert.equal(chunked?.match.chunk_index, 0);
    assert.equal(chunked?.match.start_char, 0);
    assert.ok(chunked!.match.end_char > 0);
    assert.equal(chunked?.revisionId, long.revision_id);
    assert.deepEqual(
      found.passages.map((c) => [c.match.chunk_id, c.artifactId, Number(c.score.toFixed(3))]),
      [
        [small.artifact_id, small.artifact_id, 0.8],
        [chunkIds[1], long.artifact_id, 0.7],
      ],
      'passages best first, scores 1 - distance',
    );
    const [row] = await t.db.sql<Array<{ start_char: number; end_char: number }>>`
      select start_char, end_char from artifact_chunk where chunk_id = ${chunkIds[1]!}`;
    assert.equal(found.passages[1]?.match.start_char, row?.start_char);
    assert.equal(found.passages[1]?.match.end_char, row?.end_char);
  });

  test('records of a replaced revision or a deleted artifact drop out', async () => {
    const first = await ingest('replaced', longText('the hiring plan'));
    const second = await ingest('replaced', longText('the revised hiring plan'));
    assert.notEqual(first.revision_id, second.revision_id);
    const gone = await ingest('gone', 'This note will be deleted.');
    const deleted = await t.call('artifact_delete', { artifact_id: gone.artifact_id });
    assert.equal(deleted.isError, false, JSON.stringify(deleted.data));

    const found = await vectorCandidates(
      t.db.sql,
      [{ id: gone.artifact_id, distance: 0.1 }],
      [...first.stored_ids.slice(1), ...second.stored_ids.slice(1)].map((id) => ({ id, distance: 0.2 })),
    );
    assert.equal(found.chunkedArtifacts.length, 0, 'the deleted artifact is not found');
    const kept = new Set(found.passages.map((c) => c.match.chunk_id));
    for (const id of second.stored_ids.slice(1)) assert.ok(kept.has(id), `current chunk ${id}`);
    for (const id of first.stored_ids.slice(1)) {
      if (!second.stored_ids.includes(id)) assert.ok(!kept.has(id), `replaced chunk ${id}`);
    }
    for (const c of found.passages) assert.equal(c.revisionId, second.revision_id);
  });

  test('the text shown is the stored text, whatever copy the index holds', async () => {
    const content = 'The quarterly offsite moves to Lisbon in October; the budget stays as approved.';
    const note = await ingest('offsite', content);
    // The index's copy of the text differs (as an index written by an older build might).
    const [record] = await t.server.services.vectors.get('artifacts', {
      ids: [note.artifact_id],
      includeEmbeddings: true,
    });
    assert.ok(record?.embedding);
    await t.server.services.vectors.upsert('artifacts', [
      {
        id: record.id,
        embedding: record.embedding,
        document: 'Not the stored text.',
        metadata: record.metadata,
      },
    ]);
    for (const tool of ['hybrid_search', 'artifact_search']) {
      const answer = await t.call(tool, { query: 'quarterly offsite Lisbon October', limit: 3 });
      assert.equal(answer.isError, false, JSON.stringify(answer.data));
      const results = answer.data.results as Array<{
        artifact_id: string;
        match: { text: string; start_char: number; end_char: number };
      }>;
      const hit = results.find((r) => r.artifact_id === note.artifact_id);
      assert.ok(hit, `${tool}: ${JSON.stringify(results)}`);
      assert.equal(hit.match.text, content, tool);
      assert.equal(content.slice(hit.match.start_char, hit.match.end_char), hit.match.text, tool);
    }
  });

  test('with filters: the nearest records that pass, the index filtering only when few pass', async () => {
    const topics = ['budget', 'hiring', 'storage', 'pricing', 'travel', 'security'];
    for (let i = 0; i < 60; i++) {
      const answer = await t.call('artifact_ingest', {
        source_system: 'mail',
        source_id: `filtered-${i}`,
        // One in five is an email: too few to come out of the unfiltered nearest.
        artifact_type: i % 5 === 0 ? 'email' : 'note',
        content: `Message ${i} on ${topics[i % topics.length]} and ${topics[(i * 7) % topics.length]}, week ${i}.`,
      });
      assert.equal(answer.isError, false, JSON.stringify(answer.data));
    }
    const real = t.server.services.vectors;
    const asked: Array<{ name: string; limit: number; filtered: boolean }> = [];
    // The real index, with each query it is asked noted.
    const counting: VectorIndex = {
      ...real,
      query: (name, embedding, options) => {
        asked.push({ name, limit: options.limit, filtered: options.filter !== undefined });
        return real.query(name, embedding, options);
      },
    };
    const services: Services = { ...t.server.services, vectors: counting };
    const [vector] = await services.embedder.embed(['hiring budget for the week'], 'query');
    const limits = { artifacts: 10, chunks: 20 };

    for (const [type, indexFilters] of [
      ['note', false],
      ['email', true],
    ] as const) {
      asked.length = 0;
      const filters = toFilters({ artifact_type: type });
      const found = await nearestArtifactRecords(services, vector!, filters, limits);
      const expected = await real.query('artifacts', vector!, {
        limit: limits.artifacts,
        filter: { artifact_type: type },
      });
      // The same distances (records at equal distance may come in either order), all passing.
      assert.deepEqual(
        found.artifactHits.map((hit) => hit.distance.toFixed(5)),
        expected.map((hit) => hit.distance.toFixed(5)),
        `${type}: the nearest artifacts that pass`,
      );
      const types = await t.db.sql<Array<{ artifact_type: string }>>`
        select artifact_type from artifact_revision
        where is_latest and artifact_id = any(${found.artifactHits.map((hit) => hit.id)})`;
      assert.deepEqual(new Set(types.map((row) => row.artifact_type)), new Set([type]));
      assert.ok(found.artifactHits.length > 0, type);
      const artifactQueries = asked.filter((a) => a.name === 'artifacts');
      assert.deepEqual(artifactQueries[0], {
        name: 'artifacts',
        limit: limits.artifacts * OVERFETCH,
        filtered: false,
      });
      assert.equal(
        artifactQueries.some((a) => a.filtered),
        indexFilters,
        `${type}: ${JSON.stringify(asked)}`,
      );
    }
    // No filter: one query per collection, as asked.
    asked.length = 0;
    await nearestArtifactRecords(services, vector!, undefined, limits);
    assert.deepEqual(asked.map((a) => [a.name, a.limit, a.filtered]).sort(), [
      ['artifact_chunks', 20, false],
      ['artifacts', 10, false],
    ]);
  });
});

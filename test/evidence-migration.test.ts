/**
 * Migration 005: evidence written with chunk-relative offsets (every version before it) becomes
 * evidence with offsets into the whole revision text. A database is migrated up to 004, written
 * the old way, then migrated to the end, and every row must slice exactly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AnchoredEvent } from '../src/domain/extraction/types.js';
import { artifactIdOf, artifactUidOf, chunkIdOf, revisionIdOf, sha256Hex } from '../src/domain/ids.js';
import { connect, type Sql } from '../src/store/connect.js';
import { replaceRevisionEvents } from '../src/store/events.js';
import { MigrationError, migrate, readMigrations } from '../src/store/migrate.js';
import { type NewRevision, writeRevision } from '../src/store/revisions.js';
import { chunkText } from '../src/text/chunking.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from './helpers/database.js';
import { eventually } from './helpers/worker.js';

const BEFORE_005 = readMigrations().filter((file) => file.name < '005');
const POLICY = { singlePieceMaxTokens: 1200, targetTokens: 900, overlapTokens: 100 };

interface Written {
  artifactUid: string;
  revisionId: string;
  content: string;
  /** Evidence rows as the old worker stored them, keyed by quote. */
  quotes: string[];
}

/**
 * Writes one revision, its text and chunks, one event and chunk-relative evidence for each quote,
 * exactly as ingest and the worker did before migration 005.
 */
async function writeOldWay(sql: Sql, sourceId: string, content: string, quotes: string[]): Promise<Written> {
  const artifactUid = artifactUidOf('test', sourceId);
  const contentHash = sha256Hex(content);
  const revisionId = revisionIdOf(contentHash);
  const artifactId = artifactIdOf('test', sourceId, contentHash);
  const { chunks, isChunked, tokenCount } = chunkText(content, POLICY);
  const rows = chunks.map((chunk) => ({
    artifact_uid: artifactUid,
    revision_id: revisionId,
    chunk_index: chunk.index,
    chunk_id: isChunked ? chunkIdOf(artifactId, chunk.index, sha256Hex(chunk.text)) : artifactId,
    start_char: chunk.startChar,
    end_char: chunk.endChar,
    token_count: chunk.tokenCount,
    content_hash: sha256Hex(chunk.text),
    text: chunk.text,
  }));
  await sql.begin(async (tx) => {
    await tx`update artifact_revision set is_latest = false where artifact_uid = ${artifactUid}`;
    await tx`insert into artifact_revision ${tx({
      artifact_uid: artifactUid,
      revision_id: revisionId,
      artifact_id: artifactId,
      artifact_type: 'doc',
      source_system: 'test',
      source_id: sourceId,
      content_hash: contentHash,
      token_count: tokenCount,
      is_chunked: isChunked,
      chunk_count: isChunked ? rows.length : 0,
    })}`;
    await tx`insert into artifact_content ${tx({ artifact_uid: artifactUid, revision_id: revisionId, content })}`;
    await tx`insert into artifact_chunk ${tx(rows)}`;
    const [event] = await tx<Array<{ event_id: string }>>`
      insert into semantic_event ${tx({
        artifact_uid: artifactUid,
        revision_id: revisionId,
        category: 'Decision',
        narrative: `Decisions of ${sourceId}.`,
        subject_json: tx.json({ type: 'project', ref: sourceId }),
        actors_json: tx.json([]),
        confidence: 0.9,
      })}
      returning event_id`;
    for (const quote of quotes) {
      // The old anchoring: the last chunk holding the quote (late chunks are what went wrong),
      // offsets relative to its text, chunk_id null when the revision is not chunked.
      const chunk = [...rows].reverse().find((row) => row.text.includes(quote));
      assert.ok(chunk !== undefined, `the test places ${JSON.stringify(quote)} in a chunk`);
      const start = chunk.text.indexOf(quote);
      await tx`insert into event_evidence ${tx({
        event_id: event!.event_id,
        artifact_uid: artifactUid,
        revision_id: revisionId,
        chunk_id: isChunked ? chunk.chunk_id : null,
        start_char: start,
        end_char: start + quote.length,
        quote,
      })}`;
    }
  });
  return { artifactUid, revisionId, content, quotes };
}

/** About 12,000 tokens; emoji on every line, so UTF-16 offsets differ from code point offsets. */
function longDocument(keys: Record<number, string>): string {
  const lines = Array.from(
    { length: 600 },
    (_, i) =>
      keys[i] ??
      `Line ${i} 🚀 of the status report: metrics, hiring and the offsite agenda, nothing decided.`,
  );
  return lines.join('\n');
}

interface StoredEvidence {
  artifact_uid: string;
  revision_id: string;
  chunk_id: string | null;
  start_char: number;
  end_char: number;
  quote: string;
  content: string;
  chunk_start: number | null;
  chunk_end: number | null;
}

async function storedEvidence(sql: Sql): Promise<StoredEvidence[]> {
  return sql<StoredEvidence[]>`
    select ev.artifact_uid, ev.revision_id, ev.chunk_id, ev.start_char, ev.end_char, ev.quote, t.content,
           c.start_char as chunk_start, c.end_char as chunk_end
    from event_evidence ev
    join artifact_content t using (artifact_uid, revision_id)
    left join artifact_chunk c using (artifact_uid, revision_id, chunk_id)
    order by ev.artifact_uid, ev.revision_id, ev.start_char`;
}

describe('migration 005: evidence offsets into the whole revision text', () => {
  let database: { url: string; drop(): Promise<void> };
  let sql: Sql;
  const written: Written[] = [];

  before(async () => {
    database = await createEmptyDatabase('memory_evidence_migration');
    sql = connect(database.url, { max: 2 });
    assert.deepEqual(
      await migrate(sql, BEFORE_005),
      BEFORE_005.map((file) => file.name),
    );
    // Revision 1 and 2 of one document (2 moves every offset by its new first line), a second
    // chunked document, and an unchunked note.
    const keysV1 = {
      3: 'Early on, Alice decided to freeze the API until the audit ends.',
      420: 'Bob decided to move the launch to the second week of June.',
      590: 'Near the end, Carol committed to send the migration guide by Friday.',
    };
    written.push(await writeOldWay(sql, 'doc-1', longDocument(keysV1), Object.values(keysV1)));
    const v2 = `Revision 2 adds this opening line 📝.\n${longDocument({ ...keysV1, 420: 'Bob decided to move the launch to July.' })}`;
    written.push(
      await writeOldWay(sql, 'doc-1', v2, [
        keysV1[3],
        'Bob decided to move the launch to July.',
        keysV1[590],
      ]),
    );
    const keys2 = {
      300: 'Dana flagged a risk in the billing migration.',
      599: 'Erin approved the new budget.',
    };
    written.push(await writeOldWay(sql, 'doc-2', longDocument(keys2), Object.values(keys2)));
    written.push(
      await writeOldWay(sql, 'note-1', 'Short note 🎉: we decided to keep the old logo.', [
        'we decided to keep the old logo',
      ]),
    );
  });
  after(async () => {
    await sql.end({ timeout: 1 });
    await database.drop();
  });

  test('the old way really was chunk-relative: late quotes did not match the document', async () => {
    const rows = await storedEvidence(sql);
    assert.equal(rows.length, 3 + 3 + 2 + 1);
    const wrong = rows.filter((row) => row.content.slice(row.start_char, row.end_char) !== row.quote);
    assert.ok(wrong.length >= 5, `${wrong.length} rows did not slice`);
    assert.ok(written.every((w) => w.quotes.length > 0));
  });

  test('after migrating, every row slices exactly and lies inside its chunk', async () => {
    const applied = await migrate(sql);
    assert.ok(applied.includes('005_evidence_offsets.sql'), applied.join(', '));
    const rows = await storedEvidence(sql);
    assert.equal(rows.length, 9);
    for (const row of rows) {
      assert.equal(
        row.content.slice(row.start_char, row.end_char),
        row.quote,
        `${row.revision_id} ${JSON.stringify(row.quote)} at [${row.start_char}, ${row.end_char})`,
      );
      if (row.chunk_id !== null) {
        assert.ok(row.chunk_start !== null && row.chunk_end !== null, 'the chunk exists');
        assert.ok(row.chunk_start <= row.start_char && row.end_char <= row.chunk_end);
      }
    }
    const chunkIndexes = await sql<Array<{ chunk_index: number }>>`
      select c.chunk_index from event_evidence ev join artifact_chunk c using (artifact_uid, revision_id, chunk_id)`;
    assert.ok(
      chunkIndexes.some((row) => row.chunk_index >= 10),
      'quotes from chunk 10 and later were moved',
    );
    assert.deepEqual(await migrate(sql), [], 'a second run changes nothing');
  });

  test('events of superseded revisions are flagged is_latest false by the migration', async () => {
    const rows = await sql<Array<{ revision_id: string; event_latest: boolean; revision_latest: boolean }>>`
      select e.revision_id, e.is_latest as event_latest, r.is_latest as revision_latest
      from semantic_event e join artifact_revision r using (artifact_uid, revision_id)`;
    assert.equal(rows.length, 4);
    for (const row of rows) assert.equal(row.event_latest, row.revision_latest, row.revision_id);
    assert.deepEqual(
      rows.filter((row) => !row.event_latest).map((row) => row.revision_id),
      [written[0]!.revisionId],
    );
  });

  test('afterwards, evidence outside the chunk it names (chunk-relative, as an old worker writes) is refused', async () => {
    const [late] = await sql<Array<Omit<StoredEvidence, 'content' | 'chunk_end'> & { event_id: string }>>`
      select ev.event_id, ev.artifact_uid, ev.revision_id, ev.chunk_id, ev.start_char, ev.end_char, ev.quote,
             c.start_char as chunk_start
      from event_evidence ev join artifact_chunk c using (artifact_uid, revision_id, chunk_id)
      where c.chunk_index >= 2 order by c.chunk_index desc limit 1`;
    assert.ok(late !== undefined && late.chunk_start !== null);
    const { chunk_start: chunkStart, ...stored } = late;
    const at = (start: number) => ({ ...stored, start_char: start, end_char: start + stored.quote.length });
    await assert.rejects(
      sql`insert into event_evidence ${sql(at(late.start_char - chunkStart))}`,
      (error: { code?: string; message?: string }) =>
        error.code === '23514' && /offsets into the whole revision text/.test(String(error.message)),
    );
    await sql`insert into event_evidence ${sql(at(late.start_char))}`;
    await assert.rejects(
      sql`update event_evidence set start_char = start_char - ${chunkStart}, end_char = end_char - ${chunkStart}
          where event_id = ${late.event_id} and chunk_id = ${late.chunk_id}`,
      (error: { code?: string }) => error.code === '23514',
    );
  });

  test('evidence that fits no chunk stops the migration, which changes nothing and says how to find it', async () => {
    const other = await createEmptyDatabase('memory_evidence_migration');
    const otherSql = connect(other.url, { max: 1 });
    try {
      await migrate(otherSql, BEFORE_005);
      const doc = longDocument({ 500: 'Frank decided to sunset the old dashboard.' });
      await writeOldWay(otherSql, 'doc-x', doc, ['Frank decided to sunset the old dashboard.']);
      await otherSql`update event_evidence set end_char = end_char + 100000`;
      const before = await otherSql`select start_char, end_char from event_evidence`;
      await assert.rejects(
        migrate(otherSql),
        (error: unknown) =>
          error instanceof MigrationError &&
          error.file === '005_evidence_offsets.sql' &&
          /1 event_evidence rows do not fit inside the chunk/.test(error.message) &&
          /List them with: select .*event_reextract/.test(error.message),
      );
      assert.deepEqual(await otherSql`select start_char, end_char from event_evidence`, before);
      const [recorded] =
        await otherSql`select count(*)::int as n from schema_migrations where name like '005%'`;
      assert.equal(recorded?.n, 0);
    } finally {
      await otherSql.end({ timeout: 1 });
      await other.drop();
    }
  });
});

describe('semantic_event.is_latest follows its revision (sql/005 triggers)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  const revision = (sourceId: string, content: string): { row: NewRevision; content: string } => {
    const contentHash = sha256Hex(content);
    return {
      content,
      row: {
        artifact_uid: artifactUidOf('test', sourceId),
        revision_id: revisionIdOf(contentHash),
        artifact_id: artifactIdOf('test', sourceId, contentHash),
        artifact_type: 'note',
        source_system: 'test',
        source_id: sourceId,
        source_url: null,
        source_ts: null,
        title: null,
        author: null,
        participants: [],
        content_hash: contentHash,
        token_count: 10,
        is_chunked: false,
        chunk_count: 0,
        sensitivity: 'normal',
        visibility_scope: 'me',
        retention_policy: 'forever',
      },
    };
  };
  const ingest = ({ row, content }: ReturnType<typeof revision>) =>
    writeRevision(
      db.sql,
      row,
      content,
      [
        {
          chunk_index: 0,
          chunk_id: row.artifact_id,
          start_char: 0,
          end_char: content.length,
          token_count: 10,
          content_hash: row.content_hash,
          text: content,
        },
      ],
      5,
    );
  const decision = (content: string, quote: string): AnchoredEvent => ({
    category: 'Decision',
    narrative: quote,
    event_time: null,
    subject: { type: 'other', ref: 'x' },
    actors: [],
    confidence: 0.9,
    evidence: [
      {
        chunkId: null,
        chunkIndex: 0,
        startChar: content.indexOf(quote),
        endChar: content.indexOf(quote) + quote.length,
        quote,
      },
    ],
  });
  const flags = async (artifactUid: string) =>
    Object.fromEntries(
      (
        await db.sql<Array<{ revision_id: string; is_latest: boolean }>>`
          select distinct revision_id, is_latest from semantic_event where artifact_uid = ${artifactUid}`
      ).map((row) => [row.revision_id, row.is_latest]),
    );

  test('a new revision flips the old events, a revert flips them back, and no writer can set the flag', async () => {
    const v1 = revision('flip', 'We decided to ship in March.');
    const v2 = revision('flip', 'We decided to ship in May.');
    const uid = v1.row.artifact_uid;
    const job1 = await ingest(v1);
    await db.sql.begin((tx) =>
      replaceRevisionEvents(tx, uid, v1.row.revision_id, job1.job_id, [
        decision(v1.content, 'ship in March'),
      ]),
    );
    const job2 = await ingest(v2);
    await db.sql.begin((tx) =>
      replaceRevisionEvents(tx, uid, v2.row.revision_id, job2.job_id, [decision(v2.content, 'ship in May')]),
    );
    assert.deepEqual(await flags(uid), { [v1.row.revision_id]: false, [v2.row.revision_id]: true });

    await ingest(v1); // the content reverted: revision 1 is the latest again
    assert.deepEqual(await flags(uid), { [v1.row.revision_id]: true, [v2.row.revision_id]: false });

    await db.sql`update semantic_event set is_latest = true where artifact_uid = ${uid}`;
    await db.sql`insert into semantic_event ${db.sql({
      artifact_uid: uid,
      revision_id: v2.row.revision_id,
      category: 'Change',
      narrative: 'A hand-written event.',
      subject_json: db.sql.json({ type: 'other', ref: 'x' }),
      actors_json: db.sql.json([]),
      confidence: 0.5,
      is_latest: true,
    })}`;
    assert.deepEqual(await flags(uid), { [v1.row.revision_id]: true, [v2.row.revision_id]: false });
  });

  test('an ingest racing a worker that is writing events waits for it, then flags those events superseded', async () => {
    const v1 = revision('race', 'We decided to hire two engineers.');
    const v2 = revision('race', 'We decided to hire three engineers.');
    const uid = v1.row.artifact_uid;
    const job1 = await ingest(v1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written!: () => void;
    const eventsWritten = new Promise<void>((resolve) => {
      written = resolve;
    });
    const worker = db.sql.begin(async (tx) => {
      await replaceRevisionEvents(tx, uid, v1.row.revision_id, job1.job_id, [
        decision(v1.content, 'hire two engineers'),
      ]);
      written();
      await gate; // the worker's transaction stays open, its events not yet committed
    });
    await eventsWritten;
    let ingested = false;
    const newRevision = ingest(v2).then(() => {
      ingested = true;
    });
    // The ingest waits for the revision row the worker holds.
    await eventually(
      async () => {
        const [row] = await db.sql`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query like '%artifact_revision%'`;
        return (row?.n as number) > 0 ? true : undefined;
      },
      20_000,
      'the ingest to wait for the lock',
    );
    assert.equal(ingested, false);
    release();
    await worker;
    await newRevision;
    assert.deepEqual(await flags(uid), { [v1.row.revision_id]: false });
  });
});

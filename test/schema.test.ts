import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Sql } from '../src/store/connect.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

const UID = 'uid_0123456789abcdef';
const REV = 'rev_0123456789abcdef';

async function insertRevision(sql: Sql, overrides: Record<string, unknown> = {}): Promise<void> {
  const row = {
    artifact_uid: UID,
    revision_id: REV,
    artifact_id: 'art_0123456789abcdef',
    artifact_type: 'note',
    source_system: 'test',
    content_hash: 'x',
    token_count: 3,
    is_chunked: false,
    chunk_count: 0,
    ...overrides,
  };
  await sql`insert into artifact_revision ${sql(row)}`;
}

async function insertEvent(sql: Sql, overrides: Record<string, unknown> = {}): Promise<string> {
  const [row] = await sql`
    insert into semantic_event ${sql({
      artifact_uid: UID,
      revision_id: REV,
      category: 'Decision',
      narrative: 'The team decided to adopt freemium pricing.',
      subject_json: sql.json({ type: 'project', ref: 'pricing' }),
      actors_json: sql.json([{ ref: 'Alice', role: 'owner' }]),
      confidence: 0.9,
      ...overrides,
    })}
    returning event_id`;
  return row?.event_id as string;
}

function rejectsWith(code: string) {
  return (error: unknown) => (error as { code?: string }).code === code;
}

describe('schema constraints', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await insertRevision(db.sql);
  });
  after(() => db.drop());

  test('a valid event and its evidence are accepted', async () => {
    const eventId = await insertEvent(db.sql);
    await db.sql`
      insert into event_evidence (event_id, artifact_uid, revision_id, start_char, end_char, quote)
      values (${eventId}, ${UID}, ${REV}, 0, 10, 'decided to')`;
  });

  test('an unknown category is rejected', async () => {
    await assert.rejects(insertEvent(db.sql, { category: 'Gossip' }), rejectsWith('23514'));
  });

  test('confidence outside 0..1 is rejected', async () => {
    await assert.rejects(insertEvent(db.sql, { confidence: 1.5 }), rejectsWith('23514'));
    await assert.rejects(insertEvent(db.sql, { confidence: -0.1 }), rejectsWith('23514'));
  });

  test('a subject with an unknown type is rejected', async () => {
    await assert.rejects(
      insertEvent(db.sql, { subject_json: db.sql.json({ type: 'planet', ref: 'x' }) }),
      rejectsWith('23514'),
    );
  });

  test('evidence with end_char <= start_char, or a quote over 25 words, is rejected', async () => {
    const eventId = await insertEvent(db.sql);
    for (const [start, end] of [
      [10, 10],
      [10, 5],
    ] as const) {
      await assert.rejects(
        db.sql`insert into event_evidence (event_id, artifact_uid, revision_id, start_char, end_char, quote)
               values (${eventId}, ${UID}, ${REV}, ${start}, ${end}, 'q')`,
        rejectsWith('23514'),
      );
    }
    const longQuote = Array.from({ length: 26 }, (_, i) => `w${i}`).join(' ');
    await assert.rejects(
      db.sql`insert into event_evidence (event_id, artifact_uid, revision_id, start_char, end_char, quote)
             values (${eventId}, ${UID}, ${REV}, 0, 100, ${longQuote})`,
      rejectsWith('23514'),
    );
  });

  test('deleting an event deletes its evidence', async () => {
    const eventId = await insertEvent(db.sql);
    await db.sql`insert into event_evidence (event_id, artifact_uid, revision_id, start_char, end_char, quote)
                 values (${eventId}, ${UID}, ${REV}, 0, 7, 'decided')`;
    await db.sql`delete from semantic_event where event_id = ${eventId}`;
    const [row] = await db.sql`select count(*)::int as n from event_evidence where event_id = ${eventId}`;
    assert.equal(row?.n, 0);
  });

  test('revision enums and one latest revision per artifact are enforced', async () => {
    await assert.rejects(
      insertRevision(db.sql, {
        revision_id: 'rev_1111111111111111',
        artifact_type: 'tweet',
        is_latest: false,
      }),
      rejectsWith('23514'),
    );
    await assert.rejects(
      insertRevision(db.sql, {
        revision_id: 'rev_1111111111111111',
        sensitivity: 'secret',
        is_latest: false,
      }),
      rejectsWith('23514'),
    );
    await assert.rejects(
      insertRevision(db.sql, { revision_id: 'rev_2222222222222222' }),
      rejectsWith('23505'),
    );
  });

  test('jobs: one per revision and type, statuses checked, updated_at kept current by the trigger', async () => {
    const [job] = await db.sql`
      insert into event_jobs (artifact_uid, revision_id) values (${UID}, ${REV}) returning job_id, updated_at`;
    await assert.rejects(
      db.sql`insert into event_jobs (artifact_uid, revision_id) values (${UID}, ${REV})`,
      rejectsWith('23505'),
    );
    await assert.rejects(
      db.sql`update event_jobs set status = 'LOST' where job_id = ${job?.job_id}`,
      rejectsWith('23514'),
    );
    // No sleep and no clock comparison between two statements: the update even tries to write an
    // old value, and the trigger must replace it with the updating transaction's now().
    const [updated] = await db.sql`
      update event_jobs set attempts = 1, updated_at = '2000-01-01T00:00:00Z'
      where job_id = ${job?.job_id} returning updated_at, now() as tx_now`;
    assert.ok(updated);
    assert.equal((updated.updated_at as Date).getTime(), (updated.tx_now as Date).getTime());
    assert.ok((updated.updated_at as Date) >= (job?.updated_at as Date));
    const [indexes] = await db.sql`
      select count(*)::int as n from pg_indexes
      where tablename = 'event_jobs' and indexdef like '%WHERE%status%'`;
    assert.ok((indexes?.n as number) >= 1, 'a partial index serves claiming');
  });

  test('deleting a revision cascades to its jobs, events and evidence', async () => {
    const uid = 'uid_fedcba9876543210';
    await insertRevision(db.sql, { artifact_uid: uid, artifact_id: 'art_fedcba9876543210' });
    const eventId = await insertEvent(db.sql, { artifact_uid: uid });
    await db.sql`insert into event_evidence (event_id, artifact_uid, revision_id, start_char, end_char, quote)
                 values (${eventId}, ${uid}, ${REV}, 0, 7, 'decided')`;
    await db.sql`insert into event_jobs (artifact_uid, revision_id) values (${uid}, ${REV})`;
    await db.sql`delete from artifact_revision where artifact_uid = ${uid}`;
    const [counts] = await db.sql`
      select (select count(*) from semantic_event where artifact_uid = ${uid})::int as events,
             (select count(*) from event_evidence where artifact_uid = ${uid})::int as evidence,
             (select count(*) from event_jobs where artifact_uid = ${uid})::int as jobs`;
    assert.deepEqual({ ...counts }, { events: 0, evidence: 0, jobs: 0 });
  });
});

/**
 * `memory export` and `memory import`: every table that holds what users stored, read in keyset
 * pages (memory stays flat however large the store) and written back one record per transaction,
 * keeping ids and timestamps so that an export of the imported store equals the original one.
 */
import type { Sql } from './connect.js';
import type { JobRow } from './jobs.js';
import type { MemoryRow } from './memories.js';
import type { RevisionRow } from './revisions.js';
import type { TurnRow } from './turns.js';

export interface ExportedChunk {
  chunk_index: number;
  chunk_id: string;
  start_char: number;
  end_char: number;
  token_count: number;
  content_hash: string;
}

export type ExportedRevision = RevisionRow & { content: string; chunks: ExportedChunk[] };

export interface ExportedEvidence {
  evidence_id: string;
  chunk_id: string | null;
  start_char: number;
  end_char: number;
  quote: string;
  created_at: Date;
}

export interface ExportedEvent {
  event_id: string;
  artifact_uid: string;
  revision_id: string;
  category: string;
  event_time: Date | null;
  narrative: string;
  subject: { type: string; ref: string };
  actors: Array<{ ref: string; role: string }>;
  confidence: number;
  extraction_run_id: string | null;
  created_at: Date;
  evidence: ExportedEvidence[];
}

/** Below every other uuid; uuids compare byte by byte, as their lowercase hex text does. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export async function memoriesPage(sql: Sql, after: string, limit: number): Promise<MemoryRow[]> {
  // memory primary key
  return sql<MemoryRow[]>`
    select memory_id, content, type, confidence, conversation_id, tags, metadata, ts
    from memory where memory_id > ${after} order by memory_id limit ${limit}`;
}

export async function turnsPage(
  sql: Sql,
  after: { conversation_id: string; turn_index: number } | undefined,
  limit: number,
): Promise<TurnRow[]> {
  // conversation_turn primary key (conversation_id, turn_index)
  return sql<TurnRow[]>`
    select turn_id, conversation_id, turn_index, role, speaker, content, ts from conversation_turn
    ${after === undefined ? sql`` : sql`where (conversation_id, turn_index) > (${after.conversation_id}, ${after.turn_index})`}
    order by conversation_id, turn_index limit ${limit}`;
}

/** Revisions with their text and chunk offsets (chunk text is a slice of the text). */
export async function revisionsPage(
  sql: Sql,
  after: { artifact_uid: string; revision_id: string } | undefined,
  limit: number,
): Promise<ExportedRevision[]> {
  // artifact_revision primary key (artifact_uid, revision_id); content and chunks by theirs.
  const rows = await sql<Array<RevisionRow & { content: string }>>`
    select r.*, c.content from artifact_revision r
    join artifact_content c using (artifact_uid, revision_id)
    ${after === undefined ? sql`` : sql`where (r.artifact_uid, r.revision_id) > (${after.artifact_uid}, ${after.revision_id})`}
    order by r.artifact_uid, r.revision_id limit ${limit}`;
  if (rows.length === 0) return [];
  const chunks = await sql<Array<ExportedChunk & { artifact_uid: string; revision_id: string }>>`
    select c.artifact_uid, c.revision_id, c.chunk_index, c.chunk_id, c.start_char, c.end_char, c.token_count, c.content_hash
    from artifact_chunk c
    join jsonb_to_recordset(${sql.json(rows.map((r) => ({ uid: r.artifact_uid, rev: r.revision_id })))}) as k(uid text, rev text)
      on c.artifact_uid = k.uid and c.revision_id = k.rev
    order by c.artifact_uid, c.revision_id, c.chunk_index`;
  const byRevision = new Map<string, ExportedChunk[]>();
  for (const { artifact_uid, revision_id, ...chunk } of chunks) {
    const key = `${artifact_uid}/${revision_id}`;
    const list = byRevision.get(key) ?? [];
    if (list.length === 0) byRevision.set(key, list);
    list.push(chunk);
  }
  return rows.map((row) => ({
    ...row,
    chunks: byRevision.get(`${row.artifact_uid}/${row.revision_id}`) ?? [],
  }));
}

export async function eventsPage(sql: Sql, after: string, limit: number): Promise<ExportedEvent[]> {
  // semantic_event primary key; evidence by event_evidence_event_idx
  const events = await sql<Array<Omit<ExportedEvent, 'evidence'>>>`
    select event_id::text, artifact_uid, revision_id, category, event_time, narrative,
           subject_json as subject, actors_json as actors, confidence, extraction_run_id::text, created_at
    from semantic_event where event_id > ${after || NIL_UUID}::uuid order by event_id limit ${limit}`;
  if (events.length === 0) return [];
  const evidence = await sql<Array<ExportedEvidence & { event_id: string }>>`
    select event_id::text, evidence_id::text, chunk_id, start_char, end_char, quote, created_at
    from event_evidence where event_id = any(${events.map((e) => e.event_id)}::uuid[])
    order by event_id, start_char, evidence_id`;
  const byEvent = new Map<string, ExportedEvidence[]>();
  for (const { event_id, ...piece } of evidence) {
    const list = byEvent.get(event_id) ?? [];
    if (list.length === 0) byEvent.set(event_id, list);
    list.push(piece);
  }
  return events.map((event) => ({ ...event, evidence: byEvent.get(event.event_id) ?? [] }));
}

export async function jobsPage(sql: Sql, after: string, limit: number): Promise<JobRow[]> {
  // event_jobs primary key
  return sql<JobRow[]>`
    select job_id::text, job_type, artifact_uid, revision_id, status, attempts, max_attempts, next_run_at,
           locked_at, locked_by, last_error_code, last_error_message, created_at, updated_at
    from event_jobs where job_id > ${after || NIL_UUID}::uuid order by job_id limit ${limit}`;
}

/** Memories not yet stored, in one statement; answers the ids it inserted. */
export async function importMemories(sql: Sql, rows: readonly MemoryRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await sql<Array<{ memory_id: string }>>`
    insert into memory (memory_id, content, type, confidence, conversation_id, tags, metadata, ts)
    select memory_id, content, type, confidence, conversation_id, tags, metadata, ts
    from jsonb_to_recordset(${sql.json(rows.map((row) => ({ ...row, ts: row.ts.toISOString() })) as never)})
      as r(memory_id text, content text, type text, confidence float8, conversation_id text,
           tags text[], metadata jsonb, ts timestamptz)
    on conflict (memory_id) do nothing
    returning memory_id`;
  return new Set(inserted.map((row) => row.memory_id));
}

/** Turns not yet stored (by conversation and index), in one statement; answers the ids inserted. */
export async function importTurns(sql: Sql, rows: readonly Omit<TurnRow, 'turn_id'>[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await sql<Array<{ turn_id: string }>>`
    insert into conversation_turn (conversation_id, turn_index, role, speaker, content, ts)
    select conversation_id, turn_index, role, speaker, content, ts
    from jsonb_to_recordset(${sql.json(rows.map((t) => ({ ...t, ts: t.ts.toISOString() })) as never)})
      as r(conversation_id text, turn_index int, role text, speaker text, content text, ts timestamptz)
    on conflict (conversation_id, turn_index) do nothing
    returning turn_id`;
  return new Set(inserted.map((row) => row.turn_id));
}

export async function deleteImportedMemories(sql: Sql, ids: readonly string[]): Promise<void> {
  await sql`delete from memory where memory_id = any(${ids as string[]}::text[])`;
}

export async function deleteImportedTurns(sql: Sql, ids: readonly string[]): Promise<void> {
  await sql`delete from conversation_turn where turn_id = any(${ids as string[]}::text[])`;
}

/**
 * One revision with its text and chunks, in one transaction; nothing when it is already stored.
 * A revision marked latest becomes the latest of its artifact. Answers whether it was inserted
 * and which revision was latest before (to put back if indexing it then fails).
 */
export async function importRevision(
  sql: Sql,
  revision: ExportedRevision,
  chunkText: (chunk: ExportedChunk) => string,
): Promise<{ inserted: boolean; previousLatest: string | undefined }> {
  return sql.begin(async (tx) => {
    const [exists] = await tx`
      select 1 from artifact_revision where artifact_uid = ${revision.artifact_uid} and revision_id = ${revision.revision_id}`;
    if (exists) return { inserted: false, previousLatest: undefined };
    let previousLatest: string | undefined;
    if (revision.is_latest) {
      const [previous] = await tx<Array<{ revision_id: string }>>`
        update artifact_revision set is_latest = false
        where artifact_uid = ${revision.artifact_uid} and is_latest
        returning revision_id`;
      previousLatest = previous?.revision_id;
    }
    const { content, chunks, ...row } = revision;
    await tx`insert into artifact_revision ${tx({ ...row, participants: tx.json(row.participants) })}`;
    await tx`insert into artifact_content ${tx({ artifact_uid: row.artifact_uid, revision_id: row.revision_id, content })}`;
    const rows = chunks.map((chunk) => ({
      artifact_uid: row.artifact_uid,
      revision_id: row.revision_id,
      ...chunk,
      text: chunkText(chunk),
    }));
    for (let start = 0; start < rows.length; start += 1000) {
      await tx`insert into artifact_chunk ${tx(rows.slice(start, start + 1000))}`;
    }
    return { inserted: true, previousLatest };
  });
}

/** The undo of `importRevision`: removes the revision and gives the latest flag back. */
export async function undoImportedRevision(
  sql: Sql,
  revision: { artifact_uid: string; revision_id: string },
  previousLatest: string | undefined,
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`delete from artifact_revision where artifact_uid = ${revision.artifact_uid} and revision_id = ${revision.revision_id}`;
    if (previousLatest !== undefined) {
      await tx`update artifact_revision set is_latest = true
               where artifact_uid = ${revision.artifact_uid} and revision_id = ${previousLatest}`;
    }
  });
}

/** One event with its evidence, in one transaction; nothing when its id is already stored. */
export async function importEvent(sql: Sql, event: ExportedEvent): Promise<boolean> {
  return sql.begin(async (tx) => {
    const { evidence, subject, actors, ...row } = event;
    const inserted = await tx`
      insert into semantic_event ${tx({ ...row, subject_json: tx.json(subject), actors_json: tx.json(actors) })}
      on conflict (event_id) do nothing`;
    if (inserted.count === 0) return false;
    if (evidence.length > 0) {
      await tx`insert into event_evidence ${tx(
        evidence.map((piece) => ({
          ...piece,
          event_id: row.event_id,
          artifact_uid: row.artifact_uid,
          revision_id: row.revision_id,
        })),
      )}`;
    }
    return true;
  });
}

/** A job's state; nothing when its id (or its revision's job of that type) is already stored. */
export async function importJob(sql: Sql, job: JobRow): Promise<boolean> {
  const inserted = await sql`insert into event_jobs ${sql({ ...job })} on conflict do nothing`;
  return inserted.count > 0;
}

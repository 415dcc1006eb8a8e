/**
 * What the vector index is rebuilt and checked from: latest revisions with their text and
 * chunks, memories and conversation turns, read in keyset batches so memory stays flat however
 * large the store.
 */
import type { ChunkRow } from './chunks.js';
import type { Sql } from './connect.js';
import type { MemoryRow } from './memories.js';
import type { RevisionRow } from './revisions.js';
import type { TurnRow } from './turns.js';

export interface IndexableRevision {
  revision: RevisionRow;
  content: string;
  chunks: ChunkRow[];
}

/** Up to `limit` latest revisions with artifact_uid > `after`, in artifact_uid order. */
export async function latestRevisionsAfter(
  sql: Sql,
  after: string,
  limit: number,
): Promise<IndexableRevision[]> {
  // artifact_revision_latest_idx (unique on artifact_uid where is_latest) serves order and bound.
  const revisions = await sql<RevisionRow[]>`
    select * from artifact_revision where is_latest and artifact_uid > ${after}
    order by artifact_uid limit ${limit}`;
  return withTextAndChunks(sql, revisions);
}

/** Latest revisions of these artifact ids (index ids of the `artifacts` collection). */
export async function latestRevisionsOf(
  sql: Sql,
  artifactIds: readonly string[],
): Promise<IndexableRevision[]> {
  if (artifactIds.length === 0) return [];
  const revisions = await sql<RevisionRow[]>`
    select * from artifact_revision where artifact_id = any(${artifactIds as string[]}) and is_latest
    order by artifact_uid`;
  return withTextAndChunks(sql, revisions);
}

async function withTextAndChunks(sql: Sql, revisions: RevisionRow[]): Promise<IndexableRevision[]> {
  if (revisions.length === 0) return [];
  const keys = sql.json(revisions.map((r) => ({ uid: r.artifact_uid, rev: r.revision_id })));
  const [contents, chunks] = await Promise.all([
    sql<Array<{ artifact_uid: string; content: string }>>`
      select c.artifact_uid, c.content from artifact_content c
      join jsonb_to_recordset(${keys}) as k(uid text, rev text) on c.artifact_uid = k.uid and c.revision_id = k.rev`,
    sql<Array<ChunkRow & { artifact_uid: string }>>`
      select c.artifact_uid, c.chunk_index, c.chunk_id, c.start_char, c.end_char, c.token_count, c.content_hash, c.text
      from artifact_chunk c
      join jsonb_to_recordset(${keys}) as k(uid text, rev text) on c.artifact_uid = k.uid and c.revision_id = k.rev
      order by c.artifact_uid, c.chunk_index`,
  ]);
  const text = new Map(contents.map((row) => [row.artifact_uid, row.content]));
  const pieces = new Map<string, ChunkRow[]>();
  for (const { artifact_uid, ...chunk } of chunks) {
    const list = pieces.get(artifact_uid) ?? [];
    if (list.length === 0) pieces.set(artifact_uid, list);
    list.push(chunk);
  }
  return revisions.map((revision) => ({
    revision,
    content: text.get(revision.artifact_uid) ?? '',
    chunks: pieces.get(revision.artifact_uid) ?? [],
  }));
}

/** Of these artifact ids, the latest revision id of each one Postgres knows. */
export async function latestRevisionIdsByArtifactId(
  sql: Sql,
  artifactIds: readonly string[],
): Promise<Map<string, string>> {
  if (artifactIds.length === 0) return new Map();
  // artifact_revision_artifact_id_idx
  const rows = await sql<Array<{ artifact_id: string; revision_id: string }>>`
    select artifact_id, revision_id from artifact_revision
    where artifact_id = any(${artifactIds as string[]}) and is_latest`;
  return new Map(rows.map((row) => [row.artifact_id, row.revision_id]));
}

/** Of these chunk ids, the latest revision id of each that belongs to a latest chunked revision. */
export async function latestRevisionIdsByChunkId(
  sql: Sql,
  chunkIds: readonly string[],
): Promise<Map<string, string>> {
  if (chunkIds.length === 0) return new Map();
  // artifact_chunk_chunk_id_idx
  const rows = await sql<Array<{ chunk_id: string; revision_id: string }>>`
    select c.chunk_id, c.revision_id from artifact_chunk c
    join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
    where c.chunk_id = any(${chunkIds as string[]}) and r.is_latest and r.is_chunked`;
  return new Map(rows.map((row) => [row.chunk_id, row.revision_id]));
}

/** Up to `limit` memories with memory_id > `after`, in memory_id order (primary key). */
export async function memoriesAfter(sql: Sql, after: string, limit: number): Promise<MemoryRow[]> {
  return sql<MemoryRow[]>`
    select memory_id, content, type, confidence, conversation_id, tags, metadata, ts
    from memory where memory_id > ${after} order by memory_id limit ${limit}`;
}

/** Up to `limit` turns with turn_id > `after`, in turn_id order (conversation_turn_id_idx). */
export async function turnsAfter(sql: Sql, after: string, limit: number): Promise<TurnRow[]> {
  return sql<TurnRow[]>`
    select turn_id, conversation_id, turn_index, role, speaker, content, ts
    from conversation_turn where turn_id > ${after} order by turn_id limit ${limit}`;
}

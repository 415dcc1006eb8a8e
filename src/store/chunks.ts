/** The chunks of revisions (`artifact_chunk`): each with its exact offsets into the revision text. */
import type { Sql } from './connect.js';

export interface ChunkRow {
  chunk_index: number;
  chunk_id: string;
  start_char: number;
  end_char: number;
  token_count: number;
  content_hash: string;
  text: string;
}

/** A chunk as search shows it. */
export interface ChunkPiece {
  chunk_id: string;
  chunk_index: number;
  start_char: number;
  end_char: number;
  text: string;
}

export async function revisionChunks(sql: Sql, artifactUid: string, revisionId: string): Promise<ChunkRow[]> {
  // artifact_chunk primary key (artifact_uid, revision_id, chunk_index)
  return sql<ChunkRow[]>`
    select chunk_index, chunk_id, start_char, end_char, token_count, content_hash, text
    from artifact_chunk
    where artifact_uid = ${artifactUid} and revision_id = ${revisionId}
    order by chunk_index`;
}

/** The index ids of a revision's chunks, in order. */
export async function chunkIdsOf(sql: Sql, artifactUid: string, revisionId: string): Promise<string[]> {
  const rows = await sql<Array<{ chunk_id: string }>>`
    select chunk_id from artifact_chunk
    where artifact_uid = ${artifactUid} and revision_id = ${revisionId}
    order by chunk_index`;
  return rows.map((row) => row.chunk_id);
}

/** The chunks just before and after each given chunk of a revision (index ± 1). */
export async function neighbourChunks(
  sql: Sql,
  around: ReadonlyArray<{ artifactUid: string; revisionId: string; chunkIndex: number }>,
): Promise<Array<ChunkPiece & { artifact_uid: string; revision_id: string }>> {
  if (around.length === 0) return [];
  return sql<Array<ChunkPiece & { artifact_uid: string; revision_id: string }>>`
    select c.artifact_uid, c.revision_id, c.chunk_id, c.chunk_index, c.start_char, c.end_char, c.text
    from artifact_chunk c
    join jsonb_to_recordset(${sql.json(
      around.map((hit) => ({ uid: hit.artifactUid, rev: hit.revisionId, idx: hit.chunkIndex })),
    )}) as want(uid text, rev text, idx int)
      on c.artifact_uid = want.uid and c.revision_id = want.rev and c.chunk_index in (want.idx - 1, want.idx + 1)
    order by c.chunk_index`;
}

/** Offsets and text of these chunks, where they belong to a latest revision, by chunk id. */
export async function latestChunksById(
  sql: Sql,
  chunkIds: readonly string[],
): Promise<Map<string, { start_char: number; end_char: number; text: string }>> {
  if (chunkIds.length === 0) return new Map();
  const rows = await sql<Array<{ chunk_id: string; start_char: number; end_char: number; text: string }>>`
    select c.chunk_id, c.start_char, c.end_char, c.text
    from artifact_chunk c join artifact_revision r using (artifact_uid, revision_id)
    where r.is_latest and c.chunk_id = any(${chunkIds as string[]})`;
  return new Map(rows.map(({ chunk_id, ...piece }) => [chunk_id, piece]));
}

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

/** Where a piece of a latest revision sits (its text is read only for the pieces shown). */
export interface PiecePlace {
  artifact_id: string;
  revision_id: string;
  chunk_id: string;
  chunk_index: number;
  start_char: number;
  end_char: number;
}

/**
 * The pieces of latest revisions that vector records name: by chunk id (a chunk record), and by
 * artifact id the first piece of each artifact (an artifact record: a small artifact's whole
 * text, chunk 0 of a chunked one). Records of replaced revisions or deleted artifacts find nothing.
 */
export async function latestPieces(
  sql: Sql,
  ids: { chunkIds: readonly string[]; artifactIds: readonly string[] },
): Promise<{ byChunkId: Map<string, PiecePlace>; firstByArtifactId: Map<string, PiecePlace> }> {
  const byChunkId = new Map<string, PiecePlace>();
  const firstByArtifactId = new Map<string, PiecePlace>();
  if (ids.chunkIds.length === 0 && ids.artifactIds.length === 0) return { byChunkId, firstByArtifactId };
  // artifact_chunk_chunk_id_idx, and artifact_revision_artifact_id_idx with the chunk primary key.
  const rows = await sql<Array<PiecePlace & { asked: 'chunk' | 'first' }>>`
    select 'chunk' as asked, r.artifact_id, c.revision_id, c.chunk_id, c.chunk_index, c.start_char, c.end_char
    from artifact_chunk c join artifact_revision r using (artifact_uid, revision_id)
    where r.is_latest and c.chunk_id = any(${ids.chunkIds as string[]})
    union all
    select 'first', r.artifact_id, c.revision_id, c.chunk_id, c.chunk_index, c.start_char, c.end_char
    from artifact_revision r
    join artifact_chunk c on c.artifact_uid = r.artifact_uid and c.revision_id = r.revision_id and c.chunk_index = 0
    where r.is_latest and r.artifact_id = any(${ids.artifactIds as string[]})`;
  for (const { asked, ...place } of rows) {
    if (asked === 'chunk') byChunkId.set(place.chunk_id, place);
    else firstByArtifactId.set(place.artifact_id, place);
  }
  return { byChunkId, firstByArtifactId };
}

/** Offsets and text of these pieces, each of the revision given, by chunk id. */
export async function pieceTexts(
  sql: Sql,
  pieces: ReadonlyArray<{ chunk_id: string; revision_id: string }>,
): Promise<Map<string, { start_char: number; end_char: number; text: string }>> {
  if (pieces.length === 0) return new Map();
  const rows = await sql<Array<{ chunk_id: string; start_char: number; end_char: number; text: string }>>`
    select c.chunk_id, c.start_char, c.end_char, c.text
    from artifact_chunk c
    join unnest(${pieces.map((p) => p.chunk_id)}::text[], ${pieces.map((p) => p.revision_id)}::text[])
      as want(chunk_id, revision_id)
      on c.chunk_id = want.chunk_id and c.revision_id = want.revision_id`;
  return new Map(rows.map(({ chunk_id, ...piece }) => [chunk_id, piece]));
}

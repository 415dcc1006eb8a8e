/** `artifact_get` and `artifact_delete`. */
import { NotFoundError } from '../errors.js';
import { type ChunkRow, revisionChunks } from '../store/chunks.js';
import {
  deleteArtifactRows,
  findLatestByArtifactId,
  listRevisions,
  type RevisionRow,
  revisionContent,
} from '../store/revisions.js';
import type { Services } from './services.js';

export function describeRevision(row: RevisionRow) {
  return {
    artifact_id: row.artifact_id,
    artifact_uid: row.artifact_uid,
    revision_id: row.revision_id,
    artifact_type: row.artifact_type,
    source_system: row.source_system,
    source_id: row.source_id,
    source_url: row.source_url,
    ts: row.source_ts?.toISOString() ?? null,
    title: row.title,
    author: row.author,
    participants: row.participants,
    content_hash: row.content_hash,
    token_count: row.token_count,
    is_chunked: row.is_chunked,
    num_chunks: row.chunk_count,
    sensitivity: row.sensitivity,
    visibility_scope: row.visibility_scope,
    retention_policy: row.retention_policy,
    ingested_at: row.ingested_at.toISOString(),
  };
}

/**
 * Rebuilds a revision's text from its chunks: each chunk contributes what lies past the end of
 * the previous one, so overlaps count once and the offsets are proven on every read.
 */
export function stitchChunks(chunks: readonly ChunkRow[]): string {
  let text = '';
  let end = 0;
  for (const chunk of chunks) {
    if (chunk.end_char <= end) continue;
    text += chunk.text.slice(Math.max(0, end - chunk.start_char));
    end = chunk.end_char;
  }
  return text;
}

export async function getArtifact(
  services: Services,
  input: { artifact_id: string; include_content: boolean; include_chunks: boolean },
) {
  const { sql } = services;
  const revision = await findLatestByArtifactId(sql, input.artifact_id);
  if (revision === undefined) throw new NotFoundError('artifact', input.artifact_id);
  const revisions = await listRevisions(sql, revision.artifact_uid);
  const chunks =
    input.include_content || input.include_chunks
      ? await revisionChunks(sql, revision.artifact_uid, revision.revision_id)
      : [];
  let content: string | undefined;
  if (input.include_content) {
    content = revision.is_chunked
      ? stitchChunks(chunks)
      : await revisionContent(sql, revision.artifact_uid, revision.revision_id);
  }
  return {
    ...describeRevision(revision),
    revisions: revisions.map((r) => ({
      revision_id: r.revision_id,
      is_latest: r.is_latest,
      ingested_at: r.ingested_at.toISOString(),
      job_status: r.job_status,
    })),
    ...(content !== undefined ? { content } : {}),
    ...(input.include_chunks && revision.is_chunked
      ? {
          chunks: chunks.map((chunk) => ({
            chunk_id: chunk.chunk_id,
            chunk_index: chunk.chunk_index,
            start_char: chunk.start_char,
            end_char: chunk.end_char,
            token_count: chunk.token_count,
            text: chunk.text,
          })),
        }
      : {}),
  };
}

/**
 * Removes the artifact from the vector index first, then every revision from Postgres (text,
 * chunks, jobs, events and evidence cascade). In this order a failure in between leaves the
 * artifact known to Postgres and the call can simply be repeated.
 */
export async function deleteArtifact(services: Services, artifactId: string) {
  const { sql, vectors } = services;
  const revision = await findLatestByArtifactId(sql, artifactId);
  if (revision === undefined) throw new NotFoundError('artifact', artifactId);
  const chunkIds = await vectors.listIds('artifact_chunks', { filter: { artifact_id: artifactId } });
  await vectors.delete('artifact_chunks', { ids: chunkIds });
  await vectors.delete('artifacts', { ids: [artifactId] });
  const removed = await deleteArtifactRows(sql, revision.artifact_uid);
  return {
    deleted: artifactId,
    artifact_uid: revision.artifact_uid,
    removed: {
      chroma_records: 1 + chunkIds.length,
      revisions: removed.revisions,
      jobs: removed.jobs,
      events: removed.events,
      evidence: removed.evidence,
    },
  };
}

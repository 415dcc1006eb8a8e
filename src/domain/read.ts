/** `artifact_get` and `artifact_delete`. */
import { NotFoundError } from '../errors.js';
import { revisionChunks } from '../store/chunks.js';
import {
  deleteArtifactRows,
  findLatestByArtifactId,
  findRevision,
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
 * `artifact_get`: one revision of an artifact (the latest unless `revision_id` names another),
 * the list of all its revisions, and on request that revision's exact text and its chunks, read
 * from Postgres, which keeps every revision. Evidence offsets index this text.
 */
export async function getArtifact(
  services: Services,
  input: {
    artifact_id: string;
    revision_id?: string | undefined;
    include_content: boolean;
    include_chunks: boolean;
  },
) {
  const { sql } = services;
  const latest = await findLatestByArtifactId(sql, input.artifact_id);
  if (latest === undefined) throw new NotFoundError('artifact', input.artifact_id);
  const revision =
    input.revision_id === undefined || input.revision_id === latest.revision_id
      ? latest
      : await findRevision(sql, latest.artifact_uid, input.revision_id);
  if (revision === undefined) {
    throw new NotFoundError('revision', input.revision_id!, {
      kind: 'artifact',
      id: input.artifact_id,
      hint: 'artifact_get without revision_id lists its revisions',
    });
  }
  const [revisions, content, chunks] = await Promise.all([
    listRevisions(sql, revision.artifact_uid),
    input.include_content ? revisionContent(sql, revision.artifact_uid, revision.revision_id) : undefined,
    input.include_chunks && revision.is_chunked
      ? revisionChunks(sql, revision.artifact_uid, revision.revision_id)
      : undefined,
  ]);
  return {
    ...describeRevision(revision),
    is_latest: revision.is_latest,
    revisions: revisions.map((r) => ({
      revision_id: r.revision_id,
      is_latest: r.is_latest,
      ingested_at: r.ingested_at.toISOString(),
      job_status: r.job_status,
    })),
    ...(content !== undefined ? { content } : {}),
    ...(chunks !== undefined
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

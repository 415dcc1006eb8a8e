/**
 * `artifact_ingest` (docs/architecture.md walks through it): hash, identify, chunk, embed, write
 * the vector index, then one Postgres transaction for the revision, its text and chunks, and its
 * extraction job.
 *
 * Ordering and failure: vectors are computed before anything is written, so an embedding failure
 * writes nothing. The index is written before Postgres; if the Postgres transaction fails, the
 * index write is undone (new records deleted, the previous artifact record restored). Should the
 * undo fail too, search still cannot show the orphan: every index hit is checked against the
 * latest revision in Postgres before it is returned.
 */

import { AppError, describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { type ChunkRow, chunkIdsOf } from '../store/chunks.js';
import { findJob, type JobRow } from '../store/jobs.js';
import {
  findIdlessDuplicate,
  findLatestRevision,
  type NewRevision,
  type RevisionRow,
  writeRevision,
} from '../store/revisions.js';
import { chunkText } from '../text/chunking.js';
import type { StoredVector, VectorRecord } from '../vectors/index.js';
import { artifactVectorRecords } from './artifact-records.js';
import { artifactIdOf, artifactUidOf, chunkIdOf, revisionIdOf, sha256Hex } from './ids.js';
import type { Services } from './services.js';

const logger = taggedLogger('ingest');

export interface IngestInput {
  artifact_type: string;
  source_system: string;
  content: string;
  source_id?: string | undefined;
  source_url?: string | undefined;
  title?: string | undefined;
  author?: string | undefined;
  participants?: string[] | undefined;
  ts?: string | undefined;
  sensitivity: string;
  visibility_scope: string;
  retention_policy: string;
}

export interface IngestResult {
  status: 'created' | 'new_revision' | 'unchanged';
  artifact_id: string;
  artifact_uid: string;
  revision_id: string;
  is_chunked: boolean;
  num_chunks: number;
  token_count: number;
  stored_ids: string[];
  job_id: string | null;
  job_status: JobRow['status'] | null;
}

function unchanged(revision: RevisionRow, job: JobRow | undefined, storedIds: string[]): IngestResult {
  return {
    status: 'unchanged',
    artifact_id: revision.artifact_id,
    artifact_uid: revision.artifact_uid,
    revision_id: revision.revision_id,
    is_chunked: revision.is_chunked,
    num_chunks: revision.chunk_count,
    token_count: revision.token_count,
    stored_ids: storedIds,
    job_id: job?.job_id ?? null,
    job_status: job?.status ?? null,
  };
}

export async function ingestArtifact(services: Services, input: IngestInput): Promise<IngestResult> {
  const { sql, vectors, embedder, config } = services;
  const contentHash = sha256Hex(input.content);
  const revisionId = revisionIdOf(contentHash);
  const sourceId = input.source_id;

  // 1. Identity; a known revision answers at once.
  let previous: RevisionRow | undefined;
  let artifactUid: string;
  if (sourceId !== undefined) {
    artifactUid = artifactUidOf(input.source_system, sourceId);
    previous = await findLatestRevision(sql, artifactUid);
    if (previous?.revision_id === revisionId) {
      return unchanged(
        previous,
        await findJob(sql, artifactUid, revisionId),
        await storedIds(services, previous),
      );
    }
  } else {
    const duplicate = await findIdlessDuplicate(sql, input.source_system, contentHash);
    if (duplicate !== undefined) {
      return unchanged(
        duplicate,
        await findJob(sql, duplicate.artifact_uid, revisionId),
        await storedIds(services, duplicate),
      );
    }
    artifactUid = artifactUidOf(input.source_system, undefined);
  }
  const artifactId = artifactIdOf(input.source_system, sourceId, contentHash);

  // 2. Chunk.
  const { tokenCount, chunks, isChunked } = chunkText(input.content, config.chunking);
  const chunkRows: ChunkRow[] = chunks.map((chunk) => {
    const hash = sha256Hex(chunk.text);
    return {
      chunk_index: chunk.index,
      chunk_id: isChunked ? chunkIdOf(artifactId, chunk.index, hash) : artifactId,
      start_char: chunk.startChar,
      end_char: chunk.endChar,
      token_count: chunk.tokenCount,
      content_hash: hash,
      text: chunk.text,
    };
  });

  const revision: NewRevision = {
    artifact_uid: artifactUid,
    revision_id: revisionId,
    artifact_id: artifactId,
    artifact_type: input.artifact_type,
    source_system: input.source_system,
    source_id: sourceId ?? null,
    source_url: input.source_url ?? null,
    source_ts: input.ts !== undefined ? new Date(input.ts) : null,
    title: input.title ?? null,
    author: input.author ?? null,
    participants: input.participants ?? [],
    content_hash: contentHash,
    token_count: tokenCount,
    is_chunked: isChunked,
    chunk_count: isChunked ? chunkRows.length : 0,
    sensitivity: input.sensitivity,
    visibility_scope: input.visibility_scope,
    retention_policy: input.retention_policy,
  };

  // 3. Embed everything first: a failure here writes nothing anywhere.
  const embeddings = await embedder.embed(
    chunkRows.map((chunk) => chunk.text),
    'document',
  );
  const { artifactRecord, chunkRecords } = artifactVectorRecords({
    revision,
    content: input.content,
    chunks: chunkRows,
    embeddings,
    space: embedder.space,
    ingestedAt: new Date(),
  });

  // 4. The index, remembering what to restore if Postgres then fails.
  let snapshot: StoredVector | undefined;
  if (previous !== undefined) {
    [snapshot] = await vectors.get('artifacts', { ids: [artifactId], includeEmbeddings: true });
  }
  await vectors.upsert('artifacts', [artifactRecord]);
  try {
    await vectors.upsert('artifact_chunks', chunkRecords);
  } catch (error) {
    await undoIndexWrite(services, artifactId, chunkRecords, snapshot);
    throw error;
  }

  // 5. Postgres, in one transaction.
  let job: JobRow;
  try {
    job = await writeRevision(sql, revision, input.content, chunkRows, config.worker.maxAttempts);
  } catch (error) {
    await undoIndexWrite(services, artifactId, chunkRecords, snapshot);
    const code = (error as { code?: string }).code;
    if (code === '23505') {
      throw new AppError('CONFLICT', 'another ingest of the same artifact committed first; retry the call', {
        cause: error,
        transient: true,
      });
    }
    throw new AppError('POSTGRES_ERROR', `could not store the revision: ${describeError(error)}`, {
      cause: error,
      transient: true,
    });
  }

  services.jobQueued?.();

  // 6. Chunks of the replaced revision leave the index (search ignores them meanwhile).
  if (previous !== undefined) {
    await vectors
      .delete('artifact_chunks', { filter: { artifact_id: artifactId, revision_id: { $ne: revisionId } } })
      .catch((error: unknown) =>
        logger.warn('Could not remove chunks of the replaced revision', {
          artifact_id: artifactId,
          error: describeError(error),
        }),
      );
  }

  return {
    status: previous === undefined ? 'created' : 'new_revision',
    artifact_id: artifactId,
    artifact_uid: artifactUid,
    revision_id: revisionId,
    is_chunked: isChunked,
    num_chunks: revision.chunk_count,
    token_count: tokenCount,
    stored_ids: isChunked ? [artifactId, ...chunkRecords.map((r) => r.id)] : [artifactId],
    job_id: job.job_id,
    job_status: job.status,
  };
}

async function storedIds(services: Services, revision: RevisionRow): Promise<string[]> {
  if (!revision.is_chunked) return [revision.artifact_id];
  return [
    revision.artifact_id,
    ...(await chunkIdsOf(services.sql, revision.artifact_uid, revision.revision_id)),
  ];
}

async function undoIndexWrite(
  services: Services,
  artifactId: string,
  chunkRecords: readonly VectorRecord[],
  snapshot: StoredVector | undefined,
): Promise<void> {
  try {
    await services.vectors.delete('artifact_chunks', { ids: chunkRecords.map((r) => r.id) });
    if (snapshot?.embedding !== undefined) {
      await services.vectors.upsert('artifacts', [
        {
          id: snapshot.id,
          embedding: snapshot.embedding,
          document: snapshot.document ?? '',
          metadata: snapshot.metadata,
        },
      ]);
    } else {
      await services.vectors.delete('artifacts', { ids: [artifactId] });
    }
  } catch (error) {
    logger.warn('Could not undo a vector index write after a failed ingest; search ignores the orphan', {
      artifact_id: artifactId,
      error: describeError(error),
    });
  }
}

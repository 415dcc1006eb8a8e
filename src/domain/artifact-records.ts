/**
 * The vector records of one artifact revision: the artifact record (the whole text, or for a
 * chunked revision the centroid of its pieces) and one record per chunk. Ingest, reindex, repair
 * and import all build them here, so a rebuilt index holds exactly what ingest would have written.
 */
import { type EmbeddingSpace, embeddingMetadata } from '../providers/embedder.js';
import type { ChunkRow } from '../store/chunks.js';
import type { NewRevision } from '../store/revisions.js';
import type { VectorMetadata, VectorRecord } from '../vectors/index.js';

/** Index metadata shared by the artifact record and its chunks (scalars only). */
function baseMetadata(revision: NewRevision, ingestedAt: Date): VectorMetadata {
  const metadata: VectorMetadata = {
    artifact_uid: revision.artifact_uid,
    revision_id: revision.revision_id,
    artifact_type: revision.artifact_type,
    source_system: revision.source_system,
    sensitivity: revision.sensitivity,
    visibility_scope: revision.visibility_scope,
    retention_policy: revision.retention_policy,
    content_hash: revision.content_hash,
    ingested_at: ingestedAt.toISOString(),
  };
  if (revision.source_id !== null) metadata.source_id = revision.source_id;
  if (revision.source_url !== null) metadata.source_url = revision.source_url;
  if (revision.title !== null) metadata.title = revision.title;
  if (revision.author !== null) metadata.author = revision.author;
  if (revision.participants.length > 0) metadata.participants = revision.participants.join(', ');
  if (revision.source_ts !== null) {
    metadata.ts = revision.source_ts.toISOString();
    // Ranges compare numbers only: the epoch seconds serve time-range filters.
    metadata.ts_epoch = Math.floor(revision.source_ts.getTime() / 1000);
  }
  return metadata;
}

/** Mean of unit vectors, normalised: the artifact-level vector of a chunked artifact. */
function centroid(vectors: readonly number[][]): number[] {
  const dims = vectors[0]?.length ?? 0;
  const sum: number[] = Array.from({ length: dims }, () => 0);
  for (const vector of vectors) for (let i = 0; i < dims; i++) sum[i] = (sum[i] ?? 0) + (vector[i] ?? 0);
  const norm = Math.hypot(...sum) || 1;
  return sum.map((x) => x / norm);
}

/** `embeddings[i]` is the vector of `chunks[i].text` (an unchunked revision has one chunk). */
export function artifactVectorRecords(input: {
  revision: NewRevision;
  content: string;
  chunks: readonly Pick<
    ChunkRow,
    'chunk_id' | 'chunk_index' | 'start_char' | 'end_char' | 'token_count' | 'content_hash' | 'text'
  >[];
  embeddings: readonly number[][];
  space: EmbeddingSpace;
  ingestedAt: Date;
}): { artifactRecord: VectorRecord; chunkRecords: VectorRecord[] } {
  const { revision, chunks, embeddings } = input;
  const isChunked = revision.is_chunked;
  const base = baseMetadata(revision, input.ingestedAt);
  const space = embeddingMetadata(input.space);
  const artifactRecord: VectorRecord = {
    id: revision.artifact_id,
    embedding: isChunked ? centroid(embeddings as number[][]) : embeddings[0]!,
    // A chunked artifact's record carries its title (or opening) and points at its chunks.
    document: isChunked ? (revision.title ?? input.content.slice(0, 500)) : input.content,
    metadata: {
      ...base,
      ...space,
      token_count: revision.token_count,
      is_chunked: isChunked,
      num_chunks: revision.chunk_count,
    },
  };
  const chunkRecords: VectorRecord[] = isChunked
    ? chunks.map((chunk, i) => ({
        id: chunk.chunk_id,
        embedding: embeddings[i]!,
        document: chunk.text,
        metadata: {
          ...base,
          ...space,
          artifact_id: revision.artifact_id,
          chunk_index: chunk.chunk_index,
          start_char: chunk.start_char,
          end_char: chunk.end_char,
          token_count: chunk.token_count,
          content_hash: chunk.content_hash,
        },
      }))
    : [];
  return { artifactRecord, chunkRecords };
}

/**
 * What the vector and lexical channels return, as candidates of one shape, and how a candidate
 * becomes an answer. Every candidate from the vector index is checked against Postgres: only
 * the latest revision of an artifact Postgres knows is returned. This is what makes an
 * interrupted ingest or delete invisible to search, whatever the index still holds.
 */
import { type ChunkPiece, neighbourChunks } from '../../store/chunks.js';
import type { RevisionRow } from '../../store/revisions.js';
import type { VectorHit } from '../../vectors/index.js';
import { round } from '../scores.js';
import type { Services } from '../services.js';

export type Channel = 'artifact_vectors' | 'chunk_vectors' | 'lexical' | 'memory' | 'history' | 'events';

export type ChunkRef = ChunkPiece;

export interface ArtifactHit {
  kind: 'artifact';
  artifact_id: string;
  artifact_uid: string;
  revision_id: string;
  artifact_type: string;
  source_system: string;
  source_id: string | null;
  title: string | null;
  ts: string | null;
  score: number;
  /** Which channels found it, and at which rank (1 = best). */
  channels: Partial<Record<Channel, number>>;
  /** The best matching piece: a chunk of a chunked artifact, or the whole text of a small one. */
  match: ChunkRef;
  neighbors?: ChunkRef[];
}

export interface Candidate {
  artifactId: string;
  revisionId: string;
  rank: number;
  score: number;
  match: ChunkRef;
}

/** Keeps the first (best) hit per artifact, ranks counted over distinct artifacts. */
function bestPerArtifact(hits: readonly Omit<Candidate, 'rank'>[]): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const hit of hits) {
    if (seen.has(hit.artifactId)) continue;
    seen.add(hit.artifactId);
    out.push({ ...hit, rank: out.length + 1 });
  }
  return out;
}

export function fromArtifactRecord(hit: VectorHit): Omit<Candidate, 'rank'> {
  const m = hit.metadata;
  return {
    artifactId: hit.id,
    revisionId: String(m.revision_id),
    score: 1 - hit.distance,
    match: {
      chunk_id: hit.id,
      chunk_index: 0,
      start_char: 0,
      end_char: m.is_chunked === true ? 0 : (hit.document?.length ?? 0),
      text: hit.document ?? '',
    },
  };
}

export function fromChunkRecord(hit: VectorHit): Omit<Candidate, 'rank'> {
  const m = hit.metadata;
  return {
    artifactId: String(m.artifact_id),
    revisionId: String(m.revision_id),
    score: 1 - hit.distance,
    match: {
      chunk_id: hit.id,
      chunk_index: Number(m.chunk_index),
      start_char: Number(m.start_char),
      end_char: Number(m.end_char),
      text: hit.document ?? '',
    },
  };
}

/**
 * A channel's list as ranked candidates: only those of an artifact's latest revision, the best
 * one per artifact, ranks counted over what is left.
 */
export function currentCandidates(
  list: ReadonlyArray<Omit<Candidate, 'rank'>>,
  latest: ReadonlyMap<string, RevisionRow>,
): Candidate[] {
  return bestPerArtifact(list.filter((c) => latest.get(c.artifactId)?.revision_id === c.revisionId));
}

export function toHit(
  revision: RevisionRow,
  score: number,
  channels: Partial<Record<Channel, number>>,
  match: ChunkRef,
): ArtifactHit {
  return {
    kind: 'artifact',
    artifact_id: revision.artifact_id,
    artifact_uid: revision.artifact_uid,
    revision_id: revision.revision_id,
    artifact_type: revision.artifact_type,
    source_system: revision.source_system,
    source_id: revision.source_id,
    title: revision.title,
    ts: revision.source_ts?.toISOString() ?? null,
    score: round(score),
    channels,
    match,
  };
}

/** The whole text of a small artifact is its one piece; fill it in for artifact-record matches. */
export function pieceFor(candidate: Candidate, revision: RevisionRow): ChunkRef {
  if (!revision.is_chunked) {
    return {
      ...candidate.match,
      chunk_id: revision.artifact_id,
      start_char: 0,
      end_char: candidate.match.text.length,
    };
  }
  return candidate.match;
}

/** Chunks index ± 1 around each chunked hit, from Postgres. */
export async function attachNeighbors(services: Services, hits: ArtifactHit[]): Promise<void> {
  const chunked = hits.filter((hit) => hit.match.chunk_id !== hit.artifact_id);
  const rows = await neighbourChunks(
    services.sql,
    chunked.map((hit) => ({
      artifactUid: hit.artifact_uid,
      revisionId: hit.revision_id,
      chunkIndex: hit.match.chunk_index,
    })),
  );
  for (const hit of chunked) {
    hit.neighbors = rows
      .filter((row) => row.artifact_uid === hit.artifact_uid && row.revision_id === hit.revision_id)
      .map(({ chunk_id, chunk_index, start_char, end_char, text }) => ({
        chunk_id,
        chunk_index,
        start_char,
        end_char,
        text,
      }));
  }
}

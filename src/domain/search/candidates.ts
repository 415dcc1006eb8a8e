/**
 * What the vector and lexical channels return, as candidates of one shape, and how a candidate
 * becomes an answer. Every candidate from the vector index is resolved in Postgres: only pieces
 * of the latest revision of an artifact Postgres knows are returned, with the text Postgres
 * holds. This is what makes a delete, or the chunks of a replaced revision, invisible to search
 * whatever the index still holds.
 */
import { type ChunkPiece, latestPieces, neighbourChunks, type PiecePlace } from '../../store/chunks.js';
import type { Sql } from '../../store/connect.js';
import type { RevisionRow } from '../../store/revisions.js';
import type { VectorNeighbour } from '../../vectors/index.js';
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

/** What the vector index found for artifacts, each record resolved to its piece in Postgres. */
export interface VectorCandidates {
  /** Chunked artifacts by their artifact record (the centroid of their chunks); shown by chunk 0. */
  chunkedArtifacts: Array<Omit<Candidate, 'rank'>>;
  /** Pieces: chunks of chunked artifacts and the whole text of small ones, best first. */
  passages: Array<Omit<Candidate, 'rank'>>;
}

function candidateOf(place: PiecePlace, distance: number): Omit<Candidate, 'rank'> {
  return {
    artifactId: place.artifact_id,
    revisionId: place.revision_id,
    score: 1 - distance,
    match: {
      chunk_id: place.chunk_id,
      chunk_index: place.chunk_index,
      start_char: place.start_char,
      end_char: place.end_char,
      text: '',
    },
  };
}

/**
 * The index's neighbours (ids and distances) as candidates, from what Postgres holds now: a
 * record whose artifact or chunk is not part of a latest revision (deleted, or its revision
 * replaced) drops out. The index cannot say which revision an artifact record was embedded from,
 * so while an ingest is between its index write and its commit (or an interrupted one awaits
 * `memory check`), the artifact is ranked by the new vector and shown with the stored text.
 */
export async function vectorCandidates(
  sql: Sql,
  artifactHits: readonly VectorNeighbour[],
  chunkHits: readonly VectorNeighbour[],
): Promise<VectorCandidates> {
  const { byChunkId, firstByArtifactId } = await latestPieces(sql, {
    chunkIds: chunkHits.map((hit) => hit.id),
    artifactIds: artifactHits.map((hit) => hit.id),
  });
  const chunkedArtifacts: Array<Omit<Candidate, 'rank'>> = [];
  const passages: Array<Omit<Candidate, 'rank'>> = [];
  for (const hit of chunkHits) {
    const place = byChunkId.get(hit.id);
    if (place !== undefined) passages.push(candidateOf(place, hit.distance));
  }
  for (const hit of artifactHits) {
    const place = firstByArtifactId.get(hit.id);
    if (place === undefined) continue;
    // A small artifact's one piece carries the artifact id as its chunk id.
    (place.chunk_id === place.artifact_id ? passages : chunkedArtifacts).push(
      candidateOf(place, hit.distance),
    );
  }
  passages.sort((a, b) => b.score - a.score);
  return { chunkedArtifacts, passages };
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

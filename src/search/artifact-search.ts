/**
 * `artifact_search` (vectors only) and `hybrid_search` (reciprocal-rank fusion of vectors, BM25
 * over chunk text, and optionally memories and events).
 *
 * Every artifact hit that comes from Chroma is checked against Postgres: only the latest revision
 * of an artifact Postgres knows is returned. This is what makes an interrupted ingest or delete
 * invisible to search, whatever Chroma still holds.
 */
import type { Where } from 'chromadb';
import { type QueryHit, whereAll } from '../chroma/store.js';
import { round } from '../memory/memories.js';
import type { Services } from '../services.js';
import { rankEventsForQuery } from '../store/events.js';
import { latestRevisionsByArtifactId, type RevisionRow } from '../store/revisions.js';
import { type ArtifactFilters, lexicalSearch } from './lexical.js';

export type Channel = 'artifact_vectors' | 'chunk_vectors' | 'lexical' | 'memory' | 'events';

export interface ChunkRef {
  chunk_id: string;
  chunk_index: number;
  start_char: number;
  end_char: number;
  text: string;
}

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

export function chromaWhere(filters: ArtifactFilters | undefined): Where | undefined {
  if (filters === undefined) return undefined;
  return whereAll([
    filters.artifactType !== undefined ? { artifact_type: filters.artifactType } : undefined,
    filters.sourceSystem !== undefined ? { source_system: filters.sourceSystem } : undefined,
    filters.sensitivity !== undefined ? { sensitivity: filters.sensitivity } : undefined,
    filters.visibilityScope !== undefined ? { visibility_scope: filters.visibilityScope } : undefined,
    filters.timeRangeStart !== undefined
      ? { ts_epoch: { $gte: Math.floor(filters.timeRangeStart.getTime() / 1000) } }
      : undefined,
    filters.timeRangeEnd !== undefined
      ? { ts_epoch: { $lte: Math.ceil(filters.timeRangeEnd.getTime() / 1000) } }
      : undefined,
  ]);
}

interface Candidate {
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

function fromArtifactRecord(hit: QueryHit): Omit<Candidate, 'rank'> {
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

function fromChunkRecord(hit: QueryHit): Omit<Candidate, 'rank'> {
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

/** Drops candidates whose revision is not the latest one Postgres knows. */
function current(candidates: Candidate[], latest: Map<string, RevisionRow>): Candidate[] {
  return bestPerArtifact(candidates.filter((c) => latest.get(c.artifactId)?.revision_id === c.revisionId));
}

function toHit(
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
async function attachNeighbors(services: Services, hits: ArtifactHit[]): Promise<void> {
  const chunked = hits.filter((hit) => hit.match.chunk_id !== hit.artifact_id);
  if (chunked.length === 0) return;
  const rows = await services.sql<Array<ChunkRef & { artifact_uid: string; revision_id: string }>>`
    select c.artifact_uid, c.revision_id, c.chunk_id, c.chunk_index, c.start_char, c.end_char, c.text
    from artifact_chunk c
    join jsonb_to_recordset(${services.sql.json(
      chunked.map((hit) => ({ uid: hit.artifact_uid, rev: hit.revision_id, idx: hit.match.chunk_index })),
    )}) as want(uid text, rev text, idx int)
      on c.artifact_uid = want.uid and c.revision_id = want.rev and c.chunk_index in (want.idx - 1, want.idx + 1)
    order by c.chunk_index`;
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

/** The whole text of a small artifact is its one piece; fill it in for artifact-record matches. */
function pieceFor(candidate: Candidate, revision: RevisionRow): ChunkRef {
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

export interface ArtifactSearchInput {
  query: string;
  limit: number;
  filters?: ArtifactFilters;
  expand_neighbors: boolean;
}

/** Vector search over artifacts and chunks, one best hit per artifact. */
export async function artifactSearch(services: Services, input: ArtifactSearchInput) {
  const [vector] = await services.embedder.embed([input.query], 'query');
  const where = chromaWhere(input.filters);
  const depth = Math.max(input.limit * 3, 20);
  const [artifactHits, chunkHits] = await Promise.all([
    services.chroma.query('artifacts', vector!, { limit: depth, ...(where ? { where } : {}) }),
    services.chroma.query('artifact_chunks', vector!, { limit: depth * 2, ...(where ? { where } : {}) }),
  ]);
  const candidates = [
    ...artifactHits.filter((hit) => !hit.metadata.is_chunked).map(fromArtifactRecord),
    ...chunkHits.map(fromChunkRecord),
  ].sort((a, b) => b.score - a.score);
  const latest = await latestRevisionsByArtifactId(services.sql, [
    ...new Set(candidates.map((c) => c.artifactId)),
  ]);
  const best = current(
    candidates.map((c, i) => ({ ...c, rank: i + 1 })),
    latest,
  ).slice(0, input.limit);
  const results = best.map((c) => {
    const revision = latest.get(c.artifactId)!;
    const channel: Channel = revision.is_chunked ? 'chunk_vectors' : 'artifact_vectors';
    return toHit(revision, c.score, { [channel]: c.rank }, pieceFor(c, revision));
  });
  if (input.expand_neighbors) await attachNeighbors(services, results);
  return { query: input.query, results, total: results.length };
}

export interface HybridSearchInput extends ArtifactSearchInput {
  include_memory: boolean;
  include_events: boolean;
}

interface FusedEntry {
  key: string;
  score: number;
  channels: Partial<Record<Channel, number>>;
}

/**
 * Reciprocal-rank fusion: score = sum over channels of 1 / (k + rank). Ranks, not scores, are
 * fused, so cosine similarities and BM25 scores need no calibration against each other.
 */
export async function hybridSearch(services: Services, input: HybridSearchInput) {
  const k = services.config.rrfConstant;
  const depth = Math.max(input.limit * 3, 30);
  const where = chromaWhere(input.filters);
  const [vector] = await services.embedder.embed([input.query], 'query');

  const [artifactHits, chunkHits, lexicalHits, memoryHits, eventHits] = await Promise.all([
    services.chroma.query('artifacts', vector!, { limit: depth, ...(where ? { where } : {}) }),
    services.chroma.query('artifact_chunks', vector!, { limit: depth * 2, ...(where ? { where } : {}) }),
    lexicalSearch(services.sql, input.query, {
      limit: depth * 2,
      ...(input.filters ? { filters: input.filters } : {}),
    }),
    input.include_memory ? services.chroma.query('memory', vector!, { limit: depth }) : Promise.resolve([]),
    input.include_events ? rankEventsForQuery(services.sql, input.query, depth) : Promise.resolve([]),
  ]);

  const lexicalCandidates: Array<Omit<Candidate, 'rank'>> = lexicalHits.map((hit) => ({
    artifactId: hit.artifactId,
    revisionId: hit.revisionId,
    score: hit.score,
    match: { chunk_id: hit.chunkId, chunk_index: hit.chunkIndex, start_char: 0, end_char: 0, text: '' },
  }));
  const ids = new Set([
    ...artifactHits.map((h) => h.id),
    ...chunkHits.map((h) => String(h.metadata.artifact_id)),
    ...lexicalCandidates.map((c) => c.artifactId),
  ]);
  const latest = await latestRevisionsByArtifactId(services.sql, [...ids]);
  const rank = (list: Array<Omit<Candidate, 'rank'>>) =>
    current(
      list.map((c, i) => ({ ...c, rank: i + 1 })),
      latest,
    );
  // The passage channel ranks the pieces a reader would quote: the chunks of chunked artifacts
  // and the whole text of small ones (a small artifact is its own single piece). Leaving small
  // artifacts out of it would make every small artifact one vector vote short against a chunked
  // one; with them, the MS MARCO sample's hybrid MRR@10 goes from 0.658 to 0.70 (docs/benchmarks.md).
  const passages = [
    ...chunkHits.map(fromChunkRecord),
    ...artifactHits.filter((hit) => hit.metadata.is_chunked !== true).map(fromArtifactRecord),
  ].sort((a, b) => b.score - a.score);
  const channelLists: Array<[Channel, Candidate[]]> = [
    ['artifact_vectors', rank(artifactHits.map(fromArtifactRecord))],
    ['chunk_vectors', rank(passages)],
    ['lexical', rank(lexicalCandidates)],
  ];

  const fused = new Map<
    string,
    FusedEntry & { best?: Candidate; bestRank: number; bestPreferable?: boolean }
  >();
  for (const [channel, list] of channelLists) {
    for (const candidate of list) {
      const key = `artifact:${candidate.artifactId}`;
      const entry = fused.get(key) ?? { key, score: 0, channels: {}, bestRank: Number.POSITIVE_INFINITY };
      entry.score += 1 / (k + candidate.rank);
      entry.channels[channel] = candidate.rank;
      // The piece shown is the one from the channel that ranked this artifact highest, preferring
      // a chunk over the artifact-level record of a chunked artifact.
      const preferable = channel !== 'artifact_vectors' || !latest.get(candidate.artifactId)?.is_chunked;
      if (
        entry.best === undefined ||
        (preferable && (!entry.bestPreferable || candidate.rank < entry.bestRank))
      ) {
        entry.best = candidate;
        entry.bestRank = candidate.rank;
        entry.bestPreferable = preferable;
      }
      fused.set(key, entry);
    }
  }
  // Memories and events are ranked by one channel each, artifacts by three. Counted once, the
  // best memory would score like an artifact that only one channel found and sink below every
  // artifact the channels agree on; so a single-channel kind's vote counts for all three.
  const weight = channelLists.length;
  memoryHits.forEach((hit, i) => {
    const r = i + 1;
    fused.set(`memory:${hit.id}`, {
      key: `memory:${hit.id}`,
      score: weight / (k + r),
      channels: { memory: r },
      bestRank: r,
    });
  });
  eventHits.forEach((event, i) => {
    const r = i + 1;
    fused.set(`event:${event.event_id}`, {
      key: `event:${event.event_id}`,
      score: weight / (k + r),
      channels: { events: r },
      bestRank: r,
    });
  });

  const top = [...fused.values()]
    .sort((a, b) => b.score - a.score || a.key.localeCompare(b.key))
    .slice(0, input.limit);

  // Lexical matches carry only the chunk id: fetch the text of the pieces shown.
  const needText = top
    .filter((e) => e.best !== undefined && e.best.match.text === '')
    .map((e) => e.best!.match.chunk_id);
  const texts = new Map<string, { start_char: number; end_char: number; text: string }>();
  if (needText.length > 0) {
    const rows = await services.sql<
      Array<{ chunk_id: string; start_char: number; end_char: number; text: string }>
    >`
      select c.chunk_id, c.start_char, c.end_char, c.text
      from artifact_chunk c join artifact_revision r using (artifact_uid, revision_id)
      where r.is_latest and c.chunk_id = any(${needText})`;
    for (const row of rows) texts.set(row.chunk_id, row);
  }
  const memoryById = new Map(memoryHits.map((hit) => [hit.id, hit]));
  const eventById = new Map(eventHits.map((event) => [event.event_id, event]));

  const results = top.map((entry) => {
    const [kind, id] = [
      entry.key.slice(0, entry.key.indexOf(':')),
      entry.key.slice(entry.key.indexOf(':') + 1),
    ];
    if (kind === 'memory') {
      const hit = memoryById.get(id)!;
      return {
        kind: 'memory' as const,
        memory_id: id,
        content: hit.document ?? '',
        type: String(hit.metadata.type),
        confidence: Number(hit.metadata.confidence),
        score: round(entry.score, 6),
        channels: entry.channels,
      };
    }
    if (kind === 'event') {
      return {
        kind: 'event' as const,
        ...eventById.get(id)!,
        score: round(entry.score, 6),
        channels: entry.channels,
      };
    }
    const revision = latest.get(id)!;
    const best = entry.best!;
    const stored = texts.get(best.match.chunk_id);
    const match = stored ? { ...best.match, ...stored } : pieceFor(best, revision);
    const hit = toHit(revision, entry.score, entry.channels, match);
    hit.score = round(entry.score, 6);
    return hit;
  });
  if (input.expand_neighbors) {
    await attachNeighbors(
      services,
      results.filter((r): r is ArtifactHit => r.kind === 'artifact'),
    );
  }
  return { query: input.query, rrf_k: k, results, total: results.length };
}

/**
 * `hybrid_search`: reciprocal-rank fusion (rrf.ts) of three channels over artifacts (artifact
 * vectors, passage vectors and BM25 over chunk text), and optionally memories and events.
 * docs/architecture.md walks through one call.
 */

import { pieceTexts } from '../../store/chunks.js';
import { type EventView, rankEventsForQuery } from '../../store/events.js';
import { lexicalSearch } from '../../store/lexical.js';
import { latestRevisionsByArtifactId, type RevisionRow } from '../../store/revisions.js';
import { searchHistory, type TurnHit } from '../history.js';
import { artifactIdOfChunk } from '../ids.js';
import { searchMemories } from '../memories.js';
import { round } from '../scores.js';
import type { Services } from '../services.js';
import type { ArtifactSearchInput } from './artifact-search.js';
import {
  type ArtifactHit,
  attachNeighbors,
  type Candidate,
  type Channel,
  currentCandidates,
  toHit,
  vectorCandidates,
} from './candidates.js';
import { type ArtifactFilters, filtersApplied, toFilters } from './filters.js';
import { lexicalQuery } from './lexical-query.js';
import { nearestArtifactRecords } from './nearest.js';
import { fuseRanks } from './rrf.js';

export interface HybridSearchInput extends ArtifactSearchInput {
  include_memory: boolean;
  include_events: boolean;
  include_history?: boolean;
}

type ArtifactChannel = 'artifact_vectors' | 'chunk_vectors' | 'lexical';

export interface HybridTuning {
  /**
   * Weight of one vote of the passage-vector channel (the others count 1). Each embedding now
   * votes once, so the weight says how far the vectors are trusted against BM25; the offline
   * embedder alone beats BM25 on the MS MARCO sample (MRR@10 0.719 vs 0.619), and at weight 1
   * fusion fell below vectors alone (0.686). Chosen cross-validated on halves of the sample's
   * queries (bench/serve.ts, docs/benchmarks.md).
   */
  readonly passageVectorWeight: number;
}

export const HYBRID_TUNING: HybridTuning = { passageVectorWeight: 2 };

/** What each channel found, before fusion. */
interface ChannelResults {
  artifacts: Array<[ArtifactChannel, Candidate[]]>;
  latest: Map<string, RevisionRow>;
  memories: Awaited<ReturnType<typeof searchMemories>>;
  turns: TurnHit[];
  events: EventView[];
}

async function runChannels(
  services: Services,
  input: HybridSearchInput,
  filters: ArtifactFilters | undefined,
): Promise<ChannelResults> {
  const depth = Math.max(input.limit * 3, 30);
  const [vector] = await services.embedder.embed([input.query], 'query');
  const [{ artifactHits, chunkHits }, lexicalHits, memories, turns, events] = await Promise.all([
    nearestArtifactRecords(services, vector!, filters, { artifacts: depth, chunks: depth * 2 }),
    lexicalSearch(services.sql, lexicalQuery(input.query), {
      limit: depth * 2,
      ...(filters ? { filters } : {}),
    }),
    // Memories and turns are ranked by their own hybrid search (BM25 and vectors, search/recall.ts).
    input.include_memory
      ? searchMemories(services, { query: input.query, limit: depth, min_confidence: 0 })
      : Promise.resolve([]),
    input.include_history
      ? searchHistory(services, { query: input.query, limit: Math.min(depth, 50) })
      : Promise.resolve([]),
    input.include_events ? rankEventsForQuery(services.sql, input.query, depth) : Promise.resolve([]),
  ]);

  const lexical: Array<Omit<Candidate, 'rank'>> = lexicalHits.map((hit) => ({
    artifactId: hit.artifactId,
    revisionId: hit.revisionId,
    score: hit.score,
    match: { chunk_id: hit.chunkId, chunk_index: hit.chunkIndex, start_char: 0, end_char: 0, text: '' },
  }));
  const [latest, vectors] = await Promise.all([
    latestRevisionsByArtifactId(services.sql, [
      ...new Set([
        ...artifactHits.map((h) => h.id),
        ...chunkHits.map((h) => artifactIdOfChunk(h.id)),
        ...lexical.map((c) => c.artifactId),
      ]),
    ]),
    vectorCandidates(services.sql, artifactHits, chunkHits),
  ]);
  // The passage channel ranks the pieces a reader would quote: the chunks of chunked artifacts
  // and the whole text of small ones (a small artifact is its own single piece). Leaving small
  // artifacts out of it would make every small artifact one vector vote short against a chunked
  // one; with them, the MS MARCO sample's hybrid MRR@10 goes from 0.658 to 0.70 (docs/benchmarks.md).
  // The artifact-level record of a small (unchunked) artifact is the same vector as its one
  // passage: listed in both vector channels, it would get two votes from one embedding and
  // outvote BM25's single one. The artifact channel therefore ranks chunked artifacts only (by
  // their centroid), and the passage channel ranks every piece.
  return {
    artifacts: [
      ['artifact_vectors', currentCandidates(vectors.chunkedArtifacts, latest)],
      ['chunk_vectors', currentCandidates(vectors.passages, latest)],
      ['lexical', currentCandidates(lexical, latest)],
    ],
    latest,
    memories,
    turns,
    events,
  };
}

/**
 * The piece shown for an artifact: the one from the channel that ranked it highest, preferring a
 * matched piece over the first chunk shown for a chunked artifact found by its centroid.
 */
function choosePiece(found: ReadonlyArray<[ArtifactChannel, Candidate]>): Candidate {
  let best: Candidate | undefined;
  let bestPreferable = false;
  for (const [channel, candidate] of found) {
    const preferable = channel !== 'artifact_vectors';
    if (best === undefined || (preferable && (!bestPreferable || candidate.rank < best.rank))) {
      best = candidate;
      bestPreferable = preferable;
    }
  }
  return best!;
}

export async function hybridSearch(
  services: Services,
  input: HybridSearchInput,
  tuning: HybridTuning = HYBRID_TUNING,
) {
  const k = services.config.rrfConstant;
  const filters = input.filters === undefined ? undefined : toFilters(input.filters);
  const found = await runChannels(services, input, filters);
  // Memories and events are ranked by one channel each, artifacts by three. Counted once, the
  // best memory would score like an artifact that only one channel found and sink below every
  // artifact the channels agree on; so a single-channel kind's vote counts for all three.
  const weight = found.artifacts.length;
  const top = fuseRanks(
    [
      ...found.artifacts.map(([name, list]) => ({
        name,
        keys: list.map((c) => `artifact:${c.artifactId}`),
        ...(name === 'chunk_vectors' ? { weight: tuning.passageVectorWeight } : {}),
      })),
      { name: 'memory', keys: found.memories.map((hit) => `memory:${hit.memory_id}`), weight },
      {
        name: 'history',
        keys: found.turns.map((turn) => `turn:${turn.conversation_id}_turn_${turn.turn_index}`),
        weight,
      },
      { name: 'events', keys: found.events.map((event) => `event:${event.event_id}`), weight },
    ],
    k,
  ).slice(0, input.limit);

  const byChannel = new Map(
    found.artifacts.map(([name, list]) => [name, new Map(list.map((c) => [c.artifactId, c]))] as const),
  );
  const pieces = new Map<string, Candidate>();
  for (const entry of top) {
    if (!entry.key.startsWith('artifact:')) continue;
    const artifactId = entry.key.slice('artifact:'.length);
    const candidates = found.artifacts.flatMap(([name]): Array<[ArtifactChannel, Candidate]> => {
      const candidate = byChannel.get(name)?.get(artifactId);
      return candidate === undefined ? [] : [[name, candidate]];
    });
    pieces.set(artifactId, choosePiece(candidates));
  }
  // Candidates carry where their piece sits: read the text of the pieces shown.
  const texts = await pieceTexts(
    services.sql,
    [...pieces.values()].map((c) => ({ chunk_id: c.match.chunk_id, revision_id: c.revisionId })),
  );
  const memoryById = new Map(found.memories.map((hit) => [hit.memory_id, hit]));
  const turnById = new Map(
    found.turns.map((turn) => [`${turn.conversation_id}_turn_${turn.turn_index}`, turn]),
  );
  const eventById = new Map(found.events.map((event) => [event.event_id, event]));

  const answers = top.map((entry) => {
    const separator = entry.key.indexOf(':');
    const [kind, id] = [entry.key.slice(0, separator), entry.key.slice(separator + 1)];
    const channels = entry.ranks as Partial<Record<Channel, number>>;
    const score = round(entry.score, 6);
    if (kind === 'memory') {
      const hit = memoryById.get(id)!;
      return {
        kind: 'memory' as const,
        memory_id: id,
        content: hit.content,
        type: hit.type,
        confidence: hit.confidence,
        score,
        channels,
      };
    }
    if (kind === 'turn') {
      const { score: _, channels: __, ...turn } = turnById.get(id)!;
      return { kind: 'turn' as const, ...turn, score, channels };
    }
    if (kind === 'event') return { kind: 'event' as const, ...eventById.get(id)!, score, channels };
    const best = pieces.get(id)!;
    const stored = texts.get(best.match.chunk_id);
    // Deleted since it was ranked: no quote to show.
    if (stored === undefined) return undefined;
    const hit = toHit(found.latest.get(id)!, entry.score, channels, { ...best.match, ...stored });
    hit.score = score;
    return hit;
  });
  const results = answers.filter((answer) => answer !== undefined);
  if (input.expand_neighbors) {
    await attachNeighbors(
      services,
      results.filter((r): r is ArtifactHit => r.kind === 'artifact'),
    );
  }
  return {
    query: input.query,
    rrf_k: k,
    results,
    total: results.length,
    filters_applied: filtersApplied(filters),
  };
}

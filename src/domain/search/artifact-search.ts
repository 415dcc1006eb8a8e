/** `artifact_search`: vector search over artifacts and chunks, one best hit per artifact. */

import { latestRevisionsByArtifactId } from '../../store/revisions.js';
import type { Services } from '../services.js';
import {
  attachNeighbors,
  type Channel,
  currentCandidates,
  fromArtifactRecord,
  fromChunkRecord,
  pieceFor,
  toHit,
} from './candidates.js';

import { type ArtifactFilterInput, filtersApplied, toFilters, vectorFilter } from './filters.js';

export interface ArtifactSearchInput {
  query: string;
  limit: number;
  /** As the tools take them; absent fields do not filter. */
  filters?: ArtifactFilterInput | undefined;
  expand_neighbors: boolean;
}

export async function artifactSearch(services: Services, input: ArtifactSearchInput) {
  const [vector] = await services.embedder.embed([input.query], 'query');
  const filters = input.filters === undefined ? undefined : toFilters(input.filters);
  const filter = vectorFilter(filters);
  const depth = Math.max(input.limit * 3, 20);
  const [artifactHits, chunkHits] = await Promise.all([
    services.vectors.query('artifacts', vector!, { limit: depth, ...(filter ? { filter } : {}) }),
    services.vectors.query('artifact_chunks', vector!, { limit: depth * 2, ...(filter ? { filter } : {}) }),
  ]);
  // Small artifacts are their own piece in `artifacts`; chunked ones are found by their chunks.
  const candidates = [
    ...artifactHits.filter((hit) => !hit.metadata.is_chunked).map(fromArtifactRecord),
    ...chunkHits.map(fromChunkRecord),
  ].sort((a, b) => b.score - a.score);
  const latest = await latestRevisionsByArtifactId(services.sql, [
    ...new Set(candidates.map((c) => c.artifactId)),
  ]);
  const best = currentCandidates(candidates, latest).slice(0, input.limit);
  const results = best.map((c) => {
    const revision = latest.get(c.artifactId)!;
    const channel: Channel = revision.is_chunked ? 'chunk_vectors' : 'artifact_vectors';
    return toHit(revision, c.score, { [channel]: c.rank }, pieceFor(c, revision));
  });
  if (input.expand_neighbors) await attachNeighbors(services, results);
  return { query: input.query, results, total: results.length, filters_applied: filtersApplied(filters) };
}

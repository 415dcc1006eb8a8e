/** `artifact_search`: vector search over artifacts and chunks, one best hit per artifact. */

import { pieceTexts } from '../../store/chunks.js';
import { latestRevisionsByArtifactId } from '../../store/revisions.js';
import { artifactIdOfChunk } from '../ids.js';
import type { Services } from '../services.js';
import { attachNeighbors, type Channel, currentCandidates, toHit, vectorCandidates } from './candidates.js';

import { type ArtifactFilterInput, filtersApplied, toFilters } from './filters.js';
import { nearestArtifactRecords } from './nearest.js';

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
  const depth = Math.max(input.limit * 3, 20);
  const { artifactHits, chunkHits } = await nearestArtifactRecords(services, vector!, filters, {
    artifacts: depth,
    chunks: depth * 2,
  });
  // Small artifacts are their own piece in `artifacts`; chunked ones are found by their chunks.
  const [latest, { passages }] = await Promise.all([
    latestRevisionsByArtifactId(services.sql, [
      ...new Set([...artifactHits.map((h) => h.id), ...chunkHits.map((h) => artifactIdOfChunk(h.id))]),
    ]),
    vectorCandidates(services.sql, artifactHits, chunkHits),
  ]);
  const best = currentCandidates(passages, latest).slice(0, input.limit);
  const texts = await pieceTexts(
    services.sql,
    best.map((c) => ({ chunk_id: c.match.chunk_id, revision_id: c.revisionId })),
  );
  const results = best.flatMap((c) => {
    const revision = latest.get(c.artifactId)!;
    const stored = texts.get(c.match.chunk_id);
    // Deleted since it was ranked: no quote to show.
    if (stored === undefined) return [];
    const channel: Channel = revision.is_chunked ? 'chunk_vectors' : 'artifact_vectors';
    return [toHit(revision, c.score, { [channel]: c.rank }, { ...c.match, ...stored })];
  });
  if (input.expand_neighbors) await attachNeighbors(services, results);
  return { query: input.query, results, total: results.length, filters_applied: filtersApplied(filters) };
}

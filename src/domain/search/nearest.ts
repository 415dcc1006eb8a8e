/**
 * The nearest artifact records and chunk records to a query vector, with the artifact filters.
 *
 * Chroma filters by reading every record's metadata that passes the filter before it searches,
 * so a filter that keeps most of a large collection is slow: `artifact_type: doc` (two thirds of
 * 100,000 artifacts) made hybrid_search take 675 ms at p95 where the same search unfiltered
 * took 73 (docs/benchmarks.md). So with filters the index is first asked, without them, for
 * OVERFETCH times as many records, and Postgres keeps those whose artifact's latest revision
 * passes (the same conditions as BM25's). When at least the number asked for pass, they are
 * exactly the nearest that pass the filters (any closer one would be among the nearest read);
 * when fewer pass (a narrow filter), the index is asked again, with the filter.
 */
import { revisionFilter } from '../../store/lexical.js';
import { artifactIdsWhere } from '../../store/revisions.js';
import type { CollectionName, VectorNeighbour } from '../../vectors/index.js';
import { artifactIdOfChunk } from '../ids.js';
import type { Services } from '../services.js';
import { type ArtifactFilters, vectorFilter } from './filters.js';

/** How many times the records asked for are read unfiltered before the filter applies. */
export const OVERFETCH = 4;

export async function nearestArtifactRecords(
  services: Services,
  vector: number[],
  filters: ArtifactFilters | undefined,
  limits: { artifacts: number; chunks: number },
): Promise<{ artifactHits: VectorNeighbour[]; chunkHits: VectorNeighbour[] }> {
  const condition = revisionFilter(services.sql, filters);
  const nearest = async (name: CollectionName, limit: number): Promise<VectorNeighbour[]> => {
    if (condition === undefined) return services.vectors.query(name, vector, { limit });
    const wide = await services.vectors.query(name, vector, { limit: limit * OVERFETCH });
    const artifactOf = name === 'artifact_chunks' ? artifactIdOfChunk : (id: string) => id;
    const passing = await artifactIdsWhere(
      services.sql,
      [...new Set(wide.map((hit) => artifactOf(hit.id)))],
      condition,
    );
    const kept = wide.filter((hit) => passing.has(artifactOf(hit.id)));
    // Enough passed, or the index holds fewer records than were read (every one was seen): these
    // are the answer. Otherwise the filter keeps few, and the index applies it itself.
    if (kept.length >= limit || wide.length < limit * OVERFETCH) return kept.slice(0, limit);
    return services.vectors.query(name, vector, { limit, filter: vectorFilter(filters)! });
  };
  const [artifactHits, chunkHits] = await Promise.all([
    nearest('artifacts', limits.artifacts),
    nearest('artifact_chunks', limits.chunks),
  ]);
  return { artifactHits, chunkHits };
}

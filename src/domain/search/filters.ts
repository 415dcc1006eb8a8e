/** Artifact filters: from tool input, to the lexical channel's SQL and to the vector index. */
import type { ArtifactFilters } from '../../store/lexical.js';
import type { VectorFilter } from '../../vectors/index.js';

export type { ArtifactFilters } from '../../store/lexical.js';

/** The artifact filters as the tools take them (ISO 8601 times). */
export interface ArtifactFilterInput {
  artifact_type?: string | undefined;
  source_system?: string | undefined;
  sensitivity?: string | undefined;
  visibility_scope?: string | undefined;
  time_range_start?: string | undefined;
  time_range_end?: string | undefined;
}

export function toFilters(input: ArtifactFilterInput): ArtifactFilters | undefined {
  const filters: ArtifactFilters = {
    ...(input.artifact_type !== undefined ? { artifactType: input.artifact_type } : {}),
    ...(input.source_system !== undefined ? { sourceSystem: input.source_system } : {}),
    ...(input.sensitivity !== undefined ? { sensitivity: input.sensitivity } : {}),
    ...(input.visibility_scope !== undefined ? { visibilityScope: input.visibility_scope } : {}),
    ...(input.time_range_start !== undefined ? { timeRangeStart: new Date(input.time_range_start) } : {}),
    ...(input.time_range_end !== undefined ? { timeRangeEnd: new Date(input.time_range_end) } : {}),
  };
  return Object.keys(filters).length > 0 ? filters : undefined;
}

/** The filters an answer says it applied, as strings. */
export function filtersApplied(filters: ArtifactFilters | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(filters ?? {}).map(([key, value]) => [
      key,
      value instanceof Date ? value.toISOString() : String(value),
    ]),
  );
}

/** The artifact filters as a vector-index filter (time as epoch seconds, see ingest). */
export function vectorFilter(filters: ArtifactFilters | undefined): VectorFilter | undefined {
  if (filters === undefined) return undefined;
  const start = filters.timeRangeStart;
  const end = filters.timeRangeEnd;
  return {
    artifact_type: filters.artifactType,
    source_system: filters.sourceSystem,
    sensitivity: filters.sensitivity,
    visibility_scope: filters.visibilityScope,
    ts_epoch:
      start === undefined && end === undefined
        ? undefined
        : {
            ...(start !== undefined ? { $gte: Math.floor(start.getTime() / 1000) } : {}),
            ...(end !== undefined ? { $lte: Math.ceil(end.getTime() / 1000) } : {}),
          },
  };
}

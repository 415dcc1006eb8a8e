import * as v from 'valibot';
import { measureEmbedding } from '../../domain/embedding-probe.js';
import { artifactSearch } from '../../domain/search/artifact-search.js';
import { hybridSearch } from '../../domain/search/hybrid.js';
import { ARTIFACT_TYPES, SENSITIVITIES, VISIBILITY_SCOPES } from '../../domain/vocabulary.js';
import { defineTool } from './registry.js';
import { flag, integer, isoDate, nonBlank, oneOf, text } from './schemas.js';

const filterFields = {
  artifact_type: v.optional(oneOf(ARTIFACT_TYPES, 'Only artifacts of this type.')),
  source_system: v.optional(text(1, 100, 'Only artifacts from this source system.')),
  sensitivity: v.optional(oneOf(SENSITIVITIES, 'Only artifacts of this sensitivity.')),
  visibility_scope: v.optional(oneOf(VISIBILITY_SCOPES, 'Only artifacts of this visibility scope.')),
  time_range_start: v.optional(isoDate('Only artifacts whose ts is at or after this time (ISO 8601).')),
  time_range_end: v.optional(isoDate('Only artifacts whose ts is at or before this time (ISO 8601).')),
};

type TimeRange = { time_range_start?: string | undefined; time_range_end?: string | undefined };

/** time_range_end must not be before time_range_start (checked where both fields sit). */
function timeRangeOrdered<T extends TimeRange>() {
  return v.forward<T, v.CheckIssue<T>, ['time_range_end']>(
    v.check(
      (input) =>
        input.time_range_start === undefined ||
        input.time_range_end === undefined ||
        Date.parse(input.time_range_start) <= Date.parse(input.time_range_end),
      'must not be before time_range_start',
    ),
    ['time_range_end'] as Parameters<typeof v.forward<T, v.CheckIssue<T>, ['time_range_end']>>[1],
  );
}

export const artifactSearchTool = defineTool({
  name: 'artifact_search',
  title: 'Search artifacts',
  description:
    'Semantic (vector) search over ingested artifacts and their chunks; one best hit per artifact, with the ' +
    'matching passage and its character offsets. Prefer hybrid_search for keyword-heavy questions.',
  input: v.pipe(
    v.strictObject({
      query: nonBlank(1000, 'What to look for, in natural language.'),
      limit: integer(1, 50, 5, 'How many artifacts to return (1 to 50, default 5).'),
      ...filterFields,
      expand_neighbors: flag(false, 'Also return the chunks just before and after each matching chunk.'),
    }),
    timeRangeOrdered(),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, { query, limit, expand_neighbors, ...filters }) =>
    artifactSearch(services, { query, limit, expand_neighbors, filters }),
});

export const hybridSearchTool = defineTool({
  name: 'hybrid_search',
  title: 'Hybrid search',
  description:
    'The best general search: fuses vector search over artifacts and chunks with keyword (BM25) search over ' +
    'their text by reciprocal-rank fusion, and optionally memories, conversation turns and extracted events. Each result says ' +
    'which channels found it and at which rank.',
  input: v.pipe(
    v.strictObject({
      query: nonBlank(1000, 'What to look for: a question, keywords or a phrase.'),
      limit: integer(1, 50, 5, 'How many results to return (1 to 50, default 5).'),
      include_memory: flag(false, 'Also search stored memories.'),
      include_history: flag(
        false,
        'Also search conversation turns (as history_search does, across conversations).',
      ),
      include_events: flag(
        false,
        'Also search extracted events (decisions, commitments, ...) of the latest revision of each artifact; ' +
          'each event carries artifact_id, revision_id and is_latest.',
      ),
      expand_neighbors: flag(false, 'Also return the chunks just before and after each matching chunk.'),
      filters: v.optional(
        v.pipe(
          v.pipe(v.strictObject(filterFields), timeRangeOrdered()),
          v.description('Restrict artifacts by type, source, sensitivity, visibility or time range.'),
        ),
      ),
    }),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => hybridSearch(services, input),
});

export const embeddingHealth = defineTool({
  name: 'embedding_health',
  title: 'Embedding health',
  description:
    'Which embedder this server uses (provider, model, dimensions, whether an API key is configured) and a ' +
    'live test embedding with its latency, or the error it produced.',
  input: v.strictObject({}),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
  handler: async (services) => ({ ...(await measureEmbedding(services)) }),
});

import * as v from 'valibot';
import { ingestArtifact } from '../artifacts/ingest.js';
import { deleteArtifact, getArtifact } from '../artifacts/read.js';
import { measureEmbedding } from '../embedding/health.js';
import { artifactSearch, hybridSearch } from '../search/artifact-search.js';
import type { ArtifactFilters } from '../search/lexical.js';
import { ARTIFACT_TYPES, RETENTION_POLICIES, SENSITIVITIES, VISIBILITY_SCOPES } from '../store/revisions.js';
import { defineTool } from './registry.js';
import { flag, id, integer, isoDate, nonBlank, oneOf, text } from './schemas.js';

export const MAX_ARTIFACT_CHARS = 10_000_000;

const artifactId = id(
  'art_',
  16,
  'The artifact_id returned by artifact_ingest or a search, e.g. art_0123456789abcdef.',
);

export const artifactIngest = defineTool({
  name: 'artifact_ingest',
  title: 'Ingest an artifact',
  description:
    'Store a whole document (email, doc, chat, transcript or note): it is chunked, embedded and searchable at ' +
    'once, and semantic events (decisions, commitments, risks...) are extracted from it in the background. ' +
    'Give source_id (the id in the source system) so that re-ingesting an edited version makes a new revision ' +
    'of the same artifact; the same content again is a no-op (status "unchanged").',
  input: v.strictObject({
    artifact_type: oneOf(ARTIFACT_TYPES, 'Kind of artifact: email, doc, chat, transcript or note.'),
    source_system: text(1, 100, 'Where it comes from, e.g. gmail, slack, notion, zoom, manual.'),
    content: nonBlank(MAX_ARTIFACT_CHARS, 'The full text (1 to 10,000,000 characters).'),
    source_id: v.optional(
      text(1, 500, 'Its id in the source system; keeps revisions of one artifact together.'),
    ),
    source_url: v.optional(
      v.pipe(
        v.string('must be a string'),
        v.maxLength(2000, 'must be at most 2,000 characters long'),
        v.url('must be an absolute URL, e.g. https://example.com/doc/1'),
        v.description('Link to the original.'),
      ),
    ),
    title: v.optional(text(1, 500, 'Title or subject.')),
    author: v.optional(text(1, 200, 'Who wrote it.')),
    participants: v.optional(
      v.pipe(
        v.array(text(1, 200, 'A participant name or address.'), 'must be an array of strings'),
        v.maxLength(100, 'must list at most 100 participants'),
        v.description('People involved (at most 100).'),
      ),
    ),
    ts: v.optional(isoDate('When it was written or happened (ISO 8601).')),
    sensitivity: v.optional(
      oneOf(SENSITIVITIES, 'normal (default), sensitive or highly_sensitive.'),
      'normal',
    ),
    visibility_scope: v.optional(
      oneOf(VISIBILITY_SCOPES, 'Who may see it: me (default), team, org or custom.'),
      'me',
    ),
    retention_policy: v.optional(
      oneOf(RETENTION_POLICIES, 'How long to keep it: forever (default), 1y, until_resolved or custom.'),
      'forever',
    ),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  handler: async (services, input) => ({ ...(await ingestArtifact(services, input)) }),
});

const filterFields = {
  artifact_type: v.optional(oneOf(ARTIFACT_TYPES, 'Only artifacts of this type.')),
  source_system: v.optional(text(1, 100, 'Only artifacts from this source system.')),
  sensitivity: v.optional(oneOf(SENSITIVITIES, 'Only artifacts of this sensitivity.')),
  visibility_scope: v.optional(oneOf(VISIBILITY_SCOPES, 'Only artifacts of this visibility scope.')),
  time_range_start: v.optional(isoDate('Only artifacts whose ts is at or after this time (ISO 8601).')),
  time_range_end: v.optional(isoDate('Only artifacts whose ts is at or before this time (ISO 8601).')),
};

type FilterInput = { [K in keyof typeof filterFields]?: string | undefined };

export function toFilters(input: FilterInput): ArtifactFilters | undefined {
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

function filtersApplied(filters: ArtifactFilters | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(filters ?? {}).map(([key, value]) => [
      key,
      value instanceof Date ? value.toISOString() : String(value),
    ]),
  );
}

const timeRangeOrdered = (input: FilterInput) =>
  input.time_range_start === undefined ||
  input.time_range_end === undefined ||
  Date.parse(input.time_range_start) <= Date.parse(input.time_range_end);

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
    v.forward(
      v.check((input) => timeRangeOrdered(input), 'must not be before time_range_start'),
      ['time_range_end'],
    ),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => {
    const filters = toFilters(input);
    const result = await artifactSearch(services, {
      query: input.query,
      limit: input.limit,
      expand_neighbors: input.expand_neighbors,
      ...(filters ? { filters } : {}),
    });
    return { ...result, filters_applied: filtersApplied(filters) };
  },
});

export const artifactGet = defineTool({
  name: 'artifact_get',
  title: 'Get an artifact',
  description:
    'Metadata of an artifact (latest revision, list of revisions with their extraction job status), and on ' +
    'request its full text and its chunks with character offsets.',
  input: v.strictObject({
    artifact_id: artifactId,
    include_content: flag(false, 'Include the full text.'),
    include_chunks: flag(false, 'Include the chunks with their offsets (chunked artifacts only).'),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => getArtifact(services, input),
});

export const artifactDelete = defineTool({
  name: 'artifact_delete',
  title: 'Delete an artifact',
  description:
    'Permanently delete an artifact: its search entries, every revision with its text and chunks, its ' +
    'extraction jobs, and the events and evidence extracted from it. Says what was removed.',
  input: v.strictObject({ artifact_id: artifactId }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  handler: async (services, input) => deleteArtifact(services, input.artifact_id),
});

export const hybridSearchTool = defineTool({
  name: 'hybrid_search',
  title: 'Hybrid search',
  description:
    'The best general search: fuses vector search over artifacts and chunks with keyword (BM25) search over ' +
    'their text by reciprocal-rank fusion, and optionally memories and extracted events. Each result says ' +
    'which channels found it and at which rank.',
  input: v.pipe(
    v.strictObject({
      query: nonBlank(1000, 'What to look for: a question, keywords or a phrase.'),
      limit: integer(1, 50, 5, 'How many results to return (1 to 50, default 5).'),
      include_memory: flag(false, 'Also search stored memories.'),
      include_events: flag(false, 'Also search extracted events (decisions, commitments, ...).'),
      expand_neighbors: flag(false, 'Also return the chunks just before and after each matching chunk.'),
      filters: v.optional(
        v.pipe(
          v.pipe(
            v.strictObject(filterFields),
            v.forward(
              v.check((input) => timeRangeOrdered(input), 'must not be before time_range_start'),
              ['time_range_end'],
            ),
          ),
          v.description('Restrict artifacts by type, source, sensitivity, visibility or time range.'),
        ),
      ),
    }),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => {
    const filters = input.filters ? toFilters(input.filters) : undefined;
    const result = await hybridSearch(services, {
      query: input.query,
      limit: input.limit,
      include_memory: input.include_memory,
      include_events: input.include_events,
      expand_neighbors: input.expand_neighbors,
      ...(filters ? { filters } : {}),
    });
    return { ...result, filters_applied: filtersApplied(filters) };
  },
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

export const ARTIFACT_TOOLS = [
  artifactIngest,
  artifactSearchTool,
  artifactGet,
  artifactDelete,
  hybridSearchTool,
  embeddingHealth,
];

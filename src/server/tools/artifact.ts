import * as v from 'valibot';
import { ingestArtifact } from '../../domain/ingest.js';
import { deleteArtifact, getArtifact } from '../../domain/read.js';
import {
  ARTIFACT_TYPES,
  RETENTION_POLICIES,
  SENSITIVITIES,
  VISIBILITY_SCOPES,
} from '../../domain/vocabulary.js';
import { defineTool } from './registry.js';
import { flag, id, isoDate, link, nonBlank, oneOf, text } from './schemas.js';

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
    source_url: v.optional(link(2000, 'Link to the original (http, https or mailto).')),
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

export const artifactGet = defineTool({
  name: 'artifact_get',
  title: 'Get an artifact',
  description:
    'Metadata of one revision of an artifact (the latest, or the one revision_id names: older revisions stay ' +
    'readable), the list of all its revisions with their extraction job status, and on request that ' +
    "revision's exact full text and its chunks. Evidence offsets (start_char/end_char of event evidence) " +
    'index exactly this text, so text.slice(start_char, end_char) equals the quote; a chunk has start_char/' +
    'end_char into the same text, and its chunk_id is the one evidence names.',
  input: v.strictObject({
    artifact_id: artifactId,
    revision_id: v.optional(
      id(
        'rev_',
        16,
        'A revision of this artifact, e.g. the revision_id of an event (default: the latest revision). A ' +
          'revision of another artifact is NOT_FOUND.',
      ),
    ),
    include_content: flag(false, "Include the revision's exact full text."),
    include_chunks: flag(
      false,
      'Include the chunks with their offsets into the full text (chunked revisions only).',
    ),
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

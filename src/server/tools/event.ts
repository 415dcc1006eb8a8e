import * as v from 'valibot';
import { eventById, eventsOfRevision, findEvents } from '../../domain/events.js';
import { CATEGORIES } from '../../domain/extraction/types.js';
import { defineTool } from './registry.js';
import { artifactUid, flag, integer, isoDate, nonBlank, oneOf, revisionId } from './schemas.js';

export const eventSearch = defineTool({
  name: 'event_search',
  title: 'Search events',
  description:
    'Find semantic events extracted from artifacts (decisions, commitments, risks, feedback, changes...) by ' +
    'natural-language query ("decision about pricing") and/or filters, newest first. Each event comes with ' +
    'evidence: exact quotes from the source with character offsets, so answers can be checked.',
  input: v.pipe(
    v.strictObject({
      query: v.optional(nonBlank(500, 'What to look for, in natural language (optional).')),
      limit: integer(1, 100, 20, 'How many events to return (1 to 100, default 20).'),
      category: v.optional(oneOf(CATEGORIES, 'Only events of this category.')),
      time_from: v.optional(isoDate('Only events at or after this time (ISO 8601).')),
      time_to: v.optional(isoDate('Only events at or before this time (ISO 8601).')),
      artifact_uid: v.optional(artifactUid),
      include_evidence: flag(true, 'Include the evidence quotes (default true).'),
    }),
    v.forward(
      v.check(
        (input) =>
          input.time_from === undefined ||
          input.time_to === undefined ||
          Date.parse(input.time_from) <= Date.parse(input.time_to),
        'must not be before time_from',
      ),
      ['time_to'],
    ),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => findEvents(services, input),
});

export const eventGet = defineTool({
  name: 'event_get',
  title: 'Get an event',
  description: 'One event with all its evidence quotes (exact text and character offsets into the source).',
  input: v.strictObject({
    event_id: v.pipe(
      v.string('must be a string'),
      v.uuid('must be a UUID, e.g. 6f1c2a4e-0b7d-4f43-9a57-2f2b8f0c9d11'),
      v.description('The event_id from event_search or event_list_for_revision.'),
    ),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => ({ event: await eventById(services, input.event_id) }),
});

export const eventListForRevision = defineTool({
  name: 'event_list_for_revision',
  title: 'List events of a revision',
  description:
    'The events extracted from one revision of an artifact (the latest by default; older revisions keep their ' +
    'own events and evidence).',
  input: v.strictObject({
    artifact_uid: artifactUid,
    revision_id: revisionId,
    include_evidence: flag(false, 'Include the evidence quotes.'),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => eventsOfRevision(services, input),
});

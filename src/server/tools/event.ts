import * as v from 'valibot';
import { eventById, eventsOfRevision, findEvents } from '../../domain/events.js';
import { CATEGORIES } from '../../domain/extraction/types.js';
import { defineTool } from './registry.js';
import { artifactUid, flag, integer, isoDate, nonBlank, oneOf, revisionId } from './schemas.js';

/** What every event tool says about current and superseded events and about evidence offsets. */
const EVENT_FIELDS =
  'Every event carries artifact_id, artifact_uid, revision_id and is_latest (false: a newer revision of the ' +
  'artifact replaced the text the event came from, so it may be out of date). Evidence quotes are exact source ' +
  "text: start_char/end_char are offsets into the whole text of the event's revision, the text that " +
  'artifact_get(artifact_id, revision_id, include_content: true) returns, so text.slice(start_char, end_char) ' +
  'equals the quote (UTF-16 code units, as JavaScript indexes strings); chunk_id names the chunk the quote came ' +
  'from (null when the revision is not chunked).';

export const eventSearch = defineTool({
  name: 'event_search',
  title: 'Search events',
  description:
    'Find semantic events extracted from artifacts (decisions, commitments, risks, feedback, changes...) by ' +
    'natural-language query ("decision about pricing") and/or filters, newest first. Answers from the latest ' +
    'revision of each artifact; include_superseded: true adds the events of older revisions. Each event comes ' +
    `with evidence, so answers can be checked. ${EVENT_FIELDS}`,
  input: v.pipe(
    v.strictObject({
      query: v.optional(nonBlank(500, 'What to look for, in natural language (optional).')),
      limit: integer(1, 100, 20, 'How many events to return (1 to 100, default 20).'),
      category: v.optional(oneOf(CATEGORIES, 'Only events of this category.')),
      time_from: v.optional(isoDate('Only events at or after this time (ISO 8601).')),
      time_to: v.optional(isoDate('Only events at or before this time (ISO 8601).')),
      artifact_uid: v.optional(artifactUid),
      include_superseded: flag(
        false,
        'Also return events of revisions that a newer revision replaced, flagged is_latest: false (default false: ' +
          'latest revisions only).',
      ),
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
  description: `One event with all its evidence quotes, whichever revision it comes from. ${EVENT_FIELDS}`,
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
    `own events and evidence). ${EVENT_FIELDS}`,
  input: v.strictObject({
    artifact_uid: artifactUid,
    revision_id: revisionId,
    include_evidence: flag(false, 'Include the evidence quotes.'),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => eventsOfRevision(services, input),
});

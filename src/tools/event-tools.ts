import * as v from 'valibot';
import { NotFoundError } from '../errors.js';
import { CATEGORIES } from '../extraction/types.js';
import type { Services } from '../services.js';
import { getEvent, listRevisionEvents, searchEvents, withEvidence } from '../store/events.js';
import { requeueJob } from '../store/jobs.js';
import { findJob, findLatestRevision, findRevision } from '../store/revisions.js';
import { defineTool } from './registry.js';
import { flag, id, integer, isoDate, nonBlank, oneOf } from './schemas.js';

const artifactUid = id(
  'uid_',
  16,
  'The artifact_uid returned by artifact_ingest or artifact_get, e.g. uid_0123456789abcdef.',
);
const revisionId = v.optional(
  id('rev_', 16, 'A revision_id of the artifact (default: its latest revision).'),
);

/** The named revision, or the latest one; NOT_FOUND when either is unknown. */
async function resolveRevision(services: Services, uid: string, revision: string | undefined) {
  const row =
    revision === undefined
      ? await findLatestRevision(services.sql, uid)
      : await findRevision(services.sql, uid, revision);
  if (row === undefined) {
    if (revision === undefined) throw new NotFoundError('artifact', uid);
    throw new NotFoundError('revision', `${uid}/${revision}`);
  }
  return row;
}

function describeJob(job: NonNullable<Awaited<ReturnType<typeof findJob>>>) {
  return {
    job_id: job.job_id,
    job_type: job.job_type,
    artifact_uid: job.artifact_uid,
    revision_id: job.revision_id,
    status: job.status,
    attempts: job.attempts,
    max_attempts: job.max_attempts,
    next_run_at: job.next_run_at.toISOString(),
    locked_at: job.locked_at?.toISOString() ?? null,
    locked_by: job.locked_by,
    last_error_code: job.last_error_code,
    last_error_message: job.last_error_message,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
  };
}

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
  handler: async (services, input) => {
    const result = await searchEvents(services.sql, {
      query: input.query,
      category: input.category,
      timeFrom: input.time_from !== undefined ? new Date(input.time_from) : undefined,
      timeTo: input.time_to !== undefined ? new Date(input.time_to) : undefined,
      artifactUid: input.artifact_uid,
      limit: input.limit,
    });
    const events = input.include_evidence ? await withEvidence(services.sql, result.events) : result.events;
    const filters_applied = Object.fromEntries(
      Object.entries({
        query: input.query,
        category: input.category,
        time_from: input.time_from,
        time_to: input.time_to,
        artifact_uid: input.artifact_uid,
      }).filter(([, value]) => value !== undefined),
    );
    return { events, total: result.total, match: result.match, filters_applied };
  },
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
  handler: async (services, input) => {
    const event = await getEvent(services.sql, input.event_id);
    if (event === undefined) throw new NotFoundError('event', input.event_id);
    return { event };
  },
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
  handler: async (services, input) => {
    const revision = await resolveRevision(services, input.artifact_uid, input.revision_id);
    const events = await listRevisionEvents(services.sql, revision.artifact_uid, revision.revision_id);
    const job = await findJob(services.sql, revision.artifact_uid, revision.revision_id);
    return {
      artifact_uid: revision.artifact_uid,
      revision_id: revision.revision_id,
      is_latest: revision.is_latest,
      job_status: job?.status ?? null,
      events: input.include_evidence ? await withEvidence(services.sql, events) : events,
      total: events.length,
    };
  },
});

export const eventReextract = defineTool({
  name: 'event_reextract',
  title: 'Re-extract events',
  description:
    'Queue the extraction of a revision again (the latest by default). A job that is already pending or ' +
    'running is left alone unless force is true; forcing restarts it from zero attempts. The current events ' +
    'stay until the new extraction succeeds.',
  input: v.strictObject({
    artifact_uid: artifactUid,
    revision_id: revisionId,
    force: flag(false, 'Restart even a pending or running job.'),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  handler: async (services, input) => {
    const revision = await resolveRevision(services, input.artifact_uid, input.revision_id);
    const { job, action } = await requeueJob(services.sql, revision.artifact_uid, revision.revision_id, {
      force: input.force,
      maxAttempts: services.config.worker.maxAttempts,
    });
    if (action !== 'left_active') services.jobQueued?.();
    return { action, job: describeJob(job) };
  },
});

export const jobStatus = defineTool({
  name: 'job_status',
  title: 'Extraction job status',
  description:
    'The extraction job of a revision (the latest by default): status PENDING, PROCESSING, DONE or FAILED, ' +
    'attempts, next run, and the last error.',
  input: v.strictObject({ artifact_uid: artifactUid, revision_id: revisionId }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => {
    const revision = await resolveRevision(services, input.artifact_uid, input.revision_id);
    const job = await findJob(services.sql, revision.artifact_uid, revision.revision_id);
    if (job === undefined) throw new NotFoundError('job', `${revision.artifact_uid}/${revision.revision_id}`);
    return { job: describeJob(job) };
  },
});

export const EVENT_TOOLS = [eventSearch, eventGet, eventListForRevision, eventReextract, jobStatus];

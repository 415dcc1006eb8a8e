/**
 * Semantic events and their extraction jobs, as the tools see them: which revision a call is
 * about, event search and reads, re-extraction and job status. The worker writes events; this
 * module only reads them and queues work.
 */
import { NotFoundError } from '../errors.js';
import { type EventView, getEvent, listRevisionEvents, searchEvents, withEvidence } from '../store/events.js';
import { findJob, type JobRow, requeueJob } from '../store/jobs.js';
import { findLatestRevision, findRevision, type RevisionRow } from '../store/revisions.js';
import type { Services } from './services.js';

/** The named revision of an artifact, or its latest one; NOT_FOUND when either is unknown. */
export async function resolveRevision(
  services: Services,
  artifactUid: string,
  revisionId: string | undefined,
): Promise<RevisionRow> {
  const row =
    revisionId === undefined
      ? await findLatestRevision(services.sql, artifactUid)
      : await findRevision(services.sql, artifactUid, revisionId);
  if (row === undefined) {
    if (revisionId === undefined) throw new NotFoundError('artifact', artifactUid);
    throw new NotFoundError('revision', revisionId, {
      kind: 'artifact',
      id: artifactUid,
      hint: 'artifact_get(artifact_id) lists the revisions of an artifact',
    });
  }
  return row;
}

/** A job row as the tools answer it (times as ISO strings). */
export function describeJob(job: JobRow) {
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

export interface EventSearchInput {
  query?: string | undefined;
  limit: number;
  category?: string | undefined;
  time_from?: string | undefined;
  time_to?: string | undefined;
  artifact_uid?: string | undefined;
  include_superseded: boolean;
  include_evidence: boolean;
}

/**
 * `event_search`: natural-language and filtered search over events, newest first, from each
 * artifact's latest revision unless `include_superseded`.
 */
export async function findEvents(services: Services, input: EventSearchInput) {
  const result = await searchEvents(services.sql, {
    query: input.query,
    category: input.category,
    timeFrom: input.time_from !== undefined ? new Date(input.time_from) : undefined,
    timeTo: input.time_to !== undefined ? new Date(input.time_to) : undefined,
    artifactUid: input.artifact_uid,
    includeSuperseded: input.include_superseded,
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
      include_superseded: input.include_superseded || undefined,
    }).filter(([, value]) => value !== undefined),
  );
  return { events, total: result.total, match: result.match, filters_applied };
}

/** `event_get`: one event with all its evidence. */
export async function eventById(services: Services, eventId: string): Promise<EventView> {
  const event = await getEvent(services.sql, eventId);
  if (event === undefined) throw new NotFoundError('event', eventId);
  return event;
}

/** `event_list_for_revision`: the events of one revision (the latest by default). */
export async function eventsOfRevision(
  services: Services,
  input: { artifact_uid: string; revision_id?: string | undefined; include_evidence: boolean },
) {
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
}

/**
 * `event_reextract`: queues the extraction of a revision again. An active job is left alone
 * unless `force`; a queued job wakes an in-process worker at once.
 */
export async function reextract(
  services: Services,
  input: { artifact_uid: string; revision_id?: string | undefined; force: boolean },
) {
  const revision = await resolveRevision(services, input.artifact_uid, input.revision_id);
  const { job, action } = await requeueJob(services.sql, revision.artifact_uid, revision.revision_id, {
    force: input.force,
    maxAttempts: services.config.worker.maxAttempts,
  });
  if (action !== 'left_active') services.jobQueued?.();
  return { action, job: describeJob(job) };
}

/** `job_status`: the extraction job of a revision (the latest by default). */
export async function jobOfRevision(
  services: Services,
  input: { artifact_uid: string; revision_id?: string | undefined },
) {
  const revision = await resolveRevision(services, input.artifact_uid, input.revision_id);
  const job = await findJob(services.sql, revision.artifact_uid, revision.revision_id);
  if (job === undefined) throw new NotFoundError('job', `${revision.artifact_uid}/${revision.revision_id}`);
  return { job: describeJob(job) };
}

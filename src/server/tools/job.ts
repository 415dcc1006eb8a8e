import * as v from 'valibot';
import { jobOfRevision, reextract } from '../../domain/events.js';
import { defineTool } from './registry.js';
import { artifactUid, flag, revisionId } from './schemas.js';

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
  handler: async (services, input) => reextract(services, input),
});

export const jobStatus = defineTool({
  name: 'job_status',
  title: 'Extraction job status',
  description:
    'The extraction job of a revision (the latest by default): status PENDING, PROCESSING, DONE or FAILED, ' +
    'attempts, next run, and the last error.',
  input: v.strictObject({ artifact_uid: artifactUid, revision_id: revisionId }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => jobOfRevision(services, input),
});

/**
 * Postgres queries for artifact revisions, their text and chunks, and the extraction job that
 * each new revision enqueues.
 */
import type { ChunkRow } from './chunks.js';
import type { Sql } from './connect.js';
import { JOB_CHANNEL, type JobRow } from './jobs.js';
import type { SqlFragment } from './lexical.js';

export interface RevisionRow {
  artifact_uid: string;
  revision_id: string;
  artifact_id: string;
  artifact_type: string;
  source_system: string;
  source_id: string | null;
  source_url: string | null;
  source_ts: Date | null;
  title: string | null;
  author: string | null;
  participants: string[];
  content_hash: string;
  token_count: number;
  is_chunked: boolean;
  chunk_count: number;
  sensitivity: string;
  visibility_scope: string;
  retention_policy: string;
  is_latest: boolean;
  ingested_at: Date;
}

export async function findLatestRevision(sql: Sql, artifactUid: string): Promise<RevisionRow | undefined> {
  const [row] = await sql<RevisionRow[]>`
    select * from artifact_revision where artifact_uid = ${artifactUid} and is_latest`;
  return row;
}

export async function findRevision(
  sql: Sql,
  artifactUid: string,
  revisionId: string,
): Promise<RevisionRow | undefined> {
  const [row] = await sql<RevisionRow[]>`
    select * from artifact_revision where artifact_uid = ${artifactUid} and revision_id = ${revisionId}`;
  return row;
}

/** Every revision of an artifact, newest first, with the status of its extraction job. */
export async function listRevisions(
  sql: Sql,
  artifactUid: string,
): Promise<Array<{ revision_id: string; is_latest: boolean; ingested_at: Date; job_status: string | null }>> {
  return sql`
    select r.revision_id, r.is_latest, r.ingested_at, j.status as job_status
    from artifact_revision r
    left join event_jobs j on j.artifact_uid = r.artifact_uid and j.revision_id = r.revision_id
      and j.job_type = 'extract_events'
    where r.artifact_uid = ${artifactUid}
    order by r.ingested_at desc`;
}

/** The latest revision of the artifact stored in Chroma under `artifactId`. */
export async function findLatestByArtifactId(sql: Sql, artifactId: string): Promise<RevisionRow | undefined> {
  // artifact_revision_artifact_id_idx
  const [row] = await sql<RevisionRow[]>`
    select * from artifact_revision where artifact_id = ${artifactId} and is_latest`;
  return row;
}

/** An id-less artifact of this source system whose latest revision has this exact content. */
export async function findIdlessDuplicate(
  sql: Sql,
  sourceSystem: string,
  contentHash: string,
): Promise<RevisionRow | undefined> {
  // artifact_revision_content_idx (partial, source_id is null)
  const [row] = await sql<RevisionRow[]>`
    select * from artifact_revision
    where source_system = ${sourceSystem} and content_hash = ${contentHash} and source_id is null and is_latest
    limit 1`;
  return row;
}

/** Latest revisions for these Chroma ids, keyed by artifact id. */
export async function latestRevisionsByArtifactId(
  sql: Sql,
  artifactIds: readonly string[],
): Promise<Map<string, RevisionRow>> {
  if (artifactIds.length === 0) return new Map();
  const rows = await sql<RevisionRow[]>`
    select * from artifact_revision where artifact_id = any(${artifactIds as string[]}) and is_latest`;
  return new Map(rows.map((row) => [row.artifact_id, row]));
}

/** Those of these artifacts whose latest revision meets `filter` (a condition on alias `r`). */
export async function artifactIdsWhere(
  sql: Sql,
  artifactIds: readonly string[],
  filter: SqlFragment,
): Promise<Set<string>> {
  if (artifactIds.length === 0) return new Set();
  const rows = await sql<Array<{ artifact_id: string }>>`
    select r.artifact_id from artifact_revision r
    where r.artifact_id = any(${artifactIds as string[]}) and r.is_latest and ${filter}`;
  return new Set(rows.map((row) => row.artifact_id));
}

/** A revision about to be written; `is_latest` and `ingested_at` are set by the write. */
export type NewRevision = Omit<RevisionRow, 'is_latest' | 'ingested_at'>;

/**
 * One transaction: the revision becomes the latest (older ones are not), its text and chunks are
 * stored, and its extraction job is enqueued (an existing job for the same revision is kept).
 * Idle workers are woken with a NOTIFY, delivered only if the transaction commits.
 */
export async function writeRevision(
  sql: Sql,
  revision: NewRevision,
  content: string,
  chunks: readonly ChunkRow[],
  maxAttempts: number,
): Promise<JobRow> {
  return sql.begin(async (tx) => {
    await tx`
      update artifact_revision set is_latest = false
      where artifact_uid = ${revision.artifact_uid} and is_latest and revision_id <> ${revision.revision_id}`;
    // A revision seen before (content reverted to an older version) becomes the latest again.
    await tx`
      insert into artifact_revision ${tx({ ...revision, participants: tx.json(revision.participants), is_latest: true })}
      on conflict (artifact_uid, revision_id) do update set is_latest = true, ingested_at = now()`;
    await tx`
      insert into artifact_content (artifact_uid, revision_id, content)
      values (${revision.artifact_uid}, ${revision.revision_id}, ${content})
      on conflict do nothing`;
    if (chunks.length > 0) {
      const rows = chunks.map((chunk) => ({
        artifact_uid: revision.artifact_uid,
        revision_id: revision.revision_id,
        ...chunk,
      }));
      // Batches keep each statement under the 65,535 bind parameters of the protocol.
      for (let start = 0; start < rows.length; start += 1000) {
        await tx`insert into artifact_chunk ${tx(rows.slice(start, start + 1000))} on conflict do nothing`;
      }
    }
    await tx`
      insert into event_jobs (artifact_uid, revision_id, max_attempts)
      values (${revision.artifact_uid}, ${revision.revision_id}, ${maxAttempts})
      on conflict (artifact_uid, revision_id, job_type) do nothing`;
    const [job] = await tx<JobRow[]>`
      select * from event_jobs
      where artifact_uid = ${revision.artifact_uid} and revision_id = ${revision.revision_id}
        and job_type = 'extract_events'`;
    await tx`select pg_notify(${JOB_CHANNEL}, ${job!.job_id})`;
    return job!;
  });
}

export async function revisionContent(
  sql: Sql,
  artifactUid: string,
  revisionId: string,
): Promise<string | undefined> {
  const [row] = await sql<Array<{ content: string }>>`
    select content from artifact_content where artifact_uid = ${artifactUid} and revision_id = ${revisionId}`;
  return row?.content;
}

/** Deletes every revision of an artifact; text, chunks, jobs, events and evidence cascade. */
export async function deleteArtifactRows(
  sql: Sql,
  artifactUid: string,
): Promise<{ revisions: number; events: number; evidence: number; jobs: number }> {
  return sql.begin(async (tx) => {
    const [counts] = await tx<Array<{ events: number; evidence: number; jobs: number }>>`
      select (select count(*) from semantic_event where artifact_uid = ${artifactUid})::int as events,
             (select count(*) from event_evidence where artifact_uid = ${artifactUid})::int as evidence,
             (select count(*) from event_jobs where artifact_uid = ${artifactUid})::int as jobs`;
    const deleted = await tx`delete from artifact_revision where artifact_uid = ${artifactUid}`;
    return {
      revisions: deleted.count,
      events: counts?.events ?? 0,
      evidence: counts?.evidence ?? 0,
      jobs: counts?.jobs ?? 0,
    };
  });
}

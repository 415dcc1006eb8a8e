/**
 * The extraction queue: claiming, lease extension, completion, failure and release.
 *
 * Every write after the claim is guarded by `locked_by = worker AND attempts = claimed attempts
 * AND status = 'PROCESSING'`: a worker whose lease expired (and whose job another worker took,
 * which bumps `attempts`) cannot overwrite the new owner's work.
 */
import type { Sql, Tx } from './connect.js';

/** Channel on which `artifact_ingest` announces a new job to idle workers. */
export const JOB_CHANNEL = 'memory_event_jobs';

export interface JobRow {
  job_id: string;
  job_type: string;
  artifact_uid: string;
  revision_id: string;
  status: 'PENDING' | 'PROCESSING' | 'DONE' | 'FAILED';
  attempts: number;
  max_attempts: number;
  next_run_at: Date;
  locked_at: Date | null;
  locked_by: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: Date;
  updated_at: Date;
}

export async function findJob(
  sql: Sql,
  artifactUid: string,
  revisionId: string,
): Promise<JobRow | undefined> {
  const [row] = await sql<JobRow[]>`
    select * from event_jobs
    where artifact_uid = ${artifactUid} and revision_id = ${revisionId} and job_type = 'extract_events'`;
  return row;
}

/** The retry delay after `attempts` failed attempts: min(30 * 2^(attempts-1), 600) seconds. */
export function backoffSeconds(attempts: number): number {
  return Math.min(30 * 2 ** Math.max(0, attempts - 1), 600);
}

/** A claimed job with what the extractor reads, loaded by the claiming statement itself. */
export interface ClaimedJob {
  job: JobRow;
  /** Undefined when the revision no longer exists (its artifact was deleted meanwhile). */
  revision:
    | {
        artifact_type: string;
        title: string | null;
        author: string | null;
        participants: string[];
        source_ts: Date | null;
        is_chunked: boolean;
        content: string;
        chunks: Array<{
          chunk_id: string;
          chunk_index: number;
          start_char: number;
          end_char: number;
          text: string;
        }>;
      }
    | undefined;
}

/**
 * Claims up to `limit` of the oldest due jobs and loads their revisions, texts and chunks, in
 * one statement: PROCESSING jobs whose lease expired (their worker died) first, oldest lease
 * first, then due PENDING ones by (next_run_at, created_at). Returned in that order.
 *
 * Each branch is an ordered scan of its own partial index that stops after `limit` unlocked rows
 * (`FOR UPDATE SKIP LOCKED` inside a LIMIT subquery), and UNION ALL under the same LIMIT runs the
 * second only for what the first did not supply: rows are locked as the LIMIT pulls them, so no
 * more than `limit` are ever taken. One OR over both states instead made Postgres collect and sort
 * every candidate; separate claim and load statements cost three more round trips per job.
 *
 * Several jobs per statement, because the statement is planned afresh on every call (the
 * worker's `plan_cache_mode = force_custom_plan`, src/store/connect.ts) and its planning is most
 * of its cost: with the worker's session settings on one connection, one job per statement took
 * 0.84 ms, four 0.25 ms a job (the step profile of bench/queue.ts, docs/benchmarks.md). The
 * statement is prepared once per connection and reused; Postgres chose a custom plan for it on
 * every call under `plan_cache_mode = auto` too, so planning is paid per statement either way.
 * The caller passes the number of jobs it can start at once, never more: a claimed job's lease
 * runs from the claim.
 */
export async function claimJobs(
  sql: Sql,
  workerId: string,
  leaseSeconds: number,
  limit: number,
): Promise<ClaimedJob[]> {
  type Row = JobRow & {
    r_artifact_type: string | null;
    r_title: string | null;
    r_author: string | null;
    r_participants: string[] | null;
    r_source_ts: Date | null;
    r_is_chunked: boolean | null;
    r_content: string | null;
    r_chunks: NonNullable<ClaimedJob['revision']>['chunks'];
    claim_branch: number;
    claim_due: Date;
  };
  if (limit < 1) return [];
  // `branch` and `due` carry the claim order through the UPDATE (its RETURNING has no order).
  const rows = await sql<Row[]>`
    with next as (
      (select job_id, 0 as branch, due, created_at from (
        -- event_jobs_processing_idx: only in-flight jobs, about as many as there are workers.
        select job_id, locked_at as due, created_at from event_jobs
        where status = 'PROCESSING' and locked_at < now() - make_interval(secs => ${leaseSeconds})
          and attempts < max_attempts
        order by locked_at limit ${limit} for update skip locked) expired)
      union all
      (select job_id, 1 as branch, due, created_at from (
        -- event_jobs_pending_idx (next_run_at, created_at) where status = 'PENDING'
        select job_id, next_run_at as due, created_at from event_jobs
        where status = 'PENDING' and next_run_at <= now()
        order by next_run_at, created_at limit ${limit} for update skip locked) pending)
      limit ${limit}
    ), claimed as (
      update event_jobs j
      set status = 'PROCESSING', locked_at = now(), locked_by = ${workerId}, attempts = j.attempts + 1
      from next where j.job_id = next.job_id
      returning j.*, next.branch as claim_branch, next.due as claim_due
    )
    select c.*, r.artifact_type as r_artifact_type, r.title as r_title, r.author as r_author,
           r.participants as r_participants, r.source_ts as r_source_ts, r.is_chunked as r_is_chunked,
           t.content as r_content,
           coalesce((select json_agg(json_build_object('chunk_id', k.chunk_id, 'chunk_index', k.chunk_index,
                                                       'start_char', k.start_char, 'end_char', k.end_char,
                                                       'text', k.text) order by k.chunk_index)
                     from artifact_chunk k
                     where r.is_chunked and k.artifact_uid = c.artifact_uid and k.revision_id = c.revision_id),
                    '[]') as r_chunks
    from claimed c
    left join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
    left join artifact_content t on t.artifact_uid = c.artifact_uid and t.revision_id = c.revision_id
    order by c.claim_branch, c.claim_due, c.created_at`;
  return rows.map((row) => {
    const {
      r_artifact_type,
      r_title,
      r_author,
      r_participants,
      r_source_ts,
      r_is_chunked,
      r_content,
      r_chunks,
      claim_branch: _branch,
      claim_due: _due,
      ...job
    } = row;
    const revision =
      r_artifact_type === null || r_content === null
        ? undefined
        : {
            artifact_type: r_artifact_type,
            title: r_title,
            author: r_author,
            participants: r_participants ?? [],
            source_ts: r_source_ts,
            is_chunked: r_is_chunked === true,
            content: r_content,
            chunks: r_chunks,
          };
    return { job, revision };
  });
}

/**
 * Jobs whose worker died on their last allowed attempt cannot be claimed again: they end FAILED.
 * Returns how many were failed.
 */
export async function failAbandonedJobs(sql: Sql, leaseSeconds: number): Promise<number> {
  const result = await sql`
    update event_jobs
    set status = 'FAILED', locked_at = null, locked_by = null,
        last_error_code = 'MAX_ATTEMPTS_EXCEEDED',
        last_error_message = 'gave up after ' || attempts || ' attempts; last error: ' ||
          'WORKER_LOST: the worker holding the job stopped answering (lease expired)'
    where status = 'PROCESSING' and locked_at < now() - make_interval(secs => ${leaseSeconds})
      and attempts >= max_attempts`;
  return result.count;
}

/**
 * Extends the leases of the jobs in hand, all in one statement, each under its claim guard.
 * Returns the ids of the jobs still this worker's; a job missing from the answer was lost (its
 * lease expired and another worker took it, or it was re-queued).
 */
export async function extendLeases(
  sql: Sql,
  jobs: readonly JobRow[],
  workerId: string,
): Promise<Set<string>> {
  if (jobs.length === 0) return new Set();
  const rows = await sql<Array<{ job_id: string }>>`
    update event_jobs j set locked_at = now()
    ${heldBy(sql, jobs, workerId)}
    returning j.job_id`;
  return new Set(rows.map((row) => row.job_id));
}

/**
 * The claim guard of a batch, for an `update event_jobs j`: its `from` and `where`, matching each
 * job that is still this worker's claim, at the attempt it claimed, in progress.
 */
function heldBy(sql: Sql, jobs: readonly JobRow[], workerId: string) {
  return sql`
    from unnest(${jobs.map((job) => job.job_id)}::uuid[], ${jobs.map((job) => job.attempts)}::int[])
      as held(job_id, attempts)
    where j.job_id = held.job_id and j.locked_by = ${workerId} and j.attempts = held.attempts
      and j.status = 'PROCESSING'`;
}

/** The claim guard: this worker's claim, at the attempt it claimed, still in progress. */
function claimed(sql: Sql | Tx, job: JobRow, workerId: string) {
  return sql`job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts} and status = 'PROCESSING'`;
}

/**
 * Marks DONE the jobs whose extraction found no events, and clears the events an earlier run
 * stored for their revisions, in one statement (atomic on its own: no BEGIN/COMMIT round trips),
 * each only while its claim holds. Returns the ids of the jobs marked DONE; a job missing from
 * the answer was no longer this worker's, and nothing was written for it. DONE keeps
 * `locked_by` and `locked_at`: which worker did the job, and when it claimed it.
 *
 * Several jobs per statement, for the reason claims take several (see claimJobs): one job per
 * statement took 0.55 ms, four 0.17 ms a job (the same profile). The worker hands over together
 * the jobs that reach this point in the same turn of its event loop.
 */
export async function completeJobsWithoutEvents(
  sql: Sql,
  jobs: readonly JobRow[],
  workerId: string,
): Promise<Set<string>> {
  if (jobs.length === 0) return new Set();
  const rows = await sql<Array<{ job_id: string }>>`
    with finished as (
      update event_jobs j set status = 'DONE', last_error_code = null, last_error_message = null
      ${heldBy(sql, jobs, workerId)}
      returning j.job_id, j.artifact_uid, j.revision_id
    ), cleared as (
      -- semantic_event_revision_idx (artifact_uid, revision_id)
      delete from semantic_event e using finished f
      where e.artifact_uid = f.artifact_uid and e.revision_id = f.revision_id
    )
    select job_id from finished`;
  return new Set(rows.map((row) => row.job_id));
}

/**
 * Marks the job DONE and replaces its revision's events with the ones `write` stores, in one
 * transaction and only while the claim holds; undefined (and nothing written) when it no longer
 * does, else what `write` returned. The guarded update comes first, so the row lock is held
 * while the events are written and a worker taking over the job waits for the outcome.
 */
export async function completeJobWithEvents(
  sql: Sql,
  job: JobRow,
  workerId: string,
  write: (tx: Tx) => Promise<number>,
): Promise<number | undefined> {
  return sql
    .begin(async (tx) => {
      const done = await tx`
        update event_jobs set status = 'DONE', last_error_code = null, last_error_message = null
        where ${claimed(tx, job, workerId)}`;
      if (done.count !== 1) throw new ClaimLost();
      return write(tx);
    })
    .catch((error: unknown) => {
      if (error instanceof ClaimLost) return undefined;
      throw error;
    });
}

class ClaimLost extends Error {}

export interface JobFailure {
  code: string;
  message: string;
  transient: boolean;
}

/**
 * Records a failed attempt: transient errors go back to PENDING after the backoff, unless the
 * attempts are used up; permanent ones end FAILED. Returns the new status, or undefined when the
 * job was no longer this worker's.
 */
export async function recordFailure(
  sql: Sql,
  job: JobRow,
  workerId: string,
  failure: JobFailure,
): Promise<'PENDING' | 'FAILED' | undefined> {
  const message = failure.message.slice(0, 2000);
  let status: 'PENDING' | 'FAILED';
  let code = failure.code;
  let text = message;
  if (!failure.transient) status = 'FAILED';
  else if (job.attempts >= job.max_attempts) {
    status = 'FAILED';
    code = 'MAX_ATTEMPTS_EXCEEDED';
    text = `gave up after ${job.attempts} attempts; last error: ${failure.code}: ${message}`;
  } else status = 'PENDING';
  const delay = status === 'PENDING' ? backoffSeconds(job.attempts) : 0;
  const result = await sql`
    update event_jobs
    set status = ${status}, locked_at = null, locked_by = null,
        next_run_at = now() + make_interval(secs => ${delay}),
        last_error_code = ${code}, last_error_message = ${text}
    where ${claimed(sql, job, workerId)}`;
  return result.count === 1 ? status : undefined;
}

/**
 * Gives jobs back untouched (shutdown), in one statement: PENDING, due now, the claim's attempt
 * not counted. Each only under its claim guard; returns the ids of the jobs released.
 */
export async function releaseJobs(sql: Sql, jobs: readonly JobRow[], workerId: string): Promise<Set<string>> {
  if (jobs.length === 0) return new Set();
  const rows = await sql<Array<{ job_id: string }>>`
    update event_jobs j
    set status = 'PENDING', locked_at = null, locked_by = null, attempts = greatest(j.attempts - 1, 0),
        next_run_at = now()
    ${heldBy(sql, jobs, workerId)}
    returning j.job_id`;
  return new Set(rows.map((row) => row.job_id));
}

export async function recordHeartbeat(
  sql: Sql,
  worker: { id: string; hostname: string; pid: number; done: number; failed: number },
): Promise<void> {
  await sql`
    insert into worker_heartbeat (worker_id, hostname, pid, jobs_done, jobs_failed)
    values (${worker.id}, ${worker.hostname}, ${worker.pid}, ${worker.done}, ${worker.failed})
    on conflict (worker_id) do update
    set last_seen_at = now(), hostname = excluded.hostname, pid = excluded.pid,
        jobs_done = excluded.jobs_done, jobs_failed = excluded.jobs_failed`;
}

export async function removeHeartbeat(sql: Sql, workerId: string): Promise<void> {
  await sql`delete from worker_heartbeat where worker_id = ${workerId}`;
}

/**
 * Re-queues the extraction of a revision. An active job (PENDING or PROCESSING) is left alone
 * unless `force`; forcing resets it (attempts 0, PENDING, due now), which also voids the claim of
 * a worker holding it. A missing job is created.
 */
export async function requeueJob(
  sql: Sql,
  artifactUid: string,
  revisionId: string,
  options: { force: boolean; maxAttempts: number },
): Promise<{ job: JobRow; action: 'queued' | 'requeued' | 'left_active' }> {
  return sql.begin(async (tx) => {
    const [existing] = await tx<JobRow[]>`
      select * from event_jobs
      where artifact_uid = ${artifactUid} and revision_id = ${revisionId} and job_type = 'extract_events'
      for update`;
    if (existing === undefined) {
      const [created] = await tx<JobRow[]>`
        insert into event_jobs (artifact_uid, revision_id, max_attempts)
        values (${artifactUid}, ${revisionId}, ${options.maxAttempts})
        returning *`;
      await tx`select pg_notify(${JOB_CHANNEL}, ${created!.job_id})`;
      return { job: created!, action: 'queued' as const };
    }
    const active = existing.status === 'PENDING' || existing.status === 'PROCESSING';
    if (active && !options.force) return { job: existing, action: 'left_active' as const };
    const [reset] = await tx<JobRow[]>`
      update event_jobs
      set status = 'PENDING', attempts = 0, next_run_at = now(), locked_at = null, locked_by = null,
          last_error_code = null, last_error_message = null
      where job_id = ${existing.job_id}
      returning *`;
    await tx`select pg_notify(${JOB_CHANNEL}, ${reset!.job_id})`;
    return { job: reset!, action: 'requeued' as const };
  });
}

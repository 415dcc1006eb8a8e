/**
 * The extraction queue: claiming, lease extension, completion, failure and release.
 *
 * Every write after the claim is guarded by `locked_by = worker AND attempts = claimed attempts
 * AND status = 'PROCESSING'`: a worker whose lease expired (and whose job another worker took,
 * which bumps `attempts`) cannot overwrite the new owner's work.
 */
import type { Sql, Tx } from '../db/connect.js';
import { JOB_CHANNEL, type JobRow } from './revisions.js';

export interface Claim {
  job: JobRow;
  workerId: string;
}

/** The retry delay after `attempts` failed attempts: min(30 * 2^(attempts-1), 600) seconds. */
export function backoffSeconds(attempts: number): number {
  return Math.min(30 * 2 ** Math.max(0, attempts - 1), 600);
}

/**
 * Claims the oldest due job, in one statement each: first a PROCESSING job whose lease expired
 * (its worker died), then a due PENDING one. Two statements rather than one OR: each is an
 * ordered scan of its own partial index that stops at the first unlocked row, where an OR would
 * make Postgres collect and sort every candidate (measured: a sort of the whole backlog per claim).
 */
export async function claimJob(
  sql: Sql,
  workerId: string,
  leaseSeconds: number,
): Promise<JobRow | undefined> {
  // event_jobs_processing_idx: only in-flight jobs, as many as there are workers.
  const [expired] = await sql<JobRow[]>`
    with next as (
      select job_id from event_jobs
      where status = 'PROCESSING' and locked_at < now() - make_interval(secs => ${leaseSeconds})
        and attempts < max_attempts
      order by locked_at
      limit 1
      for update skip locked
    )
    update event_jobs j
    set locked_at = now(), locked_by = ${workerId}, attempts = j.attempts + 1
    from next where j.job_id = next.job_id
    returning j.*`;
  if (expired) return expired;
  // event_jobs_pending_idx (next_run_at, created_at) where status = 'PENDING'
  const [pending] = await sql<JobRow[]>`
    with next as (
      select job_id from event_jobs
      where status = 'PENDING' and next_run_at <= now()
      order by next_run_at, created_at
      limit 1
      for update skip locked
    )
    update event_jobs j
    set status = 'PROCESSING', locked_at = now(), locked_by = ${workerId}, attempts = j.attempts + 1
    from next where j.job_id = next.job_id
    returning j.*`;
  return pending;
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

/** Extends the lease of a job in hand; false when the job is no longer this worker's. */
export async function extendLease(sql: Sql, job: JobRow, workerId: string): Promise<boolean> {
  const result = await sql`
    update event_jobs set locked_at = now()
    where job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts} and status = 'PROCESSING'`;
  return result.count === 1;
}

/**
 * Locks the job row inside a transaction if it is still this worker's claim. The caller writes
 * its results in the same transaction, so nobody can take the job in between.
 */
export async function holdClaim(tx: Tx, job: JobRow, workerId: string): Promise<boolean> {
  const rows = await tx`
    select 1 from event_jobs
    where job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts} and status = 'PROCESSING'
    for update`;
  return rows.length === 1;
}

/** DONE keeps `locked_by` and `locked_at`: which worker did the job, and when it claimed it. */
export async function markDone(tx: Tx, job: JobRow): Promise<void> {
  await tx`
    update event_jobs
    set status = 'DONE', last_error_code = null, last_error_message = null
    where job_id = ${job.job_id}`;
}

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
    where job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts} and status = 'PROCESSING'`;
  return result.count === 1 ? status : undefined;
}

/** Gives a job back untouched (shutdown): PENDING, due now, the claim's attempt not counted. */
export async function releaseJob(sql: Sql, job: JobRow, workerId: string): Promise<boolean> {
  const result = await sql`
    update event_jobs
    set status = 'PENDING', locked_at = null, locked_by = null, attempts = greatest(attempts - 1, 0), next_run_at = now()
    where job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts} and status = 'PROCESSING'`;
  return result.count === 1;
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

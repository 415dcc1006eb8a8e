/**
 * The one statement that reads the state of the extraction queue, for /health, /metrics and
 * `memory check`. Workers run as separate processes (often several replicas) that serve no HTTP,
 * and the database is the one place where their work adds up.
 */
import type { Sql } from './connect.js';

export interface QueueStats {
  /** Jobs by status (statuses with no job are absent). */
  by_status: Record<string, number>;
  oldest_pending_seconds: number | null;
  /** Jobs whose last attempt failed, by error code (PENDING for retry or FAILED). */
  errors: Array<{ code: string; n: number }>;
  /** Claim-to-done seconds of the jobs finished in the last hour. */
  durations: { p50: number | null; p90: number | null; p99: number | null; n: number };
  events: Array<{ category: string; n: number }>;
  /** Workers seen within `recentSeconds`, with the age of their last heartbeat. */
  workers: Array<{ worker_id: string; age: number; done: number; failed: number }>;
}

export async function readQueueStats(sql: Sql, options: { recentSeconds: number }): Promise<QueueStats> {
  // The counts of unfinished jobs and the oldest pending one are served by the partial claim
  // indexes (sql/002); DONE rows are counted by a scan, which one row per revision keeps cheap.
  const [row] = await sql<Array<{ stats: QueueStats }>>`
    select json_build_object(
      'by_status', (select coalesce(json_object_agg(status, n), '{}') from
                     (select status, count(*)::int as n from event_jobs group by status) s),
      'oldest_pending_seconds', (select extract(epoch from now() - min(created_at))::float8
                                 from event_jobs where status = 'PENDING'),
      'errors', (select coalesce(json_agg(json_build_object('code', last_error_code, 'n', n)), '[]') from
                   (select last_error_code, count(*)::int as n from event_jobs
                    where last_error_code is not null group by last_error_code) e),
      'durations', (select json_build_object(
                       'p50', percentile_cont(0.5) within group (order by d),
                       'p90', percentile_cont(0.9) within group (order by d),
                       'p99', percentile_cont(0.99) within group (order by d),
                       'n', count(*))
                     from (select extract(epoch from updated_at - locked_at) as d from event_jobs
                           where status = 'DONE' and updated_at > now() - interval '1 hour') x),
      'events', (select coalesce(json_agg(json_build_object('category', category, 'n', n)), '[]') from
                   (select category, count(*)::int as n from semantic_event group by category) c),
      'workers', (select coalesce(json_agg(json_build_object('worker_id', worker_id,
                     'age', extract(epoch from now() - last_seen_at), 'done', jobs_done, 'failed', jobs_failed)), '[]')
                   from worker_heartbeat where last_seen_at > now() - make_interval(secs => ${options.recentSeconds}))
    ) as stats`;
  return row!.stats;
}

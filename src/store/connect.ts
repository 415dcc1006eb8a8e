import postgres from 'postgres';

export type Sql = postgres.Sql;
/** The handle inside `sql.begin(async (tx) => ...)`. */
export type Tx = postgres.TransactionSql;

export interface ConnectOptions {
  /** Pool size. PGlite serves one session, so the embedded mode passes 1. */
  max?: number;
  connectTimeoutSeconds?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /** Session settings for a queue worker's connections; see `WORKER_SESSION`. */
  settings?: Record<string, string>;
}

/**
 * Session settings of `memory work`, measured with the queue benchmark (docs/benchmarks.md):
 * - synchronous_commit off: a claim or completion lost in a Postgres crash only means the job
 *   runs again (its events and its DONE are written together), so the worker need not wait for
 *   each commit's flush (1,106 → 1,549 jobs/s with 4 workers). Ingest stays fully durable.
 * - plan_cache_mode force_custom_plan: a worker that starts on an empty queue otherwise keeps a
 *   generic claim plan that scans the whole table (294 vs 503 jobs/s for one worker).
 */
export const WORKER_SESSION = { synchronous_commit: 'off', plan_cache_mode: 'force_custom_plan' };

// A timestamptz as Postgres prints it with DateStyle ISO: `0001-01-01 00:00:00.123456+00`.
const PG_TIMESTAMPTZ = /^(\d{4})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::?(\d\d))?$/;

/**
 * Reads a timestamp Postgres sent. postgres.js hands the text to `new Date()`, whose legacy
 * (non-ISO) parser reads years 0001 to 0099 as 2001 to 1999: a revision dated year 1 came back
 * as 2001. Rewritten as ISO 8601 first, every year from 1 to 9999 round-trips.
 */
export function parseTimestamp(text: string): Date {
  const match = PG_TIMESTAMPTZ.exec(text);
  if (match === null) return new Date(text);
  const [, year, month, day, time, zoneHours, zoneMinutes] = match;
  return new Date(`${year}-${month}-${day}T${time}${zoneHours}:${zoneMinutes ?? '00'}`);
}

/**
 * Opens a postgres.js pool. Nothing connects until the first query. Notices (e.g. "relation
 * already exists, skipping") are dropped: they are noise in our logs, never errors.
 */
export function connect(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    idle_timeout: 60,
    onnotice: () => {},
    types: {
      // Replaces postgres.js's own date type (same oids, same serializer) for `parseTimestamp`.
      date: {
        to: 1184,
        from: [1082, 1114, 1184],
        serialize: (value: Date | string) => (value instanceof Date ? value : new Date(value)).toISOString(),
        parse: parseTimestamp,
      },
    },
    connection: { application_name: options.applicationName ?? 'memory', ...options.settings },
  });
}

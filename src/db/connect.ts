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
    connection: { application_name: options.applicationName ?? 'memory' },
  });
}

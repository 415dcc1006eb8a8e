/** `memory work`: a polling extraction worker against EVENTS_DB_DSN. */
import type { Config } from '../config.js';
import { createExtractor } from '../domain/extraction/extractors.js';
import { taggedLogger } from '../log.js';
import { Startup } from '../startup.js';
import { connect, WORKER_SESSION } from '../store/connect.js';
import { migrate } from '../store/migrate.js';
import { startWorker, workerPoolSize } from '../worker/worker.js';
import { stopOnSignals } from './signals.js';

const logger = taggedLogger('worker');

export async function runWorkCommand(config: Config, options: { graceMs: number }): Promise<void> {
  if (config.databaseUrl === undefined) {
    process.stderr.write(
      'memory: EVENTS_DB_DSN is not set: expected a postgres:// URL (`memory serve` runs a worker itself in embedded mode)\n',
    );
    process.exit(2);
  }
  const sql = connect(config.databaseUrl, {
    max: workerPoolSize(config.worker.concurrency),
    applicationName: `memory-worker ${config.worker.id}`,
    settings: WORKER_SESSION,
  });
  try {
    // Idempotent and serialised by an advisory lock: a worker started before `memory migrate`
    // finished waits for it instead of failing on a missing table; one started while Postgres
    // is down or restarting waits for it (STARTUP_TIMEOUT_SECONDS).
    const startup = new Startup(config.startupTimeoutSeconds, logger);
    await startup.waitFor('postgres', 'Start PostgreSQL or fix EVENTS_DB_DSN.', () => migrate(sql));
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
  const worker = startWorker({ config, sql, extractor: await createExtractor(config), listen: true });
  stopOnSignals(async () => {
    await worker.stop(options.graceMs);
    await sql.end({ timeout: 5 });
  }, logger);
}

/**
 * One worker process of the queue benchmark (bench/queue.ts starts W of them): the real
 * `startWorker` loop, as `memory work` runs it, with a no-op extractor, so the figures are the
 * queue's own cost (claim with its load, completion) and not a model's.
 *
 * Configured like `memory work`, through the environment, but only these variables are read
 * (a developer's `.env` or OPENAI_* settings must not change the figures): EVENTS_DB_DSN,
 * WORKER_ID, POLL_INTERVAL_MS, JOB_LEASE_SECONDS, WORKER_CONCURRENCY, LOG_LEVEL; plus BENCH_LISTEN=0
 * to run without LISTEN (polling only).
 *
 * Stops on SIGTERM/SIGINT, and also when its stdin closes: the parent holds the other end, so a
 * benchmark that crashes or is interrupted never leaves workers behind.
 */
import { loadConfig } from '../src/config.js';
import type { Extractor } from '../src/domain/extraction/types.js';
import { configureLogging } from '../src/log.js';
import { connect, WORKER_SESSION } from '../src/store/connect.js';
import { isMainModule } from './result.js';

export const noopExtractor: Extractor = { name: 'rules', extract: async () => [] };

async function main(): Promise<void> {
  const config = loadConfig({
    EVENTS_DB_DSN: process.env.EVENTS_DB_DSN,
    WORKER_ID: process.env.WORKER_ID,
    POLL_INTERVAL_MS: process.env.POLL_INTERVAL_MS,
    JOB_LEASE_SECONDS: process.env.JOB_LEASE_SECONDS,
    WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
  });
  configureLogging(config.logLevel);
  // Imported after the level is set, as the CLI does: a tagged logger (`log.withTag('worker')`,
  // created when its module loads) copies the level of that moment and does not follow later
  // changes. Imported before, LOG_LEVEL=WARN would still write an INFO line per job.
  const { startWorker, workerPoolSize } = await import('../src/worker/worker.js');
  if (config.databaseUrl === undefined)
    throw new Error('EVENTS_DB_DSN is not set: expected a postgres:// URL');
  // The pool of `memory work` (one connection per job in flight and one more; LISTEN takes one of
  // its own), with its session settings; BENCH_DURABLE=1 keeps commits waiting for their WAL
  // flush, to show what that costs.
  const sql = connect(config.databaseUrl, {
    max: workerPoolSize(config.worker.concurrency),
    applicationName: `bench-worker ${config.worker.id}`,
    settings:
      process.env.BENCH_DURABLE === '1' ? { ...WORKER_SESSION, synchronous_commit: 'on' } : WORKER_SESSION,
  });
  const worker = startWorker({
    config,
    sql,
    extractor: noopExtractor,
    listen: process.env.BENCH_LISTEN !== '0',
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await worker.stop(2000);
      await sql.end({ timeout: 2 });
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.stdin.on('close', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}

if (isMainModule(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}

/**
 * One graphile-worker process for the queue benchmark's peer comparison (bench/queue-peers.ts):
 * graphile-worker's own runner with BENCH_CONCURRENCY jobs at once and one no-op task. A job
 * whose payload has `p` (a pickup sample) reads its own row's `locked_at - created_at` on
 * Postgres's clock, as the benchmark does for the other queues, and prints `pickup <ms>`.
 *
 *   EVENTS_DB_DSN=... BENCH_CONCURRENCY=8 node dist/bench/queue-graphile-worker.js
 *
 * The schema is installed by the benchmark first (runMigrations). Prints `ready` once the runner
 * is up; stops on SIGTERM or when its stdin closes.
 */
import { Logger, run } from 'graphile-worker';

async function main(): Promise<void> {
  const url = process.env.EVENTS_DB_DSN;
  if (url === undefined) throw new Error('EVENTS_DB_DSN is not set');
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
  const silent = () => () => {};
  const runner = await run({
    connectionString: url,
    concurrency,
    maxPoolSize: concurrency + 2,
    pollInterval: Number(process.env.POLL_INTERVAL_MS ?? 1000),
    noHandleSignals: true,
    logger: new Logger(silent),
    taskList: {
      noop: async (payload, helpers) => {
        if ((payload as { p?: number } | null)?.p === undefined) return;
        const { rows } = await helpers.query<{ ms: number }>(
          `select (extract(epoch from locked_at - created_at) * 1000)::float8 as ms
           from graphile_worker._private_jobs where id = $1`,
          [helpers.job.id],
        );
        if (rows[0] !== undefined) process.stdout.write(`pickup ${rows[0].ms}\n`);
      },
    },
  });
  process.stdout.write('ready\n');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await Promise.race([runner.stop(), new Promise((r) => setTimeout(r, 3000))]);
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

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

/**
 * One process of the raw baseline in the queue benchmark's peer comparison (bench/queue-peers.ts):
 * the smallest correct `FOR UPDATE SKIP LOCKED` queue, with nothing of the product in it. One
 * table (`raw_jobs`), BENCH_CONCURRENCY loops on one postgres.js pool, each claiming the oldest
 * PENDING row in one statement, running a no-op and marking it DONE in a second; a NOTIFY on
 * `raw_jobs` wakes every idle loop, and each idle loop polls every POLL_INTERVAL_MS.
 *
 *   EVENTS_DB_DSN=... WORKER_ID=raw-1 BENCH_CONCURRENCY=8 node dist/bench/queue-raw-worker.js
 *
 * Prints `ready` once its LISTEN is in place; stops on SIGTERM or when its stdin closes.
 */
import postgres from 'postgres';
import { WORKER_SESSION } from '../src/store/connect.js';
import { isMainModule } from './result.js';

export const RAW_CHANNEL = 'raw_jobs';

/** The baseline's schema, created by the benchmark in its own database. */
export const RAW_SCHEMA = `
  create table raw_jobs (
    id bigserial primary key,
    status text not null default 'PENDING',
    payload jsonb,
    attempts int not null default 0,
    locked_by text,
    created_at timestamptz not null default now(),
    locked_at timestamptz
  );
  create index raw_jobs_pending_idx on raw_jobs (id) where status = 'PENDING';`;

async function main(): Promise<void> {
  const url = process.env.EVENTS_DB_DSN;
  if (url === undefined) throw new Error('EVENTS_DB_DSN is not set');
  const workerId = process.env.WORKER_ID ?? `raw-${process.pid}`;
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
  const pollMs = Number(process.env.POLL_INTERVAL_MS ?? 1000);
  // The same session settings as `memory work`, so that the comparison is of the code alone.
  const sql = postgres(url, {
    max: concurrency + 1,
    onnotice: () => {},
    connection: { application_name: `bench-worker ${workerId}`, ...WORKER_SESSION },
  });
  let running = true;
  const waiting = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of [...waiting]) wake();
  };
  const idle = () =>
    new Promise<void>((resolveIdle) => {
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        resolveIdle();
      };
      const timer = setTimeout(done, pollMs);
      waiting.add(done);
    });
  const loop = async () => {
    while (running) {
      const [job] = await sql<Array<{ id: string }>>`
        update raw_jobs set status = 'PROCESSING', locked_at = now(), locked_by = ${workerId},
                            attempts = attempts + 1
        where id = (select id from raw_jobs where status = 'PENDING' order by id limit 1 for update skip locked)
        returning id, payload`;
      if (job === undefined) {
        if (running) await idle();
        continue;
      }
      await sql`update raw_jobs set status = 'DONE' where id = ${job.id} and locked_by = ${workerId}`;
    }
  };
  await sql.listen(RAW_CHANNEL, wakeAll);
  const loops = Array.from({ length: concurrency }, () => loop());
  process.stdout.write('ready\n');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    running = false;
    wakeAll();
    try {
      await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 2000))]);
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

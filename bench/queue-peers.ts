/**
 * The extraction queue next to its peers, in one run (`node dist/bench/queue-peers.js [--quick]`):
 * `memory work` as shipped (2 processes, WORKER_CONCURRENCY at its default), graphile-worker
 * (2 processes x 8) and a raw `FOR UPDATE SKIP LOCKED` queue (2 processes x 8 loops,
 * bench/queue-raw-worker.ts), all with a no-op job, each on a fresh database.
 *
 * Throughput: the jobs are enqueued in one transaction with one NOTIFY to idle, warmed-up
 * processes; the time runs on Postgres's clock from just before that commit until a poll (every
 * 20 ms, the same for every queue) sees none left to do. Pickup: jobs enqueued one at a time,
 * each by one statement that inserts it and notifies (graphile-worker's `add_job`), 20 ms apart;
 * latency = `locked_at - created_at` of each job on Postgres's clock.
 *
 * Rounds alternate the order of the queues, so that a machine getting busier does not favour
 * one. Ratios are taken within a round. Every process is stopped and every database dropped in
 * `finally`; a worker process also exits when its parent goes (its stdin closes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Logger, runMigrations } from 'graphile-worker';
import { DEFAULT_WORKER_CONCURRENCY } from '../src/config.js';
import type { Sql } from '../src/store/connect.js';
import { JOB_CHANNEL } from '../src/store/jobs.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import { seedRevisions } from './queue.js';
import { RAW_CHANNEL, RAW_SCHEMA } from './queue-raw-worker.js';
import {
  type BenchOptions,
  type BenchResult,
  cleanupOnInterrupt,
  isMainModule,
  percentile,
  runAsScript,
  sleep,
  waitForExit,
} from './result.js';

const PROCESSES = 2;
const PEER_CONCURRENCY = 8;
const POLL_INTERVAL_MS = 1000;
const SPACING_MS = 20;
const DRAIN_POLL_MS = 20;
const WARMUP_PER_PROCESS = 200;
const GRAPHILE_VERSION = (
  JSON.parse(
    readFileSync(
      fileURLToPath(new URL('../../node_modules/graphile-worker/package.json', import.meta.url)),
      'utf8',
    ),
  ) as { version: string }
).version;

/** Targets for `memory work` as shipped, as ratios within one round. */
const TARGETS = { vsGraphile: 1.0, vsRaw: 0.8, pickupVsRaw: 1.5 };

interface Sizes {
  jobs: number;
  pickup: number;
  rounds: number;
}
const FULL: Sizes = { jobs: 10_000, pickup: 300, rounds: 2 };
const QUICK: Sizes = { jobs: 1000, pickup: 40, rounds: 1 };

// --- processes -----------------------------------------------------------------------------

interface Processes {
  /** Every stdout line of every process so far. */
  lines: string[];
  assertAlive(): void;
  stop(): Promise<void>;
}

/** Starts PROCESSES copies of `script` and resolves once `ready` says they are all up. */
async function spawnProcesses(
  script: string,
  envFor: (index: number) => Record<string, string>,
  ready: (processes: Processes) => Promise<boolean>,
): Promise<Processes> {
  const children: Array<{ child: ChildProcess; stderr: string[]; stopping: boolean }> = [];
  const processes: Processes = {
    lines: [],
    assertAlive() {
      for (const c of children) {
        if (!c.stopping && (c.child.exitCode !== null || c.child.signalCode !== null)) {
          throw new Error(
            `${script} exited (${c.child.exitCode ?? c.child.signalCode}): ${c.stderr.join('').slice(-2000)}`,
          );
        }
      }
    },
    async stop() {
      await Promise.all(
        children.map(async (c) => {
          c.stopping = true;
          c.child.stdin?.end();
          c.child.kill('SIGTERM');
          if (!(await waitForExit(c.child, 5000))) {
            c.child.kill('SIGKILL');
            await waitForExit(c.child, 2000);
          }
        }),
      );
    },
  };
  try {
    for (let i = 0; i < PROCESSES; i++) {
      const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
        env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'WARN', ...envFor(i) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const entry = { child, stderr: [] as string[], stopping: false };
      let partial = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        processes.lines.push(...parts);
      });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        entry.stderr.push(chunk);
        if (entry.stderr.length > 50) entry.stderr.shift();
      });
      child.on('error', (error) => entry.stderr.push(`spawn failed: ${error.message}`));
      children.push(entry);
    }
    const deadline = Date.now() + 30_000;
    while (!(await ready(processes))) {
      processes.assertAlive();
      if (Date.now() > deadline) throw new Error(`${script}: not every process started in 30 s`);
      await sleep(50);
    }
    return processes;
  } catch (error) {
    await processes.stop();
    throw error;
  }
}

const printedReady = (processes: Processes) =>
  Promise.resolve(processes.lines.filter((line) => line === 'ready').length >= PROCESSES);

// --- the queues ----------------------------------------------------------------------------

interface Queue {
  name: string;
  /** Processes x jobs in flight per process. */
  shape: string;
  /** Schema and whatever the jobs need, for `warmup + jobs + pickup` jobs. */
  prepare(db: TestDatabase, sizes: Sizes, warmup: number): Promise<void>;
  start(db: TestDatabase, round: number): Promise<Processes>;
  /** Enqueues a batch in one transaction with one NOTIFY; returns Postgres's clock before the commit. */
  enqueueBatch(sql: Sql, batch: 'warmup' | 'throughput', count: number): Promise<Date>;
  enqueueOne(sql: Sql, index: number): Promise<void>;
  busy(sql: Sql): Promise<boolean>;
  pickups(sql: Sql, processes: Processes): Promise<number[]>;
}

async function clockBeforeCommit(tx: Sql): Promise<Date> {
  const [row] = await tx<Array<{ t: Date }>>`select clock_timestamp() as t`;
  return row!.t;
}

/** `memory work` (bench/queue-worker.ts: the real worker loop, no-op extractor). */
function memoryQueue(concurrency: number | undefined): Queue {
  const pickupIds: Array<{ uid: string; rev: string }> = [];
  return {
    name:
      concurrency === undefined
        ? `memory work, as shipped (WORKER_CONCURRENCY default ${DEFAULT_WORKER_CONCURRENCY})`
        : `memory work, WORKER_CONCURRENCY=${concurrency}`,
    shape: `${PROCESSES} x ${concurrency ?? DEFAULT_WORKER_CONCURRENCY}`,
    async prepare(db, sizes, warmup) {
      await seedRevisions(db.sql, warmup, 'bench-warmup', 1);
      await seedRevisions(db.sql, sizes.jobs, 'bench-throughput', warmup + 1);
      await seedRevisions(db.sql, sizes.pickup, 'bench-pickup', warmup + sizes.jobs + 1);
      const rows = await db.sql<Array<{ uid: string; rev: string }>>`
        select artifact_uid as uid, revision_id as rev from artifact_revision
        where source_system = 'bench-pickup' order by artifact_uid`;
      pickupIds.push(...rows);
      await db.sql`analyze`;
    },
    start(db, round) {
      const ids = Array.from({ length: PROCESSES }, (_, i) => `bench-memory-${round}-${i + 1}`);
      return spawnProcesses(
        './queue-worker.js',
        (i) => ({
          EVENTS_DB_DSN: db.url,
          WORKER_ID: ids[i]!,
          POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
          ...(concurrency === undefined ? {} : { WORKER_CONCURRENCY: String(concurrency) }),
        }),
        async () => {
          const [row] = await db.sql<Array<{ n: number }>>`
            select count(*)::int as n from worker_heartbeat where worker_id = any(${ids})`;
          return (row?.n ?? 0) >= PROCESSES;
        },
      );
    },
    enqueueBatch(sql, batch) {
      return sql.begin(async (tx) => {
        await tx`
          insert into event_jobs (artifact_uid, revision_id)
          select artifact_uid, revision_id from artifact_revision
          where source_system = ${`bench-${batch}`} order by artifact_uid`;
        await tx`select pg_notify(${JOB_CHANNEL}, 'batch')`;
        return clockBeforeCommit(tx as unknown as Sql);
      });
    },
    async enqueueOne(sql, index) {
      const { uid, rev } = pickupIds[index]!;
      await sql`
        with job as (insert into event_jobs (artifact_uid, revision_id) values (${uid}, ${rev}) returning job_id)
        select pg_notify(${JOB_CHANNEL}, (select job_id::text from job))`;
    },
    async busy(sql) {
      const [row] = await sql<Array<{ busy: boolean }>>`
        select exists (select 1 from event_jobs where status = 'PENDING')
            or exists (select 1 from event_jobs where status = 'PROCESSING') as busy`;
      return row?.busy !== false;
    },
    async pickups(sql) {
      const rows = await sql<Array<{ ms: number }>>`
        select (extract(epoch from j.locked_at - j.created_at) * 1000)::float8 as ms
        from event_jobs j join artifact_revision r using (artifact_uid, revision_id)
        where r.source_system = 'bench-pickup' and j.status = 'DONE'`;
      return rows.map((row) => row.ms);
    },
  };
}

/** graphile-worker's runner (bench/queue-graphile-worker.ts), its `add_job` / `add_jobs`. */
function graphileQueue(): Queue {
  return {
    name: `graphile-worker ${GRAPHILE_VERSION}`,
    shape: `${PROCESSES} x ${PEER_CONCURRENCY}`,
    async prepare(db) {
      await runMigrations({ connectionString: db.url, logger: new Logger(() => () => {}) });
    },
    start(db) {
      return spawnProcesses(
        './queue-graphile-worker.js',
        () => ({
          // The session settings of `memory work` (synchronous_commit off), so that the
          // comparison is of the code and not of durability.
          EVENTS_DB_DSN: `${db.url}?options=${encodeURIComponent('-c synchronous_commit=off')}`,
          BENCH_CONCURRENCY: String(PEER_CONCURRENCY),
          POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
        }),
        printedReady,
      );
    },
    enqueueBatch(sql, _batch, count) {
      return sql.begin(async (tx) => {
        await tx`
          select graphile_worker.add_jobs(array(
            select row('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
            from generate_series(1, ${count}::int)))`;
        return clockBeforeCommit(tx as unknown as Sql);
      });
    },
    async enqueueOne(sql) {
      await sql`select graphile_worker.add_job('noop', '{"p":1}'::json)`;
    },
    async busy(sql) {
      const [row] = await sql<Array<{ busy: boolean }>>`
        select exists (select 1 from graphile_worker._private_jobs) as busy`;
      return row?.busy !== false;
    },
    async pickups(_sql, processes) {
      return processes.lines
        .filter((line) => line.startsWith('pickup '))
        .map((line) => Number(line.slice(7)));
    },
  };
}

/** The smallest correct SKIP LOCKED queue (bench/queue-raw-worker.ts). */
function rawQueue(): Queue {
  return {
    name: 'raw FOR UPDATE SKIP LOCKED',
    shape: `${PROCESSES} x ${PEER_CONCURRENCY}`,
    async prepare(db) {
      await db.sql.unsafe(RAW_SCHEMA);
      await db.sql.unsafe(
        `create index raw_jobs_active_idx on raw_jobs (id) where status in ('PENDING', 'PROCESSING')`,
      );
    },
    start(db, round) {
      return spawnProcesses(
        './queue-raw-worker.js',
        (i) => ({
          EVENTS_DB_DSN: db.url,
          WORKER_ID: `bench-raw-${round}-${i + 1}`,
          BENCH_CONCURRENCY: String(PEER_CONCURRENCY),
          POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
        }),
        printedReady,
      );
    },
    enqueueBatch(sql, _batch, count) {
      return sql.begin(async (tx) => {
        await tx`insert into raw_jobs (payload) select '{}'::jsonb from generate_series(1, ${count}::int)`;
        await tx`select pg_notify(${RAW_CHANNEL}, 'batch')`;
        return clockBeforeCommit(tx as unknown as Sql);
      });
    },
    async enqueueOne(sql) {
      await sql`
        with job as (insert into raw_jobs (payload) values ('{"p":1}') returning id)
        select pg_notify(${RAW_CHANNEL}, (select id::text from job))`;
    },
    async busy(sql) {
      const [row] = await sql<Array<{ busy: boolean }>>`
        select exists (select 1 from raw_jobs where status in ('PENDING', 'PROCESSING')) as busy`;
      return row?.busy !== false;
    },
    async pickups(sql) {
      const rows = await sql<Array<{ ms: number }>>`
        select (extract(epoch from locked_at - created_at) * 1000)::float8 as ms
        from raw_jobs where payload ? 'p' and status = 'DONE'`;
      return rows.map((row) => row.ms);
    },
  };
}

// --- measuring -----------------------------------------------------------------------------

/** Polls until the queue has nothing left to do; returns Postgres's clock at that poll. */
async function drain(queue: Queue, sql: Sql, processes: Processes, deadlineMs: number): Promise<Date> {
  for (;;) {
    processes.assertAlive();
    const [clock] = await sql<Array<{ t: Date }>>`select clock_timestamp() as t`;
    if (!(await queue.busy(sql))) return clock!.t;
    if (Date.now() > deadlineMs) throw new Error(`${queue.name}: the queue did not drain in time`);
    await sleep(DRAIN_POLL_MS);
  }
}

interface Measured {
  jobsPerSecond: number;
  pickup: number[];
}

async function measure(queue: Queue, sizes: Sizes, round: number): Promise<Measured> {
  const db = await createTestDatabase();
  const unregister = cleanupOnInterrupt(() => db.drop());
  let processes: Processes | undefined;
  try {
    const warmup = PROCESSES * WARMUP_PER_PROCESS;
    await queue.prepare(db, sizes, warmup);
    processes = await queue.start(db, round);
    await queue.enqueueBatch(db.sql, 'warmup', warmup);
    await drain(queue, db.sql, processes, Date.now() + 60_000);

    const started = await queue.enqueueBatch(db.sql, 'throughput', sizes.jobs);
    const finished = await drain(queue, db.sql, processes, Date.now() + 60_000 + sizes.jobs * 20);
    const jobsPerSecond = sizes.jobs / ((finished.getTime() - started.getTime()) / 1000);

    const t0 = performance.now();
    for (let i = 0; i < sizes.pickup; i++) {
      const wait = t0 + i * SPACING_MS - performance.now();
      if (wait > 0) await sleep(wait);
      await queue.enqueueOne(db.sql, i);
    }
    await drain(queue, db.sql, processes, Date.now() + 10_000 + 2 * POLL_INTERVAL_MS);
    // The graphile-worker processes print their samples as they go: wait for the last lines.
    const deadline = Date.now() + 5000;
    let pickup = await queue.pickups(db.sql, processes);
    while (pickup.length < sizes.pickup && Date.now() < deadline) {
      await sleep(50);
      pickup = await queue.pickups(db.sql, processes);
    }
    return { jobsPerSecond, pickup };
  } finally {
    await processes?.stop();
    await db.drop();
    unregister();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const sizes = options.quick ? QUICK : FULL;
  const shipped = memoryQueue(undefined);
  const queues = [shipped, memoryQueue(PEER_CONCURRENCY), graphileQueue(), rawQueue()];
  const rows: BenchResult['rows'] = [];
  const verdicts: Array<{ vsGraphile: number; vsRaw: number; pickupVsRaw: number }> = [];
  for (let round = 1; round <= sizes.rounds; round++) {
    const order = round % 2 === 1 ? queues : [...queues].reverse();
    const results = new Map<Queue, Measured>();
    for (const queue of order) results.set(queue, await measure(queue, sizes, round));
    const graphile = results.get(queues[2]!)!;
    const raw = results.get(queues[3]!)!;
    const rawP95 = percentile(raw.pickup, 0.95);
    for (const queue of queues) {
      const m = results.get(queue)!;
      const p95 = percentile(m.pickup, 0.95);
      rows.push({
        round,
        queue: queue.name,
        'processes x in flight': queue.shape,
        'jobs/s': m.jobsPerSecond,
        'x graphile-worker': m.jobsPerSecond / graphile.jobsPerSecond,
        'x raw': m.jobsPerSecond / raw.jobsPerSecond,
        'pickup samples': m.pickup.length,
        'pickup p50 ms': percentile(m.pickup, 0.5),
        'pickup p95 ms': p95,
        'pickup p95 x raw': p95 / rawP95,
      });
    }
    const ours = results.get(shipped)!;
    verdicts.push({
      vsGraphile: ours.jobsPerSecond / graphile.jobsPerSecond,
      vsRaw: ours.jobsPerSecond / raw.jobsPerSecond,
      pickupVsRaw: percentile(ours.pickup, 0.95) / rawP95,
    });
  }
  const range = (values: number[]) => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? lo.toFixed(2) : `${lo.toFixed(2)}-${hi.toFixed(2)}`;
  };
  const verdict = (values: number[], ok: (v: number) => boolean) => {
    const met = values.filter(ok).length;
    return met === values.length ? 'met' : `MISSED in ${values.length - met} of ${values.length} rounds`;
  };
  const vg = verdicts.map((v) => v.vsGraphile);
  const vr = verdicts.map((v) => v.vsRaw);
  const pr = verdicts.map((v) => v.pickupVsRaw);
  return [
    {
      name: `Queue next to its peers, no-op jobs (${sizes.jobs} jobs, ${sizes.pickup} pickups, ${sizes.rounds} round(s))`,
      rows,
      notes: [
        `Each queue on a fresh database, ${PROCESSES} worker processes warmed up on ${WARMUP_PER_PROCESS} jobs each; POLL_INTERVAL_MS=${POLL_INTERVAL_MS} everywhere, LISTEN/NOTIFY wake-ups everywhere.`,
        "jobs/s: jobs / (Postgres's clock from just before the enqueueing commit to the poll, every 20 ms, that found nothing left).",
        `Pickup: jobs enqueued one by one, ${SPACING_MS} ms apart, each by one statement that inserts and notifies; latency = locked_at - created_at on Postgres's clock.`,
        'Every queue runs with synchronous_commit off (the session setting of `memory work`), so that durability is the same for all three.',
        'memory work claims as many jobs per statement as it has free slots, loading their revisions, and marks jobs that found no events and finish together DONE in one guarded statement; the raw queue has no lease checks, retries, revision load or heartbeat.',
      ],
    },
    {
      name: 'Queue targets, memory work as shipped (ratios within each round)',
      rows: [
        {
          measure: 'jobs/s x graphile-worker (2 x 8)',
          target: `>= ${TARGETS.vsGraphile}`,
          ratios: range(vg),
          verdict: verdict(vg, (v) => v >= TARGETS.vsGraphile),
        },
        {
          measure: 'jobs/s x raw SKIP LOCKED (2 x 8)',
          target: `>= ${TARGETS.vsRaw}`,
          ratios: range(vr),
          verdict: verdict(vr, (v) => v >= TARGETS.vsRaw),
        },
        {
          measure: 'pickup p95 x raw SKIP LOCKED',
          target: `<= ${TARGETS.pickupVsRaw}`,
          ratios: range(pr),
          verdict: verdict(pr, (v) => v <= TARGETS.pickupVsRaw),
        },
      ],
    },
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

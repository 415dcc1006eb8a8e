/**
 * Queue benchmark: throughput of the extraction queue and the latency from enqueue to claim.
 *
 *   npm run build && node dist/bench/queue.js [--quick]
 *
 * Throughput: N revisions (one short unchunked note each, as `artifact_ingest` stores it) are
 * seeded with SQL, next to a history of N finished jobs (a queue that has been working for a
 * while, analyzed); W worker processes (bench/queue-worker.ts: the real `startWorker` loop with a
 * no-op extractor, LISTEN on) are started, warmed up on a small batch of jobs, and wait idle; then
 * the N jobs are inserted in one transaction with one NOTIFY, and we wait until none is PENDING or
 * PROCESSING. The time is taken on Postgres's clock, from just before that commit to the last
 * completion (`updated_at` of the last DONE job), so neither process start-up nor the 50 ms
 * completion poll is in the figure. The CPU time of the worker processes and of their Postgres
 * backends is read from /proc. Each row has a fresh migrated database. Rows (see VARIANTS): the
 * product as `memory work` runs (its session settings, WORKER_SESSION) at W = 1, 2, 4; then 4
 * workers whose commits wait for the WAL flush (what synchronous_commit off buys); last, one
 * worker that starts on an empty queue (no history, statistics of an empty table).
 *
 * Pickup latency: with the same W workers idle, jobs are enqueued one at a time exactly as
 * `artifact_ingest` does (`writeRevision`: one transaction, revision + text + job + pg_notify),
 * 20 ms apart; latency = `locked_at - created_at` of each job, both stamped by Postgres.
 * `created_at` is the start of the enqueueing transaction, so the figure includes the rest of
 * that transaction and its commit (a WAL flush). Then the same with W fresh workers that do not
 * LISTEN (polling every POLL_INTERVAL_MS = 1000 ms; jobs 50 ms apart so that the samples span a
 * few poll cycles), which is what NOTIFY buys.
 *
 * Step profile: one in-process loop on one connection that runs the worker's queries for each
 * job in turn (claimJobs, which claims and loads; completeJobsWithoutEvents) and times each, durable and with
 * `synchronous_commit = off` (the share of the WAL flushes), one job per claim; then with the
 * session settings of `memory work` (WORKER_SESSION: every statement planned afresh), one job
 * per claim and four, which is what a worker with four free slots claims at once. src/ is never
 * changed: every alternative is a setting or an index change inside the benchmark's own database.
 *
 * Everything is bounded: every wait has a deadline, worker processes are stopped (SIGTERM, then
 * SIGKILL) and databases dropped in `finally`, and a worker exits by itself when its parent goes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { anchorEvents } from '../src/domain/extraction/anchor.js';
import { connect, type Sql, WORKER_SESSION } from '../src/store/connect.js';
import { claimJobs, completeJobsWithoutEvents, JOB_CHANNEL } from '../src/store/jobs.js';
import { type NewRevision, writeRevision } from '../src/store/revisions.js';
import { extractionInput } from '../src/worker/worker.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import { noopExtractor } from './queue-worker.js';
import {
  type BenchOptions,
  type BenchResult,
  cleanupOnInterrupt,
  isMainModule,
  mean,
  percentile,
  runAsScript,
  sleep,
  waitForExit,
} from './result.js';

const WORKER_SCRIPT = fileURLToPath(new URL('./queue-worker.js', import.meta.url));
const POLL_INTERVAL_MS = 1000;
const CORES = availableParallelism();
const LEASE_SECONDS = 600;
const WORKER_COUNTS = [1, 2, 4] as const;
/** Enqueue spacing with NOTIFY; polling uses a wider one so the samples cover several poll cycles. */
const NOTIFY_SPACING_MS = 20;
const POLL_SPACING_MS = 50;
const THROUGHPUT_TARGET = 1500;
const PICKUP_P95_TARGET_MS = 25;

interface Sizes {
  jobs: number;
  pickupNotify: number;
  pickupPoll: number;
  profileJobs: number;
}

const FULL: Sizes = { jobs: 10_000, pickupNotify: 300, pickupPoll: 60, profileJobs: 2000 };
const QUICK: Sizes = { jobs: 1000, pickupNotify: 50, pickupPoll: 20, profileJobs: 300 };
/** Jobs per worker run before the measured batch, so JIT warm-up is not in the figure. */
const WARMUP_JOBS_PER_WORKER = 100;

interface Variant {
  /**
   * No history: the workers start (and warm up) on an empty, analyzed queue before the burst.
   * Each worker connection prepares its claim statement while event_jobs has a page or two; the
   * workers' plan_cache_mode = force_custom_plan keeps Postgres from reusing a generic plan
   * built for that size (a sequential scan) for the whole burst.
   */
  coldStart?: boolean;
  /** The workers' commits wait for their WAL flush (synchronous_commit on), for contrast. */
  durable?: boolean;
  /** Also measure pickup latency (the product as it is only). */
  pickup?: boolean;
  workers: readonly number[];
}

const VARIANTS: Variant[] = [
  { pickup: true, workers: WORKER_COUNTS },
  { durable: true, workers: [4] },
  { coldStart: true, workers: [1] },
];

function variantName(variant: Variant): string {
  const parts = ['memory work sessions'];
  if (variant.durable) parts.push('but synchronous_commit on');
  if (variant.coldStart) parts.push('cold start on an empty queue');
  return parts.join(', ');
}

// --- worker processes ----------------------------------------------------------------------

interface WorkerPool {
  ids: string[];
  /** Process ids of the worker processes. */
  pids: number[];
  /** Throws when a worker exited on its own (with the end of its stderr). */
  assertAlive(): void;
  stop(): Promise<void>;
}

/**
 * Starts `count` worker processes and resolves once each has written its heartbeat, which it
 * does after its LISTEN is in place: from then on a NOTIFY reaches every one of them.
 */
async function startWorkers(
  db: TestDatabase,
  count: number,
  options: { listen: boolean; tag: string; durable?: boolean },
): Promise<WorkerPool> {
  const children: Array<{ id: string; child: ChildProcess; stderr: string[]; stopping: boolean }> = [];
  const pool: WorkerPool = {
    ids: [],
    pids: [],
    assertAlive() {
      for (const c of children) {
        if (!c.stopping && (c.child.exitCode !== null || c.child.signalCode !== null)) {
          throw new Error(
            `bench worker ${c.id} exited (${c.child.exitCode ?? c.child.signalCode}): ${c.stderr.join('').slice(-2000)}`,
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
    for (let i = 0; i < count; i++) {
      const id = `bench-${options.tag}-${i + 1}`;
      const child = spawn(process.execPath, [WORKER_SCRIPT], {
        env: {
          ...process.env,
          EVENTS_DB_DSN: db.url,
          WORKER_ID: id,
          POLL_INTERVAL_MS: String(POLL_INTERVAL_MS),
          JOB_LEASE_SECONDS: String(LEASE_SECONDS),
          LOG_LEVEL: 'WARN',
          BENCH_LISTEN: options.listen ? '1' : '0',
          BENCH_DURABLE: options.durable ? '1' : '0',
        },
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      const entry = { id, child, stderr: [] as string[], stopping: false };
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        entry.stderr.push(chunk);
        if (entry.stderr.length > 50) entry.stderr.shift();
      });
      child.on('error', (error) => entry.stderr.push(`spawn failed: ${error.message}`));
      children.push(entry);
      pool.ids.push(id);
      if (child.pid !== undefined) pool.pids.push(child.pid);
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      pool.assertAlive();
      const [row] = await db.sql<Array<{ ready: number }>>`
        select count(*)::int as ready from worker_heartbeat where worker_id = any(${pool.ids})`;
      if ((row?.ready ?? 0) >= count) return pool;
      if (Date.now() > deadline)
        throw new Error(`only ${row?.ready ?? 0} of ${count} bench workers started in 30 s`);
      await sleep(50);
    }
  } catch (error) {
    await pool.stop();
    throw error;
  }
}

// --- seeding -------------------------------------------------------------------------------

/**
 * N short unchunked revisions with their text, the rows `artifact_ingest` writes for a note
 * (ids in the formats the schema checks; `source_system` tells the seeded ones apart).
 */
export async function seedRevisions(
  sql: Sql,
  count: number,
  sourceSystem: string,
  firstId = 1,
): Promise<void> {
  await sql`
    insert into artifact_revision (artifact_uid, revision_id, artifact_id, artifact_type, source_system,
                                   source_id, content_hash, token_count, is_chunked, chunk_count)
    select 'uid_' || lpad(to_hex(i), 16, '0'), 'rev_' || lpad(to_hex(i), 16, '0'),
           'art_' || lpad(to_hex(i), 16, '0'), 'note', ${sourceSystem}, 'note-' || i, md5(i::text), 24, false, 0
    from generate_series(${firstId}::int, ${firstId + count - 1}::int) as i`;
  await sql`
    insert into artifact_content (artifact_uid, revision_id, content)
    select artifact_uid, revision_id,
           'Note ' || source_id || ': Alice will send the pricing review to Bob by Friday; the team decided to ship the beta.'
    from artifact_revision where source_system = ${sourceSystem}`;
}

/**
 * A queue that has been working for a while: `count` finished jobs (DONE, with their revisions).
 * Claiming must not get slower with them (sql/002: partial indexes), and with them the
 * statistics describe a table of some size, as they do in production.
 */
async function seedHistory(sql: Sql, count: number, firstId: number): Promise<void> {
  await seedRevisions(sql, count, 'bench-history', firstId);
  await sql`
    insert into event_jobs (artifact_uid, revision_id, status, attempts, locked_at, locked_by, next_run_at, created_at)
    select artifact_uid, revision_id, 'DONE', 1, now() - interval '1 hour', 'bench-history',
           now() - interval '2 hours', now() - interval '2 hours'
    from artifact_revision where source_system = 'bench-history'`;
}

function randomHex16(): string {
  // A leading 'f' keeps these apart from the seeded ids (small integers, zero-padded).
  return `f${randomBytes(8).toString('hex').slice(1)}`;
}

function pickupRevision(): { revision: NewRevision; content: string } {
  const hex = randomHex16();
  const content = `Pickup ${hex}: Carol agreed to review the onboarding flow next week.`;
  return {
    revision: {
      artifact_uid: `uid_${hex}`,
      revision_id: `rev_${hex}`,
      artifact_id: `art_${hex}`,
      artifact_type: 'note',
      source_system: 'bench-pickup',
      source_id: hex,
      source_url: null,
      source_ts: new Date(),
      title: null,
      author: null,
      participants: [],
      content_hash: hex,
      token_count: 16,
      is_chunked: false,
      chunk_count: 0,
      sensitivity: 'normal',
      visibility_scope: 'me',
      retention_policy: 'forever',
    },
    content,
  };
}

// --- measurements --------------------------------------------------------------------------

/** Waits until no job is PENDING or PROCESSING; false when the deadline passed first. */
async function waitForDrain(sql: Sql, pool: WorkerPool, deadlineMs: number): Promise<boolean> {
  for (;;) {
    pool.assertAlive();
    // event_jobs_pending_idx / event_jobs_processing_idx: stops at the first unfinished job.
    const [row] = await sql<Array<{ busy: boolean }>>`
      select exists (select 1 from event_jobs where status = 'PENDING')
          or exists (select 1 from event_jobs where status = 'PROCESSING') as busy`;
    if (row?.busy === false) return true;
    if (Date.now() > deadlineMs) return false;
    await sleep(50);
  }
}

// --- CPU accounting (Linux /proc; blank elsewhere) --------------------------------------------

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** User + system CPU time of a process so far, in ms; undefined when it cannot be read. */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The server processes serving the bench workers' connections (pool and LISTEN). */
async function workerBackendPids(sql: Sql, database: string): Promise<number[]> {
  const rows = await sql<Array<{ pid: number }>>`
    select pid from pg_stat_activity where datname = ${database} and application_name like 'bench-worker%'`;
  return rows.map((row) => row.pid);
}

/** CPU ms used by these processes since `before` (a process not in `before` counts from its start). */
function cpuSince(before: Map<number, number>, pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const now = processCpuMs(pid);
    if (now === undefined) return undefined;
    total += now - (before.get(pid) ?? 0);
  }
  return total;
}

function cpuSnapshot(pids: readonly number[]): Map<number, number> {
  const snapshot = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== undefined) snapshot.set(pid, ms);
  }
  return snapshot;
}

interface Throughput {
  seconds: number;
  done: number;
  failed: number;
  drained: boolean;
  /** CPU of the worker processes (Node) and of their Postgres backends during the run. */
  nodeCpuMs: number | undefined;
  postgresCpuMs: number | undefined;
}

/** Enqueues every revision of `sourceSystem` in one transaction with one NOTIFY; returns the clock before its commit. */
async function enqueueAll(sql: Sql, sourceSystem: string): Promise<Date> {
  return sql.begin(async (tx) => {
    await tx`
      insert into event_jobs (artifact_uid, revision_id)
      select artifact_uid, revision_id from artifact_revision
      where source_system = ${sourceSystem} order by artifact_uid`;
    await tx`select pg_notify(${JOB_CHANNEL}, 'batch')`;
    const [row] = await tx<Array<{ t: Date }>>`select clock_timestamp() as t`;
    return row!.t;
  });
}

async function measureThroughput(db: TestDatabase, pool: WorkerPool, jobs: number): Promise<Throughput> {
  const { sql } = db;
  await enqueueAll(sql, 'bench-warmup');
  if (!(await waitForDrain(sql, pool, Date.now() + 60_000)))
    throw new Error('the warm-up jobs did not drain in 60 s');
  const [warm] = await sql<
    Array<{ done: number }>
  >`select count(*)::int as done from event_jobs where status = 'DONE'`;
  const backendsBefore = await workerBackendPids(sql, db.name);
  const nodeBefore = cpuSnapshot(pool.pids);
  const postgresBefore = cpuSnapshot(backendsBefore);
  const started = await enqueueAll(sql, 'bench-throughput');
  // Bounded at 50 jobs/s (10k jobs: 260 s): anything slower is a failure worth stopping, and the
  // row then says the queue did not drain.
  const drained = await waitForDrain(sql, pool, Date.now() + 60_000 + jobs * 20);
  const nodeCpuMs = cpuSince(nodeBefore, pool.pids);
  // Connections opened during the run (a second pool connection for a heartbeat) count whole.
  const backendsAfter = new Set([...backendsBefore, ...(await workerBackendPids(sql, db.name))]);
  const postgresCpuMs = cpuSince(postgresBefore, [...backendsAfter]);
  const [row] = await sql<Array<{ seconds: number; done: number; failed: number }>>`
    select extract(epoch from max(updated_at) filter (where status = 'DONE') - ${started}::timestamptz)::float8 as seconds,
           count(*) filter (where status = 'DONE')::int as done,
           count(*) filter (where status = 'FAILED')::int as failed
    from event_jobs`;
  return {
    seconds: row?.seconds ?? Number.NaN,
    done: (row?.done ?? 0) - (warm?.done ?? 0),
    failed: row?.failed ?? 0,
    drained,
    nodeCpuMs,
    postgresCpuMs,
  };
}

interface Pickup {
  latencies: number[];
  /** Client-side duration of each enqueueing call (writeRevision: the transaction and its commit). */
  enqueueMs: number[];
  missing: number;
}

/** Enqueues `count` jobs one at a time, `spacingMs` apart, as `artifact_ingest` does. */
async function measurePickup(sql: Sql, pool: WorkerPool, count: number, spacingMs: number): Promise<Pickup> {
  const jobIds: string[] = [];
  const enqueueMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + i * spacingMs - performance.now();
    if (wait > 0) await sleep(wait);
    const { revision, content } = pickupRevision();
    const t = performance.now();
    const job = await writeRevision(sql, revision, content, [], 5);
    enqueueMs.push(performance.now() - t);
    jobIds.push(job.job_id);
  }
  await waitForDrain(sql, pool, Date.now() + 5000 + 2 * POLL_INTERVAL_MS);
  const rows = await sql<Array<{ ms: number }>>`
    select (extract(epoch from locked_at - created_at) * 1000)::float8 as ms
    from event_jobs where job_id = any(${jobIds}) and status = 'DONE'`;
  return { latencies: rows.map((row) => row.ms), enqueueMs, missing: count - rows.length };
}

function pickupRow(workers: number, wakeUp: string, pickup: Pickup): Record<string, string | number> {
  const p95 = percentile(pickup.latencies, 0.95);
  return {
    workers,
    'wake-up': wakeUp,
    jobs: pickup.latencies.length,
    'p50 ms': percentile(pickup.latencies, 0.5),
    'p95 ms': p95,
    'max ms': Math.max(...pickup.latencies),
    'enqueue call p50 ms': percentile(pickup.enqueueMs, 0.5),
    ...(pickup.missing > 0 ? { 'not picked up': pickup.missing } : {}),
    target: wakeUp === 'NOTIFY' ? (p95 <= PICKUP_P95_TARGET_MS ? 'met' : 'MISSED') : '',
  };
}

// --- step profile --------------------------------------------------------------------------

type StepTimes = Map<string, number[]>;

function recorder(steps: readonly string[]) {
  const times: StepTimes = new Map(steps.map((step) => [step, []]));
  return {
    times,
    /** Records a statement started at `started` as an equal share for each of its `jobs`. */
    shareOut(step: string, started: number, jobs: number): void {
      const share = (performance.now() - started) / jobs;
      for (let i = 0; i < jobs; i++) times.get(step)!.push(share);
    },
  };
}

const CLAIM_STEP = 'claim + load (claimJobs)';
const COMPLETE_STEP = 'complete (completeJobsWithoutEvents)';

/**
 * The worker's queries, in order, on one connection, each timed: the store functions
 * `startWorker` calls (claimJobs: one statement that claims `perClaim` jobs and loads their
 * revisions; the no-op extraction; completeJobsWithoutEvents: one guarded statement for the jobs
 * of that claim, as the worker's jobs that finish in the same turn share one). Each statement's
 * time is shared out among its jobs. At most `limit` jobs.
 */
async function profileWorkerQueries(sql: Sql, limit: number, perClaim: number): Promise<StepTimes> {
  const workerId = 'profile';
  const { times, shareOut } = recorder([CLAIM_STEP, COMPLETE_STEP]);
  for (let n = 0; n < limit; ) {
    let t = performance.now();
    const claims = await claimJobs(sql, workerId, LEASE_SECONDS, Math.min(perClaim, limit - n));
    if (claims.length === 0) break;
    shareOut(CLAIM_STEP, t, claims.length);
    for (const claim of claims) {
      const input = extractionInput(claim);
      const anchored = anchorEvents(await noopExtractor.extract(input), input.chunks);
      if (anchored.events.length > 0) throw new Error('the no-op extractor found events');
    }
    t = performance.now();
    const done = await completeJobsWithoutEvents(
      sql,
      claims.map((claim) => claim.job),
      workerId,
    );
    shareOut(COMPLETE_STEP, t, claims.length);
    if (done.size !== claims.length) throw new Error('lost a claim in a single-worker profile');
    n += claims.length;
  }
  return times;
}

interface ProfileRun {
  times: StepTimes;
  jobs: number;
  seconds: number;
  cpuMs: number;
}

/**
 * Runs one profile variant on a fresh database: `warmup` jobs first (JIT, plan caches,
 * connection), not counted, then `jobs` jobs timed.
 */
async function profileVariant(
  jobs: number,
  profile: (sql: Sql, limit: number) => Promise<StepTimes>,
  options: { asyncCommit: boolean; workerSession?: boolean },
): Promise<ProfileRun> {
  const warmup = Math.min(200, Math.ceil(jobs / 5));
  const db = await createTestDatabase();
  const unregister = cleanupOnInterrupt(() => db.drop());
  const sql = connect(db.url, {
    max: 1,
    applicationName: 'bench-queue-profile',
    ...(options.workerSession ? { settings: WORKER_SESSION } : {}),
  });
  try {
    await seedRevisions(db.sql, jobs + warmup, 'bench-throughput');
    await db.sql`
      insert into event_jobs (artifact_uid, revision_id)
      select artifact_uid, revision_id from artifact_revision order by artifact_uid`;
    await db.sql`vacuum analyze event_jobs`;
    // One connection, so the session setting holds for every statement of the profile.
    if (options.asyncCommit) await sql`set synchronous_commit = off`;
    await profile(sql, warmup);
    const cpu = process.cpuUsage();
    const t = performance.now();
    const times = await profile(sql, jobs);
    const seconds = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const done = times.values().next().value?.length ?? 0;
    return { times, jobs: done, seconds, cpuMs: (used.user + used.system) / 1000 };
  } finally {
    await sql.end({ timeout: 2 });
    await db.drop();
    unregister();
  }
}

async function runProfile(jobs: number): Promise<BenchResult> {
  const rows: Array<Record<string, string | number>> = [];
  const add = (variant: string, roundTrips: Record<string, number>, run: ProfileRun) => {
    let total = 0;
    for (const [step, values] of run.times) {
      const stepMean = mean(values);
      total += stepMean;
      rows.push({
        variant,
        step,
        'round trips': roundTrips[step] ?? 0,
        'mean ms': stepMean,
        'p95 ms': percentile(values, 0.95),
        'jobs/s': '',
        'node CPU ms/job': '',
      });
    }
    rows.push({
      variant,
      step: 'per job',
      'round trips': Object.values(roundTrips).reduce((a, b) => a + b, 0),
      'mean ms': total,
      'p95 ms': '',
      'jobs/s': run.jobs / run.seconds,
      'node CPU ms/job': run.cpuMs / run.jobs,
    });
  };
  const oneByOne = (sql: Sql, limit: number) => profileWorkerQueries(sql, limit, 1);
  const fourPerClaim = (sql: Sql, limit: number) => profileWorkerQueries(sql, limit, 4);
  const roundTrips = { [CLAIM_STEP]: 1, [COMPLETE_STEP]: 1 };
  add('durable commits', roundTrips, await profileVariant(jobs, oneByOne, { asyncCommit: false }));
  add('synchronous_commit off', roundTrips, await profileVariant(jobs, oneByOne, { asyncCommit: true }));
  add(
    'memory work session, 1 job per claim',
    roundTrips,
    await profileVariant(jobs, oneByOne, { asyncCommit: false, workerSession: true }),
  );
  add(
    'memory work session, 4 jobs per claim',
    { [CLAIM_STEP]: 0.25, [COMPLETE_STEP]: 0.25 },
    await profileVariant(jobs, fourPerClaim, { asyncCommit: false, workerSession: true }),
  );
  return {
    name: `Queue: where a job's time goes (one connection, in-process, ${jobs} jobs per variant)`,
    rows,
    notes: [
      "The worker's queries for each job, in order, on one connection, without worker processes; jobs/s is for that one connection. The backlog is in place and analyzed before the loop starts, so the claim reads event_jobs_pending_idx.",
      '`synchronous_commit off` (a session setting here) shows what the WAL flush at each of the two commits (claim, completion) costs.',
      '`memory work session`: the settings of a worker connection (WORKER_SESSION: synchronous_commit off, every statement planned afresh); with 4 jobs per claim, the four are completed by one statement too, and each job is timed with a quarter of each statement.',
      'node CPU: this process, per job, over the timed jobs (postgres.js, the no-op extraction and anchoring).',
    ],
  };
}

// --- the benchmark -------------------------------------------------------------------------

async function runForWorkers(
  workers: number,
  sizes: Sizes,
  variant: Variant,
): Promise<{ throughput: Record<string, string | number>; pickup: Array<Record<string, string | number>> }> {
  const db = await createTestDatabase();
  const unregister = cleanupOnInterrupt(() => db.drop());
  let pool: WorkerPool | undefined;
  try {
    const warmup = workers * WARMUP_JOBS_PER_WORKER;
    await seedRevisions(db.sql, sizes.jobs, 'bench-throughput');
    await seedRevisions(db.sql, warmup, 'bench-warmup', sizes.jobs + 1);
    if (!variant.coldStart) await seedHistory(db.sql, sizes.jobs, sizes.jobs + warmup + 1);
    await db.sql`analyze`;
    pool = await startWorkers(db, workers, {
      listen: true,
      tag: 'listen',
      durable: variant.durable === true,
    });
    const result = await measureThroughput(db, pool, sizes.jobs);
    const rate = result.done / result.seconds;
    const perJob = (ms: number | undefined) => (ms === undefined ? '' : ms / result.done);
    const cpuPerJob =
      result.nodeCpuMs === undefined || result.postgresCpuMs === undefined
        ? undefined
        : (result.nodeCpuMs + result.postgresCpuMs) / result.done;
    const throughput: Record<string, string | number> = {
      variant: variantName(variant),
      workers,
      jobs: result.done,
      seconds: result.seconds,
      'jobs/s': rate,
      'jobs/s per worker': rate / workers,
      'node CPU ms/job': perJob(result.nodeCpuMs),
      'postgres CPU ms/job': perJob(result.postgresCpuMs),
      [`CPU ceiling jobs/s (${CORES} cores)`]: cpuPerJob === undefined ? '' : (CORES * 1000) / cpuPerJob,
      target: workers === 4 ? (rate >= THROUGHPUT_TARGET ? 'met' : `missed (>= ${THROUGHPUT_TARGET})`) : '',
    };
    if (!result.drained) throughput.note = 'timed out before the queue drained';
    if (result.failed > 0) throughput.failed = result.failed;
    if (!variant.pickup) return { throughput, pickup: [] };

    const pickup = [
      pickupRow(workers, 'NOTIFY', await measurePickup(db.sql, pool, sizes.pickupNotify, NOTIFY_SPACING_MS)),
    ];
    await pool.stop();
    pool = await startWorkers(db, workers, { listen: false, tag: 'poll' });
    pickup.push(
      pickupRow(
        workers,
        `poll ${POLL_INTERVAL_MS} ms`,
        await measurePickup(db.sql, pool, sizes.pickupPoll, POLL_SPACING_MS),
      ),
    );
    return { throughput, pickup };
  } finally {
    await pool?.stop();
    await db.drop();
    unregister();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const sizes = options.quick ? QUICK : FULL;
  const throughputRows: Array<Record<string, string | number>> = [];
  const pickupRows: Array<Record<string, string | number>> = [];
  for (const variant of VARIANTS) {
    for (const workers of variant.workers) {
      const { throughput, pickup } = await runForWorkers(workers, sizes, variant);
      throughputRows.push(throughput);
      pickupRows.push(...pickup);
    }
  }
  const profile = await runProfile(sizes.profileJobs);
  return [
    {
      name: `Queue throughput, no-op extractor (${sizes.jobs} jobs)`,
      rows: throughputRows,
      notes: [
        `Worker processes (bench/queue-worker.ts) with a no-op extractor, LOG_LEVEL=WARN, each warmed up on ${WARMUP_JOBS_PER_WORKER} jobs first; a fresh database per row, with a history of ${sizes.jobs} DONE jobs (analyzed) except on a cold start.`,
        "Seconds on Postgres's clock: from just before the commit that enqueues every job (one NOTIFY) to the last completion.",
        "CPU per job from /proc during the run: the worker processes (node) and their Postgres backends. The ceiling is what the cores would allow at that cost if nothing else ran (the WAL writer, Postgres's background work and the machine's other load are not counted).",
        "memory work sessions: synchronous_commit off and plan_cache_mode force_custom_plan (WORKER_SESSION in src/store/connect.ts); 'but synchronous_commit on' makes every commit wait for its WAL flush, to show what the setting buys.",
        'Cold start: no history and the statistics of an empty table while the workers warm up.',
        `Target: >= ${THROUGHPUT_TARGET} jobs/s with 4 workers on 2 cores.`,
      ],
    },
    {
      name: 'Queue pickup latency (enqueue to claim), memory work sessions',
      rows: pickupRows,
      notes: [
        `Jobs enqueued one at a time by \`writeRevision\` (as artifact_ingest does) to idle workers, ${NOTIFY_SPACING_MS} ms apart (${POLL_SPACING_MS} ms when polling); POLL_INTERVAL_MS=${POLL_INTERVAL_MS}.`,
        "Latency = locked_at - created_at (Postgres's clock). created_at is the start of the enqueueing transaction, so the latency includes the rest of that transaction and its commit; 'enqueue call' is the whole writeRevision call as the client saw it.",
        `Target: p95 <= ${PICKUP_P95_TARGET_MS} ms with NOTIFY.`,
      ],
    },
    profile,
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

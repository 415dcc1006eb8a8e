/**
 * One worker process of the queue benchmark (bench/queue.ts starts W of them). By default it runs
 * the real `startWorker` loop, as `memory work` does, with a no-op extractor, so the figures are
 * the queue's own cost (claim, load of the revision, completion transaction) and not a model's.
 * With BENCH_LOOP=prototype it runs instead a bench-only loop that does the same work in two
 * statements per job (`claimAndLoad`, `completeWithoutEvents` below): a measured proposal, not
 * product code.
 *
 * Configured like `memory work`, through the environment, but only these variables are read
 * (a developer's `.env` or OPENAI_* settings must not change the figures): EVENTS_DB_DSN,
 * WORKER_ID, POLL_INTERVAL_MS, JOB_LEASE_SECONDS, LOG_LEVEL; plus BENCH_LISTEN=0 to run without
 * LISTEN (polling only) and BENCH_LOOP.
 *
 * Stops on SIGTERM/SIGINT, and also when its stdin closes: the parent holds the other end, so a
 * benchmark that crashes or is interrupted never leaves workers behind.
 */
import { hostname } from 'node:os';
import { loadConfig } from '../src/config.js';
import { connect, type Sql } from '../src/db/connect.js';
import { anchorEvents } from '../src/extraction/anchor.js';
import type { ExtractionInput, Extractor, SourceChunk } from '../src/extraction/types.js';
import { configureLogging } from '../src/log.js';
import { recordHeartbeat, removeHeartbeat } from '../src/store/jobs.js';
import { JOB_CHANNEL, type JobRow } from '../src/store/revisions.js';
import { isMainModule } from './result.js';

export const noopExtractor: Extractor = { name: 'rules', extract: async () => [] };

export interface ClaimedJob {
  job: JobRow;
  input: ExtractionInput;
}

/**
 * Prototype of a one-statement claim: an expired lease first, else the oldest due PENDING job
 * (a UNION ALL of the two ordered, limited scans of `claimJob` under LIMIT 1 runs the second only
 * when the first finds nothing), returning the revision, its text and its chunks with the job.
 */
export async function claimAndLoad(
  sql: Sql,
  workerId: string,
  leaseSeconds: number,
): Promise<ClaimedJob | undefined> {
  const [row] = await sql<
    Array<
      JobRow & {
        artifact_type: string | null;
        title: string | null;
        author: string | null;
        participants: string[] | null;
        source_ts: Date | null;
        is_chunked: boolean | null;
        content: string | null;
        chunks: Array<{
          chunk_id: string;
          chunk_index: number;
          start_char: number;
          end_char: number;
          text: string;
        }>;
      }
    >
  >`
    with next as (
      (select job_id from (
        select job_id from event_jobs
        where status = 'PROCESSING' and locked_at < now() - make_interval(secs => ${leaseSeconds})
          and attempts < max_attempts
        order by locked_at limit 1 for update skip locked) expired)
      union all
      (select job_id from (
        select job_id from event_jobs
        where status = 'PENDING' and next_run_at <= now()
        order by next_run_at, created_at limit 1 for update skip locked) pending)
      limit 1
    ), claimed as (
      update event_jobs j
      set status = 'PROCESSING', locked_at = now(), locked_by = ${workerId}, attempts = j.attempts + 1
      from next where j.job_id = next.job_id
      returning j.*
    )
    select c.*, r.artifact_type, r.title, r.author, r.participants, r.source_ts, r.is_chunked, t.content,
           coalesce((select json_agg(json_build_object('chunk_id', k.chunk_id, 'chunk_index', k.chunk_index,
                                                       'start_char', k.start_char, 'end_char', k.end_char,
                                                       'text', k.text) order by k.chunk_index)
                     from artifact_chunk k
                     where k.artifact_uid = c.artifact_uid and k.revision_id = c.revision_id), '[]') as chunks
    from claimed c
    left join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
    left join artifact_content t on t.artifact_uid = c.artifact_uid and t.revision_id = c.revision_id`;
  if (row === undefined) return undefined;
  const { artifact_type, title, author, participants, source_ts, is_chunked, content, chunks, ...job } = row;
  if (content === null || artifact_type === null) {
    throw new Error(`revision ${job.revision_id} of ${job.artifact_uid} no longer exists`);
  }
  const pieces: SourceChunk[] = is_chunked
    ? chunks.map((chunk) => ({
        chunkId: chunk.chunk_id,
        index: chunk.chunk_index,
        startChar: chunk.start_char,
        endChar: chunk.end_char,
        text: chunk.text,
      }))
    : [{ chunkId: null, index: 0, startChar: 0, endChar: content.length, text: content }];
  return {
    job,
    input: {
      artifactUid: job.artifact_uid,
      revisionId: job.revision_id,
      artifactType: artifact_type,
      title,
      author,
      participants: participants ?? [],
      ts: source_ts,
      content,
      chunks: pieces,
    },
  };
}

/**
 * Prototype of a one-statement completion for a job that produced no events: marks it DONE under
 * the claim guard and deletes the revision's old events only when the guard matched (one
 * statement is atomic: no BEGIN/COMMIT round trips). False when the claim was lost.
 */
export async function completeWithoutEvents(sql: Sql, job: JobRow, workerId: string): Promise<boolean> {
  const [row] = await sql<Array<{ n: number }>>`
    with finished as (
      update event_jobs set status = 'DONE', last_error_code = null, last_error_message = null
      where job_id = ${job.job_id} and locked_by = ${workerId} and attempts = ${job.attempts}
        and status = 'PROCESSING'
      returning artifact_uid, revision_id
    ), cleared as (
      delete from semantic_event e using finished f
      where e.artifact_uid = f.artifact_uid and e.revision_id = f.revision_id
    )
    select count(*)::int as n from finished`;
  return row?.n === 1;
}

/**
 * The prototype loop: claim+load, extract, anchor, complete; idle until a NOTIFY or the poll
 * interval. No lease extension or failure handling: the no-op extractor neither takes time nor
 * fails, and the benchmark checks that every job ends DONE.
 */
function startPrototypeWorker(options: {
  sql: Sql;
  workerId: string;
  leaseSeconds: number;
  pollIntervalMs: number;
  listen: boolean;
}): { stop(graceMs?: number): Promise<void> } {
  const { sql, workerId } = options;
  let running = true;
  let wakeIdle: (() => void) | undefined;
  const wake = () => wakeIdle?.();
  const idle = (ms: number) =>
    new Promise<void>((resolveIdle) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeIdle = undefined;
        resolveIdle();
      }
      wakeIdle = done;
    });
  let unlisten: (() => Promise<void>) | undefined;
  const loop = (async () => {
    if (options.listen) unlisten = (await sql.listen(JOB_CHANNEL, wake, wake)).unlisten;
    await recordHeartbeat(sql, { id: workerId, hostname: hostname(), pid: process.pid, done: 0, failed: 0 });
    while (running) {
      const claimed = await claimAndLoad(sql, workerId, options.leaseSeconds);
      if (claimed === undefined) {
        await idle(options.pollIntervalMs);
        continue;
      }
      const extracted = await noopExtractor.extract(claimed.input);
      const anchored = anchorEvents(extracted, claimed.input.chunks);
      if (anchored.events.length > 0) throw new Error('the no-op extractor returned events');
      if (!(await completeWithoutEvents(sql, claimed.job, workerId))) {
        throw new Error(`lost the claim on job ${claimed.job.job_id}`);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      wake();
      await loop;
      await unlisten?.();
      await removeHeartbeat(sql, workerId);
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig({
    EVENTS_DB_DSN: process.env.EVENTS_DB_DSN,
    WORKER_ID: process.env.WORKER_ID,
    POLL_INTERVAL_MS: process.env.POLL_INTERVAL_MS,
    JOB_LEASE_SECONDS: process.env.JOB_LEASE_SECONDS,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
  });
  configureLogging(config.logLevel);
  // Imported after the level is set, as the CLI does: a tagged logger (`log.withTag('worker')`,
  // created when its module loads) copies the level of the moment and does not follow later changes.
  const { startWorker } = await import('../src/worker/worker.js');
  if (config.databaseUrl === undefined)
    throw new Error('EVENTS_DB_DSN is not set: expected a postgres:// URL');
  // The pool of `memory work` (3 connections; LISTEN takes one more of its own).
  const sql = connect(config.databaseUrl, { max: 3, applicationName: `bench-worker ${config.worker.id}` });
  const listen = process.env.BENCH_LISTEN !== '0';
  const worker =
    process.env.BENCH_LOOP === 'prototype'
      ? startPrototypeWorker({
          sql,
          workerId: config.worker.id,
          leaseSeconds: config.worker.leaseSeconds,
          pollIntervalMs: config.worker.pollIntervalMs,
          listen,
        })
      : startWorker({ config, sql, extractor: noopExtractor, listen });

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

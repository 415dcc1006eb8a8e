/**
 * The extraction worker (docs/architecture.md): claim jobs, extract, anchor, write, repeat, with
 * up to WORKER_CONCURRENCY jobs in flight per process (one slot each).
 *
 * One claim loop per process fills the free slots: one statement claims as many due jobs as
 * there are free slots, never more, and each claimed job starts at once in a slot of its own, so
 * no job waits in a process that has no slot for it. Every job in hand has its lease extended on
 * each heartbeat; a job claimed by a process that dies is recovered by lease expiry like any
 * other.
 *
 * Shutdown is a small state machine: `running` → `stopping` (no new claims; the jobs in hand get
 * `graceMs` to finish, else each is released untouched, and a claim still in flight releases what
 * it gets) → `stopped` (heartbeat row removed).
 * Wake-ups: a NOTIFY from `artifact_ingest` (or an in-process call in embedded mode) ends the
 * claim loop's idle wait at once; the poll every POLL_INTERVAL_MS stays the truth, covering
 * retries that become due, expired leases and notifications lost while a connection was down.
 */
import { hostname } from 'node:os';
import type { Config } from '../config.js';
import { anchorEvents } from '../domain/extraction/anchor.js';
import type { ExtractionInput, Extractor, SourceChunk } from '../domain/extraction/types.js';
import { AppError, describeError, networkErrorCode } from '../errors.js';
import { taggedLogger } from '../log.js';
import type { Sql } from '../store/connect.js';
import { replaceRevisionEvents } from '../store/events.js';
import {
  type ClaimedJob,
  claimJobs,
  completeJobsWithoutEvents,
  completeJobWithEvents,
  extendLeases,
  failAbandonedJobs,
  JOB_CHANNEL,
  type JobFailure,
  type JobRow,
  recordFailure,
  recordHeartbeat,
  releaseJobs,
  removeHeartbeat,
} from '../store/jobs.js';

const logger = taggedLogger('worker');

export interface WorkerOptions {
  config: Config;
  sql: Sql;
  extractor: Extractor;
  /** LISTEN for job notifications (needs its own connection; off for the embedded database). */
  listen: boolean;
  /** Called with each finished job (tests and metrics). */
  onJobFinished?(event: JobFinished): void;
}

export interface JobFinished {
  job_id: string;
  status: 'DONE' | 'PENDING' | 'FAILED' | 'RELEASED' | 'LOST';
  seconds: number;
  events: number;
  error_code?: string;
}

export interface Worker {
  readonly id: string;
  /** Ends the idle wait now (a job was queued in this process). */
  wake(): void;
  /** Stops claiming, lets the jobs in hand finish within `graceMs` and releases those that did not. */
  stop(graceMs?: number): Promise<void>;
  readonly stats: { done: number; failed: number };
}

class ClaimLost extends Error {}

function toFailure(error: unknown): JobFailure {
  if (error instanceof AppError)
    return { code: error.code, message: error.message, transient: error.transient };
  const sqlState = (error as { code?: unknown }).code;
  if (networkErrorCode(error) !== undefined || (typeof sqlState === 'string' && /^(08|57P)/.test(sqlState))) {
    return { code: 'POSTGRES_CONNECTION_ERROR', message: describeError(error), transient: true };
  }
  return { code: 'INTERNAL_ERROR', message: describeError(error), transient: true };
}

/** What the extractor reads, from the revision the claim loaded. */
export function extractionInput(claim: ClaimedJob): ExtractionInput {
  const { job, revision } = claim;
  if (revision === undefined) {
    throw new AppError(
      'ARTIFACT_MISSING',
      `revision ${job.revision_id} of ${job.artifact_uid} no longer exists`,
    );
  }
  const chunks: SourceChunk[] = revision.is_chunked
    ? revision.chunks.map((row) => ({
        chunkId: row.chunk_id,
        index: row.chunk_index,
        startChar: row.start_char,
        endChar: row.end_char,
        text: row.text,
      }))
    : [{ chunkId: null, index: 0, startChar: 0, endChar: revision.content.length, text: revision.content }];
  return {
    artifactUid: job.artifact_uid,
    revisionId: job.revision_id,
    artifactType: revision.artifact_type,
    title: revision.title,
    author: revision.author,
    participants: revision.participants,
    ts: revision.source_ts,
    content: revision.content,
    chunks,
  };
}

/**
 * Connections a worker's pool needs: one per job in flight (each completes on its own; the claim
 * runs only while a slot is free, so it takes that slot's connection), and one for the heartbeat
 * and the sweep of abandoned jobs. LISTEN opens its own.
 */
export function workerPoolSize(concurrency: number): number {
  return concurrency + 1;
}

interface InHand {
  job: JobRow;
  /** Its result (DONE and events, or the failure) is being written: the slot frees next. */
  writing: boolean;
  promise: Promise<void>;
}

export function startWorker(options: WorkerOptions): Worker {
  const { config, sql, extractor } = options;
  const id = config.worker.id;
  const leaseSeconds = config.worker.leaseSeconds;
  const concurrency = config.worker.concurrency;
  const heartbeatMs = Math.min(5000, Math.max(200, (leaseSeconds * 1000) / 3));
  const stats = { done: 0, failed: 0 };

  let state: 'running' | 'stopping' | 'stopped' = 'running';
  /** Every job in hand, one per busy slot; each has its lease extended on every beat. */
  const inHand = new Set<InHand>();
  /** The claim in flight (one at a time); after stopping began it releases what it gets. */
  let claiming: Promise<ClaimedJob[]> | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  // The claim loop waits in one of two ways. For a slot: every slot is busy, or the last claim
  // filled every free slot (more may be due); a job that finishes ends that wait. Idle: the last
  // claim came back short, so nothing more was due; a wake-up (a NOTIFY, an in-process call) ends
  // that wait, and so does a job that finishes (one more look, as a poll: with several workers
  // polling without NOTIFY, this spreads their polls over the interval instead of leaving them
  // in step), else the poll after POLL_INTERVAL_MS. A wake-up that comes while the loop is not
  // idle is kept for its next idle wait: a job queued while a claim is in flight, which that
  // claim may not have seen, is claimed right after it.
  let wakePending = false;
  /** Jobs in hand whose outcome is being written. */
  let writingCount = 0;
  let endIdle: (() => void) | undefined;
  let endSlotWait: (() => void) | undefined;
  const wake = () => {
    if (endIdle === undefined) wakePending = true;
    else endIdle();
  };
  const idle = () =>
    new Promise<void>((resolveIdle) => {
      if (wakePending) {
        wakePending = false;
        resolveIdle();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        endIdle = undefined;
        resolveIdle();
      };
      const timer = setTimeout(done, config.worker.pollIntervalMs);
      endIdle = done;
    });
  /** Resolves true when a slot frees, or false after `timeoutMs` if given. */
  const slotFreed = (timeoutMs?: number) =>
    new Promise<boolean>((resolveWait) => {
      const end = (freed: boolean) => {
        clearTimeout(timer);
        endSlotWait = undefined;
        resolveWait(freed);
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => end(false), timeoutMs);
      endSlotWait = () => end(true);
    });

  const beat = async () => {
    try {
      await recordHeartbeat(sql, { id, hostname: hostname(), pid: process.pid, ...stats });
      const entries = [...inHand];
      if (entries.length === 0) return;
      const held = await extendLeases(
        sql,
        entries.map((entry) => entry.job),
        id,
      );
      for (const entry of entries) {
        // The job may finish while the leases are extended: only a job still in hand was lost,
        // and one whose outcome is being written reports a lost claim itself.
        if (!held.has(entry.job.job_id) && inHand.has(entry) && !entry.writing) {
          logger.warn('Lost the claim on a job in hand; its result will be discarded', {
            job_id: entry.job.job_id,
          });
        }
      }
    } catch (error) {
      logger.warn('Heartbeat failed', { error: describeError(error) });
    }
  };
  // The beat in flight, so that stopping waits for it: a beat that finished after the heartbeat
  // row was removed would write the row again, and a stopped worker would look alive.
  let beating: Promise<void> = Promise.resolve();
  const heartbeatTimer = setInterval(() => {
    beating = beat();
  }, heartbeatMs);
  heartbeatTimer.unref();

  // Jobs that found no events are marked DONE together: those that get there in the same turn of
  // the event loop (the jobs of one claim, with a fast extractor) share one statement, each under
  // its own claim guard. A job with events writes them in a transaction of its own.
  interface DoneWithoutEvents {
    job: JobRow;
    resolve(done: boolean): void;
    reject(error: unknown): void;
  }
  let doneWithoutEvents: DoneWithoutEvents[] = [];
  const flushDoneWithoutEvents = async () => {
    const batch = doneWithoutEvents;
    doneWithoutEvents = [];
    try {
      const done = await completeJobsWithoutEvents(
        sql,
        batch.map((entry) => entry.job),
        id,
      );
      for (const entry of batch) entry.resolve(done.has(entry.job.job_id));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  };
  /** True when the job was marked DONE, false when its claim no longer held. */
  const markDoneWithoutEvents = (job: JobRow) =>
    new Promise<boolean>((resolve, reject) => {
      if (doneWithoutEvents.length === 0) setImmediate(() => void flushDoneWithoutEvents());
      doneWithoutEvents.push({ job, resolve, reject });
    });

  /** Runs one job to its end; `writing` is called once its outcome is decided, before it is written. */
  async function runJob(claim: ClaimedJob, writing: () => void): Promise<void> {
    const { job } = claim;
    const started = performance.now();
    const fields = {
      job_id: job.job_id,
      artifact_uid: job.artifact_uid,
      revision_id: job.revision_id,
      attempt: job.attempts,
    };
    const finish = (status: JobFinished['status'], events: number, code?: string) => {
      const seconds = (performance.now() - started) / 1000;
      options.onJobFinished?.({
        job_id: job.job_id,
        status,
        seconds,
        events,
        ...(code ? { error_code: code } : {}),
      });
      return Math.round(seconds * 1000);
    };
    try {
      const input = extractionInput(claim);
      const extracted = await extractor.extract(input);
      const anchored = anchorEvents(extracted, input.chunks);
      if (state === 'stopped') throw new ClaimLost();
      writing();
      const written =
        anchored.events.length === 0
          ? (await markDoneWithoutEvents(job))
            ? 0
            : undefined
          : await completeJobWithEvents(sql, job, id, (tx) =>
              replaceRevisionEvents(tx, job.artifact_uid, job.revision_id, job.job_id, anchored.events),
            );
      if (written === undefined) throw new ClaimLost();
      stats.done++;
      const ms = finish('DONE', written);
      logger.info('Job done', {
        ...fields,
        duration_ms: ms,
        extractor: extractor.name,
        events: written,
        dropped_evidence: anchored.droppedEvidence,
        dropped_events: anchored.droppedEvents,
      });
    } catch (error) {
      if (error instanceof ClaimLost) {
        const ms = finish('LOST', 0);
        logger.warn('Job result discarded: the claim was lost (lease expired, released or re-queued)', {
          ...fields,
          duration_ms: ms,
        });
        return;
      }
      const failure = toFailure(error);
      writing();
      const status = await recordFailure(sql, job, id, failure).catch((writeError: unknown) => {
        logger.error('Could not record a job failure; the lease will expire and the job be retried', {
          ...fields,
          error: describeError(writeError),
        });
        return undefined;
      });
      if (status === 'FAILED') stats.failed++;
      const ms = finish(status ?? 'LOST', 0, failure.code);
      logger[status === 'FAILED' ? 'error' : 'warn'](
        `Job ${status === 'FAILED' ? 'failed' : 'will be retried'}`,
        {
          ...fields,
          duration_ms: ms,
          code: failure.code,
          error: failure.message,
          status: status ?? 'unknown',
        },
      );
    }
  }

  const release = async (jobs: readonly JobRow[]) => {
    const released = await releaseJobs(sql, jobs, id).catch(() => new Set<string>());
    for (const job of jobs) {
      logger.warn(
        released.has(job.job_id) ? 'Released the job in hand' : 'Could not release the job in hand',
        { job_id: job.job_id },
      );
    }
  };

  let lastSweep = 0;
  /**
   * Claims up to `free` jobs; jobs claimed after stopping began are given back at once,
   * untouched.
   */
  async function claimNext(free: number): Promise<ClaimedJob[]> {
    if (Date.now() - lastSweep > heartbeatMs) {
      lastSweep = Date.now();
      const abandoned = await failAbandonedJobs(sql, leaseSeconds);
      if (abandoned > 0) logger.warn(`Marked ${abandoned} abandoned job(s) FAILED after their last attempt`);
    }
    logger.debug('Polling for jobs...');
    const claims = await claimJobs(sql, id, leaseSeconds, free);
    if (claims.length > 0 && state !== 'running') {
      await release(claims.map((claim) => claim.job));
      return [];
    }
    return claims;
  }

  /** Puts a claimed job in a slot of its own and runs it; the slot frees when it ends. */
  function startJob(claim: ClaimedJob): void {
    const entry: InHand = { job: claim.job, writing: false, promise: Promise.resolve() };
    inHand.add(entry);
    const markWriting = () => {
      if (entry.writing) return;
      entry.writing = true;
      writingCount++;
    };
    entry.promise = runJob(claim, markWriting)
      .catch((error: unknown) => {
        logger.error('Job handling failed', { job_id: claim.job.job_id, error: describeError(error) });
      })
      .finally(() => {
        if (entry.writing) writingCount--;
        inHand.delete(entry);
        endSlotWait?.();
        endIdle?.();
      });
  }

  /** Fills the free slots until stopping begins; idle while nothing is due. */
  async function claimLoop(): Promise<void> {
    /** The last claim filled every free slot: more jobs may be due. */
    let backlog = false;
    while (state === 'running') {
      if (inHand.size >= concurrency) {
        await slotFreed();
        continue;
      }
      // With a backlog, a job writing its result frees its slot within a statement or two: the
      // claim waits for it, so that one claim serves that slot too. Claims are planned afresh
      // each time (see claimJobs), so fewer, fuller claims cost less: with 2 processes x 4 slots
      // draining 10,000 no-op jobs, claiming as soon as one slot was free gave claims of 2 jobs
      // on average and 1.31 ms of CPU per job (worker and Postgres), against 1.03 ms. The wait
      // is one write, next to extractions that take seconds; a write slower than a poll
      // interval (a lock wait) does not hold up the free slots any longer. Woken from idle (a
      // new job), the claim goes at once: there, latency is what counts.
      if (backlog && writingCount > 0 && (await slotFreed(config.worker.pollIntervalMs))) continue;
      if (state !== 'running') break;
      const free = concurrency - inHand.size;
      let claims: ClaimedJob[] = [];
      const attempt = claimNext(free);
      claiming = attempt;
      try {
        claims = await attempt;
      } catch (error) {
        logger.warn('Could not claim a job', { error: describeError(error) });
      } finally {
        claiming = undefined;
      }
      for (const claim of claims) startJob(claim);
      backlog = claims.length === free;
      if (!backlog && state === 'running') await idle();
    }
  }

  const running = (async () => {
    if (options.listen) {
      try {
        const subscription = await sql.listen(JOB_CHANNEL, wake, wake);
        unlisten = subscription.unlisten;
      } catch (error) {
        logger.warn('LISTEN failed; relying on polling', { error: describeError(error) });
      }
    }
    await beat();
    logger.info('Worker started', {
      worker_id: id,
      extractor: extractor.name,
      concurrency,
      poll_interval_ms: config.worker.pollIntervalMs,
    });
    await claimLoop();
    // No more claims: the jobs in hand finish (or stop() releases them after the grace period).
    await Promise.all([...inHand].map((entry) => entry.promise));
  })();

  return {
    id,
    wake,
    stats,
    async stop(graceMs = 25_000) {
      if (state !== 'running') return;
      state = 'stopping';
      endIdle?.();
      endSlotWait?.();
      let graceTimer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        running.then(
          () => true,
          () => true,
        ),
        new Promise<boolean>((resolveGrace) => {
          graceTimer = setTimeout(() => resolveGrace(false), graceMs);
          graceTimer.unref();
        }),
      ]);
      clearTimeout(graceTimer);
      if (!finished) {
        // Jobs still in hand are given back untouched; their late results cannot be written (the
        // claim guard fails), so their slots, which may still wait on the extractor, are not
        // awaited. Claims in flight release what they get.
        state = 'stopped';
        await release([...inHand].map((entry) => entry.job));
        await claiming?.catch(() => {});
      }
      state = 'stopped';
      clearInterval(heartbeatTimer);
      await beating;
      await unlisten?.().catch(() => {});
      await removeHeartbeat(sql, id).catch(() => {});
      logger.info('Worker stopped', { worker_id: id, ...stats });
    },
  };
}

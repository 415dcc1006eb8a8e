/**
 * The extraction worker (docs/architecture.md): claim a job, extract, anchor, write, repeat, with
 * up to WORKER_CONCURRENCY jobs in flight per process (one slot each: claim, run, claim again).
 *
 * Shutdown is a small state machine: `running` → `stopping` (no new claims; the jobs in hand get
 * `graceMs` to finish, else each is released untouched) → `stopped` (heartbeat row removed).
 * Wake-ups: a NOTIFY from `artifact_ingest` (or an in-process call in embedded mode) ends an idle
 * slot's wait at once; the poll every POLL_INTERVAL_MS stays the truth, covering retries that
 * become due, expired leases and notifications lost while a connection was down.
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
  claimJob,
  completeJob,
  extendLease,
  failAbandonedJobs,
  JOB_CHANNEL,
  type JobFailure,
  type JobRow,
  recordFailure,
  recordHeartbeat,
  releaseJob,
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
 * Connections a worker's pool needs: one per job in flight (each claims and completes on its
 * own), and one for the heartbeat and the sweep of abandoned jobs. LISTEN opens its own.
 */
export function workerPoolSize(concurrency: number): number {
  return concurrency + 1;
}

interface InHand {
  job: JobRow;
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
  /** Claims in flight (with the release of a job claimed after stopping began). */
  const claiming = new Set<Promise<ClaimedJob | undefined>>();
  let unlisten: (() => Promise<void>) | undefined;

  // Idle slots wait here. A wake-up (a NOTIFY, an in-process call, or a slot that has just found
  // a job) ends one wait: that slot claims, and when it finds a job it wakes the next one, so a
  // burst fans out to every free slot while one notification for one job costs one claim. A
  // wake-up with no slot waiting is kept for the next slot that would wait. One idle slot at a
  // time, the poller, also ends its wait after POLL_INTERVAL_MS.
  const waiters: Array<() => void> = [];
  let wakePending = false;
  let pollerWaiting = false;
  const wakeOne = () => {
    const waiter = waiters.shift();
    if (waiter === undefined) wakePending = true;
    else waiter();
  };
  const wakeAll = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  const idle = () =>
    new Promise<void>((resolveIdle) => {
      if (wakePending) {
        wakePending = false;
        resolveIdle();
        return;
      }
      const polls = !pollerWaiting;
      if (polls) pollerWaiting = true;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const at = waiters.indexOf(done);
        if (at >= 0) waiters.splice(at, 1);
        if (polls) pollerWaiting = false;
        resolveIdle();
      };
      const timer = polls ? setTimeout(done, config.worker.pollIntervalMs) : undefined;
      waiters.push(done);
    });

  const beat = async () => {
    try {
      await recordHeartbeat(sql, { id, hostname: hostname(), pid: process.pid, ...stats });
      await Promise.all(
        [...inHand].map(async (entry) => {
          // The job may finish while the lease is extended: only a job still in hand was lost.
          if (!(await extendLease(sql, entry.job, id)) && inHand.has(entry)) {
            logger.warn('Lost the claim on a job in hand; its result will be discarded', {
              job_id: entry.job.job_id,
            });
          }
        }),
      );
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

  async function runJob(claim: ClaimedJob): Promise<void> {
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
      const written = await completeJob(
        sql,
        job,
        id,
        (tx) => replaceRevisionEvents(tx, job.artifact_uid, job.revision_id, job.job_id, anchored.events),
        anchored.events.length > 0,
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

  const release = async (job: JobRow) => {
    const released = await releaseJob(sql, job, id).catch(() => false);
    logger.warn(released ? 'Released the job in hand' : 'Could not release the job in hand', {
      job_id: job.job_id,
    });
  };

  let lastSweep = 0;
  /** Claims the next job; a job claimed after stopping began is given back at once, untouched. */
  async function claimNext(): Promise<ClaimedJob | undefined> {
    // One slot at a time sweeps: the check and the stamp happen before any await.
    if (Date.now() - lastSweep > heartbeatMs) {
      lastSweep = Date.now();
      const abandoned = await failAbandonedJobs(sql, leaseSeconds);
      if (abandoned > 0) logger.warn(`Marked ${abandoned} abandoned job(s) FAILED after their last attempt`);
    }
    logger.debug('Polling for jobs...');
    const claim = await claimJob(sql, id, leaseSeconds);
    if (claim !== undefined && state !== 'running') {
      await release(claim.job);
      return undefined;
    }
    return claim;
  }

  /** One slot: claims a job, runs it to the end, and claims again; idle while the queue is empty. */
  async function slot(): Promise<void> {
    while (state === 'running') {
      let claim: ClaimedJob | undefined;
      const attempt = claimNext();
      claiming.add(attempt);
      try {
        claim = await attempt;
      } catch (error) {
        logger.warn('Could not claim a job', { error: describeError(error) });
      } finally {
        claiming.delete(attempt);
      }
      if (claim !== undefined) {
        // There may be more: another idle slot looks as well.
        wakeOne();
        const entry: InHand = { job: claim.job, promise: runJob(claim) };
        inHand.add(entry);
        try {
          await entry.promise;
        } finally {
          inHand.delete(entry);
        }
        continue;
      }
      if (state === 'running') await idle();
    }
  }

  const running = (async () => {
    if (options.listen) {
      try {
        const subscription = await sql.listen(JOB_CHANNEL, wakeOne, wakeOne);
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
    await Promise.all(Array.from({ length: concurrency }, () => slot()));
  })();

  return {
    id,
    wake: wakeOne,
    stats,
    async stop(graceMs = 25_000) {
      if (state !== 'running') return;
      state = 'stopping';
      wakeAll();
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
        await Promise.all([...inHand].map((entry) => release(entry.job)));
        await Promise.allSettled([...claiming]);
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

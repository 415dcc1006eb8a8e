/**
 * The extraction worker (docs/architecture.md): claim a job, extract, anchor, write, repeat.
 *
 * Shutdown is a small state machine: `running` → `stopping` (no new claims; the job in hand gets
 * `graceMs` to finish, else it is released untouched) → `stopped` (heartbeat row removed).
 * Wake-ups: a NOTIFY from `artifact_ingest` (or an in-process call in embedded mode) ends the idle
 * wait at once; the poll every POLL_INTERVAL_MS stays the truth, covering retries that become due,
 * expired leases and notifications lost while a connection was down.
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
  /** Stops claiming, lets the job in hand finish within `graceMs` or releases it. */
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

export function startWorker(options: WorkerOptions): Worker {
  const { config, sql, extractor } = options;
  const id = config.worker.id;
  const leaseSeconds = config.worker.leaseSeconds;
  const heartbeatMs = Math.min(5000, Math.max(200, (leaseSeconds * 1000) / 3));
  const stats = { done: 0, failed: 0 };

  let state: 'running' | 'stopping' | 'stopped' = 'running';
  let current: { job: JobRow; promise: Promise<void> } | undefined;
  let wakeIdle: (() => void) | undefined;
  let unlisten: (() => Promise<void>) | undefined;

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

  const beat = async () => {
    try {
      await recordHeartbeat(sql, { id, hostname: hostname(), pid: process.pid, ...stats });
      const inHand = current;
      // The job may finish while the lease is extended: only a job still in hand was lost.
      if (inHand !== undefined && !(await extendLease(sql, inHand.job, id)) && current === inHand) {
        logger.warn('Lost the claim on a job in hand; its result will be discarded', {
          job_id: inHand.job.job_id,
        });
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

  async function loop(): Promise<void> {
    let lastSweep = 0;
    while (state === 'running') {
      let claim: ClaimedJob | undefined;
      try {
        if (Date.now() - lastSweep > heartbeatMs) {
          lastSweep = Date.now();
          const abandoned = await failAbandonedJobs(sql, leaseSeconds);
          if (abandoned > 0)
            logger.warn(`Marked ${abandoned} abandoned job(s) FAILED after their last attempt`);
        }
        logger.debug('Polling for jobs...');
        claim = await claimJob(sql, id, leaseSeconds);
      } catch (error) {
        logger.warn('Could not claim a job', { error: describeError(error) });
      }
      if (claim !== undefined) {
        const promise = runJob(claim);
        current = { job: claim.job, promise };
        await promise;
        current = undefined;
        continue;
      }
      if (state === 'running') await idle(config.worker.pollIntervalMs);
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
      poll_interval_ms: config.worker.pollIntervalMs,
    });
    await loop();
  })();

  return {
    id,
    wake,
    stats,
    async stop(graceMs = 25_000) {
      if (state !== 'running') return;
      state = 'stopping';
      wake();
      const inHand = current;
      let abandoned = false;
      if (inHand !== undefined) {
        const finished = await Promise.race([
          inHand.promise.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
        ]);
        if (!finished) {
          state = 'stopped';
          abandoned = true;
          const released = await releaseJob(sql, inHand.job, id).catch(() => false);
          logger.warn(released ? 'Released the job in hand' : 'Could not release the job in hand', {
            job_id: inHand.job.job_id,
          });
        }
      }
      // An abandoned job may still be waiting on its extractor: its late result cannot be written
      // (the claim guard fails), so the loop is not awaited then.
      if (!abandoned) await running.catch(() => {});
      state = 'stopped';
      clearInterval(heartbeatTimer);
      await beating;
      await unlisten?.().catch(() => {});
      await removeHeartbeat(sql, id).catch(() => {});
      logger.info('Worker stopped', { worker_id: id, ...stats });
    },
  };
}

/**
 * Prometheus metrics for `GET /metrics`.
 *
 * Tool calls are counted in the serving process. Queue, job, error and event figures are read
 * at scrape time from the health model's queue statistics (one database read per scrape):
 * workers run as separate processes that serve no HTTP, and the database is where their work
 * adds up.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueStats } from '../health.js';
import { taggedLogger } from '../log.js';
import type { McpHooks } from './mcp.js';

const logger = taggedLogger('metrics');

export interface Metrics {
  hooks: McpHooks;
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(options: {
  readStats(): Promise<QueueStats>;
  workerStaleSeconds: number;
  /** Orphan vectors the sweep removed since start, by collection. */
  orphansRemoved?: () => Readonly<Record<string, number>>;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'memory_' });

  const toolCalls = new Counter({
    name: 'memory_tool_calls_total',
    help: 'MCP tool calls by tool and outcome (ok or error), with the error code of failed calls',
    labelNames: ['tool', 'outcome', 'code'] as const,
    registers: [registry],
  });
  const toolSeconds = new Histogram({
    name: 'memory_tool_call_duration_seconds',
    help: 'MCP tool call latency by tool and outcome',
    labelNames: ['tool', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  let pending: Promise<QueueStats | undefined> | undefined;
  /** One database read per scrape, shared by every gauge below. */
  const stats = () => {
    pending ??= options
      .readStats()
      .catch((error: unknown) => {
        logger.warn('Could not read queue statistics for /metrics', { error: String(error) });
        return undefined;
      })
      .finally(() => {
        setImmediate(() => {
          pending = undefined;
        });
      });
    return pending;
  };

  new Gauge({
    name: 'memory_jobs',
    help: 'Extraction jobs by status',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const s = await stats();
      for (const status of ['PENDING', 'PROCESSING', 'DONE', 'FAILED'])
        this.set({ status }, s?.by_status[status] ?? 0);
    },
  });
  new Gauge({
    name: 'memory_queue_depth',
    help: 'Jobs waiting to be extracted (PENDING)',
    registers: [registry],
    async collect() {
      this.set((await stats())?.by_status.PENDING ?? 0);
    },
  });
  new Gauge({
    name: 'memory_oldest_pending_job_age_seconds',
    help: 'Age of the oldest PENDING job (0 when none)',
    registers: [registry],
    async collect() {
      this.set((await stats())?.oldest_pending_seconds ?? 0);
    },
  });
  new Gauge({
    name: 'memory_job_duration_seconds',
    help: 'Claim-to-done time of jobs finished in the last hour, by quantile',
    labelNames: ['quantile'] as const,
    registers: [registry],
    async collect() {
      const d = (await stats())?.durations;
      this.reset();
      if (d === undefined || d.n === 0) return;
      this.set({ quantile: '0.5' }, d.p50 ?? 0);
      this.set({ quantile: '0.9' }, d.p90 ?? 0);
      this.set({ quantile: '0.99' }, d.p99 ?? 0);
    },
  });
  new Gauge({
    name: 'memory_extraction_errors',
    help: 'Jobs whose last attempt failed, by error code (PENDING for retry or FAILED)',
    labelNames: ['code'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { code, n } of (await stats())?.errors ?? []) this.set({ code }, n);
    },
  });
  new Gauge({
    name: 'memory_events',
    help: 'Semantic events stored, by category',
    labelNames: ['category'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { category, n } of (await stats())?.events ?? []) this.set({ category }, n);
    },
  });
  new Gauge({
    name: 'memory_workers_alive',
    help: `Workers whose heartbeat is fresher than ${options.workerStaleSeconds} s`,
    registers: [registry],
    async collect() {
      const workers = (await stats())?.workers ?? [];
      this.set(workers.filter((w) => w.age < options.workerStaleSeconds).length);
    },
  });
  new Gauge({
    name: 'memory_worker_heartbeat_age_seconds',
    help: 'Seconds since each recently seen worker last reported',
    labelNames: ['worker_id'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const worker of (await stats())?.workers ?? [])
        this.set({ worker_id: worker.worker_id }, worker.age);
    },
  });

  const orphansRemoved = options.orphansRemoved;
  if (orphansRemoved) {
    new Counter({
      name: 'memory_orphan_vectors_removed_total',
      help: 'Vectors with no Postgres row (left by a crash mid-ingest) removed by the sweep, by collection',
      labelNames: ['collection'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [collection, n] of Object.entries(orphansRemoved())) this.inc({ collection }, n);
      },
    });
  }

  return {
    hooks: {
      onToolCall(tool, outcome, seconds, code) {
        toolCalls.inc({ tool, outcome, code: code ?? '' });
        toolSeconds.observe({ tool, outcome }, seconds);
      },
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

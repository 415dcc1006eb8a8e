/**
 * One health model, three readers: `GET /health` (this process's dependencies and the queue),
 * `memory check` (probes from outside, one line per service, used as the compose healthcheck)
 * and `/metrics` (the queue figures). The queue is read by one statement, store/queue-stats.ts.
 */
import type { Config } from './config.js';
import type { Services } from './domain/services.js';
import { resolveEndpoints } from './embedded/runtime.js';
import { describeError } from './errors.js';
import { connect, type Sql } from './store/connect.js';
import { migrationStatus } from './store/migrate.js';
import { type QueueStats, readQueueStats } from './store/queue-stats.js';
import { pgvectorCollections } from './vectors/pgvector.js';

export type { QueueStats } from './store/queue-stats.js';

/** A worker counts as alive when its heartbeat is newer than this. */
export function workerStaleAfterMs(config: Config): number {
  return Math.max(3 * config.worker.pollIntervalMs, 15_000);
}

/** Workers seen within this many seconds are listed by /metrics (alive or not). */
export function recentWorkerSeconds(config: Config): number {
  return (20 * workerStaleAfterMs(config)) / 1000;
}

/** The queue statistics for this configuration's notion of a recent worker. */
export function queueStats(sql: Sql, config: Config): Promise<QueueStats> {
  return readQueueStats(sql, { recentSeconds: recentWorkerSeconds(config) });
}

function aliveWorkers(stats: QueueStats, config: Config): number {
  const staleSeconds = workerStaleAfterMs(config) / 1000;
  return stats.workers.filter((worker) => worker.age < staleSeconds).length;
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'starting' | 'waiting' | 'failed';
  [key: string]: unknown;
}

async function timed<T>(
  work: () => Promise<T>,
): Promise<{ ok: true; ms: number; value: T } | { ok: false; ms: number; error: string }> {
  const started = performance.now();
  try {
    const value = await work();
    return { ok: true, ms: Math.round(performance.now() - started), value };
  } catch (error) {
    return { ok: false, ms: Math.round(performance.now() - started), error: describeError(error) };
  }
}

/** The `/health` report: dependencies, embedder, worker heartbeats and queue depth. */
export async function healthReport(services: Services): Promise<HealthReport> {
  const { sql, vectors, embedder, config } = services;
  const [postgres, index] = await Promise.all([
    timed(() => queueStats(sql, config)),
    timed(() => vectors.heartbeat()),
  ]);
  const ok = postgres.ok && index.ok;
  const stats = postgres.ok ? postgres.value : undefined;
  return {
    status: ok ? 'ok' : 'degraded',
    postgres: postgres.ok ? { ok: true, latency_ms: postgres.ms } : { ok: false, error: postgres.error },
    vectors: index.ok
      ? { ok: true, latency_ms: index.ms, index: vectors.description }
      : { ok: false, index: vectors.description, error: index.error },
    // The name this entry had when Chroma was the only index; kept for existing dashboards.
    ...(vectors.description.startsWith('chroma')
      ? { chroma: index.ok ? { ok: true, latency_ms: index.ms } : { ok: false, error: index.error } }
      : {}),
    embedder: {
      provider: embedder.space.provider,
      model: embedder.space.model,
      dimensions: embedder.space.dimensions,
      offline: embedder.space.provider === 'local',
    },
    extractor: config.eventExtractor,
    workers: stats ? { alive: aliveWorkers(stats, config) } : undefined,
    queue: stats
      ? {
          pending: stats.by_status.PENDING ?? 0,
          processing: stats.by_status.PROCESSING ?? 0,
          failed: stats.by_status.FAILED ?? 0,
          oldest_pending_seconds:
            stats.oldest_pending_seconds === null ? null : Math.round(stats.oldest_pending_seconds),
        }
      : undefined,
  };
}

// --- memory check: probes from outside the server ---------------------------------------------

export const SERVICES = ['mcp-server', 'worker', 'postgres', 'chroma'] as const;
export type Service = (typeof SERVICES)[number];

export interface CheckResult {
  service: Service | 'security';
  ok: boolean;
  detail: string;
  ms: number;
  /** Healthy, but worth an operator's attention (printed as WARN; the exit code stays 0). */
  warning?: boolean;
}

class CheckFailure extends Error {}

async function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new CheckFailure(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function httpOk(url: string, signal: AbortSignal, token?: string): Promise<Response> {
  const response = await fetch(url, {
    signal,
    ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new CheckFailure(`${url} answered HTTP ${response.status}`);
  }
  return response;
}

/** "ok", plus a plain word when the server runs without a model (no OpenAI key or base URL). */
async function describeServer(response: Response): Promise<string> {
  const report = (await response.json().catch(() => ({}))) as {
    embedder?: { provider?: string; model?: string; offline?: boolean };
    extractor?: string;
  };
  if (report.embedder?.offline !== true) return 'ok';
  return `ok (offline: ${report.embedder.provider}/${report.embedder.model} embedder and ${report.extractor ?? 'rules'} extractor; set OPENAI_API_KEY or OPENAI_BASE_URL for a model)`;
}

async function withDatabase<T>(
  url: string | undefined,
  timeoutMs: number,
  work: (sql: Sql) => Promise<T>,
): Promise<T> {
  if (url === undefined) {
    throw new CheckFailure('EVENTS_DB_DSN is not set and no embedded server is running in MEMORY_DATA_DIR');
  }
  const sql = connect(url, {
    max: 1,
    connectTimeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
    applicationName: 'memory-check',
  });
  try {
    return await work(sql);
  } finally {
    void sql.end({ timeout: 0 });
  }
}

async function probe(
  service: Service,
  config: Config,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<string> {
  const endpoints = resolveEndpoints(config);
  switch (service) {
    case 'postgres':
      return withDatabase(endpoints.databaseUrl, timeoutMs, async (sql) => {
        await sql`select 1`;
        const pending = (await migrationStatus(sql)).filter((m) => m.state !== 'applied');
        if (pending.length > 0) {
          throw new CheckFailure(
            `migrations not applied: ${pending.map((m) => m.name).join(', ')} (run memory migrate)`,
          );
        }
        return 'ok';
      });
    case 'worker':
      return withDatabase(endpoints.databaseUrl, timeoutMs, async (sql) => {
        const alive = aliveWorkers(await queueStats(sql, config), config);
        if (alive === 0) {
          throw new CheckFailure(
            `no worker heartbeat in the last ${Math.round(workerStaleAfterMs(config) / 1000)} s`,
          );
        }
        return `ok, ${alive} worker${alive === 1 ? '' : 's'}`;
      });
    case 'chroma': {
      if (config.chroma.host === undefined) {
        // No Chroma: the vectors are kept in Postgres (pgvector), so this checks them there.
        return withDatabase(endpoints.databaseUrl, timeoutMs, async (sql) => {
          const collections = await pgvectorCollections(sql);
          if (collections === 0) {
            throw new CheckFailure(
              'CHROMA_HOST is not set and the vector tables are not made yet (memory serve makes them)',
            );
          }
          return 'ok (no Chroma: vectors in Postgres with pgvector)';
        });
      }
      if (endpoints.chromaUrl === undefined) {
        throw new CheckFailure('CHROMA_HOST is not set and no embedded server is running in MEMORY_DATA_DIR');
      }
      await (await httpOk(`${endpoints.chromaUrl}/api/v2/heartbeat`, signal)).body?.cancel();
      return 'ok';
    }
    case 'mcp-server':
      // With a token the server's /health tells which embedder it runs; without, only ok.
      return describeServer(
        await httpOk(`${endpoints.mcpUrl}/health`, signal, config.mcp.metricsToken ?? config.mcp.authToken),
      );
  }
}

/** Probes the services, each under the same deadline; never throws. */
export async function runChecks(
  config: Config,
  services: readonly Service[],
  timeoutMs: number,
): Promise<CheckResult[]> {
  return Promise.all(
    services.map(async (service) => {
      const started = performance.now();
      try {
        const detail = await withDeadline((signal) => probe(service, config, signal, timeoutMs), timeoutMs);
        return { service, ok: true, detail, ms: Math.round(performance.now() - started) };
      } catch (error) {
        return {
          service,
          ok: false,
          detail: describeError(error),
          ms: Math.round(performance.now() - started),
        };
      }
    }),
  );
}

export function formatCheck(result: CheckResult): string {
  const verdict = !result.ok
    ? `FAIL ${result.detail}`
    : result.warning
      ? `WARN ${result.detail}`
      : result.detail;
  return `${result.service}: ${verdict} (${result.ms} ms)`;
}

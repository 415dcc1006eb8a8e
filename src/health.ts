/** The `/health` report: dependencies, embedder, worker heartbeats and queue depth. */
import { workerStaleAfterMs } from './check.js';
import { describeError } from './errors.js';
import type { HealthReport } from './http/app.js';
import type { Services } from './services.js';

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

export async function healthReport(services: Services): Promise<HealthReport> {
  const { sql, chroma, embedder, config } = services;
  const staleSeconds = workerStaleAfterMs(config) / 1000;
  const [postgres, chromaCheck] = await Promise.all([
    timed(async () => {
      const [row] = await sql<Array<Record<string, number | null>>>`
        select
          (select count(*) from event_jobs where status = 'PENDING')::int as pending,
          (select count(*) from event_jobs where status = 'PROCESSING')::int as processing,
          (select count(*) from event_jobs where status = 'FAILED')::int as failed,
          (select extract(epoch from now() - min(created_at)) from event_jobs where status = 'PENDING')::float8
            as oldest_pending_seconds,
          (select count(*) from worker_heartbeat
            where last_seen_at > now() - make_interval(secs => ${staleSeconds}))::int as workers`;
      return row!;
    }),
    timed(() => chroma.heartbeat()),
  ]);
  const ok = postgres.ok && chromaCheck.ok;
  const stats = postgres.ok ? postgres.value : undefined;
  return {
    status: ok ? 'ok' : 'degraded',
    postgres: postgres.ok ? { ok: true, latency_ms: postgres.ms } : { ok: false, error: postgres.error },
    chroma: chromaCheck.ok
      ? { ok: true, latency_ms: chromaCheck.ms }
      : { ok: false, error: chromaCheck.error },
    embedder: {
      provider: embedder.space.provider,
      model: embedder.space.model,
      dimensions: embedder.space.dimensions,
      offline: embedder.space.provider === 'local',
    },
    extractor: config.eventExtractor,
    workers: stats ? { alive: stats.workers } : undefined,
    queue: stats
      ? {
          pending: stats.pending,
          processing: stats.processing,
          failed: stats.failed,
          oldest_pending_seconds:
            stats.oldest_pending_seconds === null ? null : Math.round(stats.oldest_pending_seconds ?? 0),
        }
      : undefined,
  };
}

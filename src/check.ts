/**
 * `memory check`: the health probe used as the compose healthcheck. Each asked service is probed
 * in parallel under one deadline, so a host that never answers still yields a line in time.
 */
import type { Config } from './config.js';
import { connect } from './db/connect.js';
import { migrationStatus } from './db/migrate.js';
import { describeError } from './errors.js';
import { resolveEndpoints } from './runtime.js';

export const SERVICES = ['mcp-server', 'worker', 'postgres', 'chroma'] as const;
export type Service = (typeof SERVICES)[number];

export interface CheckResult {
  service: Service;
  ok: boolean;
  detail: string;
  ms: number;
}

class CheckFailure extends Error {}

/** A worker counts as alive when its heartbeat is newer than this. */
export function workerStaleAfterMs(config: Config): number {
  return Math.max(3 * config.worker.pollIntervalMs, 15_000);
}

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

async function httpOk(url: string, signal: AbortSignal): Promise<Response> {
  const response = await fetch(url, { signal });
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
  work: (sql: ReturnType<typeof connect>) => Promise<T>,
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
        const staleMs = workerStaleAfterMs(config);
        const [row] = await sql`
          select count(*)::int as alive
          from worker_heartbeat
          where last_seen_at > now() - make_interval(secs => ${staleMs / 1000})`;
        const alive = Number(row?.alive ?? 0);
        if (alive === 0)
          throw new CheckFailure(`no worker heartbeat in the last ${Math.round(staleMs / 1000)} s`);
        return `ok, ${alive} worker${alive === 1 ? '' : 's'}`;
      });
    case 'chroma': {
      if (endpoints.chromaUrl === undefined) {
        throw new CheckFailure('CHROMA_HOST is not set and no embedded server is running in MEMORY_DATA_DIR');
      }
      await (await httpOk(`${endpoints.chromaUrl}/api/v2/heartbeat`, signal)).body?.cancel();
      return 'ok';
    }
    case 'mcp-server':
      return describeServer(await httpOk(`${endpoints.mcpUrl}/health`, signal));
  }
}

/** Probes the services; never throws. */
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
  return `${result.service}: ${result.ok ? result.detail : `FAIL ${result.detail}`} (${result.ms} ms)`;
}

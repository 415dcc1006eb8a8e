/**
 * Chaos benchmark: ingest N artifacts through a real `memory serve` while things break, then
 * count what was lost, duplicated or orphaned and how long orphaned jobs took to run again.
 *
 *   npm run chaos                      # 10,000 jobs
 *   npm run chaos -- --jobs 500        # fewer
 *   node dist/bench/chaos.js --quick   # 300 jobs
 *
 * Set-up: a fresh migrated database, a real Chroma server, `memory serve --no-worker` and W
 * `memory work` processes (default settings: the 30 s lease, 1 s polling, the rules extractor).
 * A client ingests the N artifacts over MCP Streamable HTTP (raw JSON-RPC POSTs, C in flight),
 * each with its own source_id, retrying a failed call (the server is down, Chroma is down, a
 * connection was terminated) until it is acknowledged, as a client should. Meanwhile, at every
 * 1/F of the ingests, one fault, in turn:
 *   - kill -9 of a worker (a replacement starts at once). The jobs it held are orphaned; so that
 *     every kill orphans at least one job, one PENDING job is also claimed under the dead
 *     worker's id, exactly what a worker killed right after its claim leaves behind;
 *   - pg_terminate_backend of every connection of the server and the workers;
 *   - kill -9 of the server, restarted at once on the same port;
 *   - Chroma stopped for CHROMA_DOWN_MS, then started again on the same data.
 * A process that exits by itself is restarted, as a supervisor would, and reported with its log
 * tail. Afterwards every job must end DONE. Counted:
 *   - lost: acknowledged artifacts without a revision, or whose job did not end DONE;
 *   - duplicated: artifacts with more than one revision (the same content stored twice), and
 *     revisions with an event stored twice (two extraction runs both writing);
 *   - orphan vectors: records in Chroma with no row in Postgres (a server killed between its
 *     Chroma write and its Postgres commit leaves one; the orphan sweep removes them);
 *   - orphaned jobs and their recovery time: from the kill (Postgres clock) to DONE.
 * Targets: 0 lost, 0 duplicated, orphaned jobs done within 60 s at default settings.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { type ChromaServer, freePort, startChromaServer } from '../src/embedded/chroma-server.js';
import { createEmbedder } from '../src/providers/embedders.js';
import { createChromaIndex } from '../src/vectors/chroma.js';
import type { CollectionName } from '../src/vectors/index.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import {
  type BenchOptions,
  type BenchResult,
  cleanupOnInterrupt,
  isMainModule,
  percentile,
  runAsScript,
  sleep,
} from './result.js';

const BIN = fileURLToPath(new URL('../../bin/memory', import.meta.url));
const CHROMA_DOWN_MS = 3000;
const LEASE_TARGET_SECONDS = 60;

export interface ChaosOptions {
  jobs: number;
  workers: number;
  /** Ingest calls in flight. */
  concurrency: number;
  /** Number of faults, spread evenly over the ingests. */
  faults: number;
  /** Progress lines on stderr. */
  verbose?: boolean;
}

export interface ChaosReport {
  jobs: number;
  acknowledged: number;
  lost: number;
  duplicatedRevisions: number;
  duplicatedEvents: number;
  orphanVectors: number;
  orphanedJobs: number;
  orphanedJobsDone: number;
  recoveryP50Seconds: number;
  recoveryMaxSeconds: number;
  faults: Record<'worker_kill' | 'terminate' | 'server_kill' | 'chroma_down', number>;
  terminatedConnections: number;
  failedJobs: number;
  /** Processes that exited by themselves, with the tail of their log. */
  problems: string[];
  seconds: number;
}

/** A noun, a verb and a date per artifact, so the rules extractor finds events in each. */
function artifactText(i: number): string {
  const projects = ['Atlas', 'Borealis', 'Cobalt', 'Delta', 'Ember', 'Fjord'];
  const people = ['Alice', 'Bruno', 'Chen', 'Dana', 'Emeka', 'Farah'];
  const project = `${projects[i % projects.length]}-${i}`;
  const person = people[i % people.length];
  return (
    `Meeting notes ${i} for project ${project}.\n` +
    `We decided to move ${project} to the new billing platform by 2025-03-${String((i % 27) + 1).padStart(2, '0')}.\n` +
    `${person} will send the migration plan for ${project} by Friday.\n` +
    `Risk: the export of ${project} may be late if the vendor API changes again.`
  );
}

/** A `memory` process whose output goes to `logFile` (read back when it dies unexpectedly). */
function spawnMemory(args: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'WARN', ...env },
      cwd: tmpdir(),
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
}

async function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill(signal);
  await exited;
}

interface CallOutcome {
  ok: boolean;
  code?: string;
}

/** One tools/call over Streamable HTTP, as raw JSON-RPC (the server is stateless). */
async function callTool(url: string, name: string, args: Record<string, unknown>): Promise<CallOutcome> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name, arguments: args },
      }),
      signal: AbortSignal.timeout(60_000),
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { ok: false, code: `HTTP_${response.status}` };
    }
    const reply = (await response.json()) as {
      result?: { isError?: boolean; structuredContent?: { error?: { code: string } } };
    };
    if (reply.result === undefined) return { ok: false, code: 'JSONRPC_ERROR' };
    if (reply.result.isError)
      return { ok: false, code: reply.result.structuredContent?.error?.code ?? 'ERROR' };
    return { ok: true };
  } catch {
    return { ok: false, code: 'NETWORK' };
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const started = performance.now();
  const log = (line: string) => {
    if (options.verbose) process.stderr.write(`chaos: ${line}\n`);
  };
  const children = new Set<ChildProcess>();
  const dir = mkdtempSync(join(tmpdir(), 'memory-chaos-'));
  let db: TestDatabase | undefined;
  let chroma: ChromaServer | undefined;
  const cleanup = async () => {
    const running = [...children];
    children.clear();
    for (const child of running) await kill(child);
    await chroma?.stop().catch(() => {});
    await db?.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = cleanupOnInterrupt(cleanup);
  try {
    db = await createTestDatabase();
    const chromaPort = await freePort();
    const startChroma = () =>
      startChromaServer({ path: join(dir, 'chroma'), logFile: join(dir, 'chroma.log'), port: chromaPort });
    chroma = await startChroma();
    const mcpPort = await freePort();
    const env = {
      EVENTS_DB_DSN: db.url,
      CHROMA_HOST: '127.0.0.1',
      CHROMA_PORT: String(chromaPort),
      MCP_PORT: String(mcpPort),
      STARTUP_TIMEOUT_SECONDS: '300',
    };
    const url = `http://127.0.0.1:${mcpPort}/mcp/`;

    const serverLog = join(dir, 'server.log');
    const problems: string[] = [];
    /** A server that exits by itself is a finding: its log tail is kept and it is restarted. */
    const startServer = () => {
      const child = spawnMemory(['serve', '--no-worker'], env, serverLog);
      children.add(child);
      child.once('exit', (code, signal) => {
        if (!children.has(child)) return;
        children.delete(child);
        const tail = readFileSync(serverLog, 'utf8').split('\n').slice(-8).join('\n');
        problems.push(`server exited by itself (${code ?? signal}):\n${tail}`);
        log(`server exited by itself (${code ?? signal}):\n${tail}`);
        server = startServer();
      });
      return child;
    };
    let server = startServer();
    const workers: Array<{ id: string; child: ChildProcess }> = [];
    let workerSerial = 0;
    const startWorkerProcess = () => {
      const id = `chaos-w${++workerSerial}`;
      const child = spawnMemory(['work'], { ...env, WORKER_ID: id }, join(dir, `${id}.log`));
      child.once('exit', (code, signal) => {
        if (!children.has(child)) return;
        children.delete(child);
        const tail = readFileSync(join(dir, `${id}.log`), 'utf8')
          .split('\n')
          .slice(-8)
          .join('\n');
        problems.push(`worker ${id} exited by itself (${code ?? signal}):\n${tail}`);
        log(`worker ${id} exited by itself (${code ?? signal}):\n${tail}`);
        // As a supervisor (compose's restart: unless-stopped) would.
        const at = workers.findIndex((worker) => worker.id === id);
        if (at !== -1) workers.splice(at, 1);
        startWorkerProcess();
      });
      children.add(child);
      workers.push({ id, child });
    };
    for (let i = 0; i < options.workers; i++) startWorkerProcess();

    // Wait until the server answers a call.
    const ready = Date.now() + 120_000;
    while (!(await callTool(url, 'memory_list', {})).ok) {
      if (Date.now() > ready) throw new Error('the server did not start within 120 s');
      await sleep(200);
    }

    const faults = { worker_kill: 0, terminate: 0, server_kill: 0, chroma_down: 0 };
    const orphans: Array<{ jobId: string; killedAt: Date }> = [];
    let terminatedConnections = 0;
    const sql = db.sql;

    const killWorker = async () => {
      const victim = workers.shift();
      if (victim === undefined) return;
      children.delete(victim.child);
      await kill(victim.child);
      const [{ now }] = (await sql`select now() as now`) as unknown as [{ now: Date }];
      // What the dead worker held, plus one job claimed in its name: a worker killed right
      // after its claim.
      await sql`
        update event_jobs set status = 'PROCESSING', locked_by = ${victim.id}, locked_at = now(),
               attempts = attempts + 1
        where job_id = (select job_id from event_jobs where status = 'PENDING'
                        order by created_at limit 1 for update skip locked)`;
      const held = await sql<Array<{ job_id: string }>>`
        select job_id from event_jobs where status = 'PROCESSING' and locked_by = ${victim.id}`;
      for (const row of held) orphans.push({ jobId: row.job_id, killedAt: now });
      faults.worker_kill++;
      startWorkerProcess();
      log(`killed worker ${victim.id} (${held.length} orphaned job(s))`);
    };
    const terminate = async () => {
      const rows = await sql`
        select pg_terminate_backend(pid) from pg_stat_activity
        where datname = ${db!.name} and pid <> pg_backend_pid() and application_name like 'memory%'`;
      terminatedConnections += rows.length;
      faults.terminate++;
      log(`terminated ${rows.length} connection(s)`);
    };
    const killServer = async () => {
      const victim = server;
      children.delete(victim);
      await kill(victim);
      server = startServer();
      faults.server_kill++;
      log('killed and restarted the server');
    };
    const chromaDown = async () => {
      await chroma?.stop();
      chroma = undefined;
      await sleep(CHROMA_DOWN_MS);
      chroma = await startChroma();
      faults.chroma_down++;
      log(`Chroma was down for ${CHROMA_DOWN_MS} ms`);
    };
    const schedule = [killWorker, terminate, killServer, killWorker, chromaDown, terminate];

    // Ingest, with a fault at every 1/F of the acknowledged calls.
    let next = 0;
    let acknowledged = 0;
    const acknowledgedIds = new Set<string>();
    const faultEvery = Math.max(1, Math.floor(options.jobs / (options.faults + 1)));
    let faultsDone = 0;
    let faulting: Promise<void> = Promise.resolve();
    const ingestOne = async (i: number) => {
      const sourceId = `chaos-${i}`;
      const deadline = Date.now() + 600_000;
      for (let attempt = 0; ; attempt++) {
        const outcome = await callTool(url, 'artifact_ingest', {
          artifact_type: 'note',
          source_system: 'chaos',
          source_id: sourceId,
          title: `Notes ${i}`,
          content: artifactText(i),
        });
        if (outcome.ok) break;
        if (Date.now() > deadline) return;
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 5)));
      }
      acknowledged++;
      acknowledgedIds.add(sourceId);
      if (acknowledged % faultEvery === 0 && faultsDone < options.faults) {
        const fault = schedule[faultsDone % schedule.length]!;
        faultsDone++;
        faulting = faulting.then(fault).catch((error: unknown) => log(`fault failed: ${String(error)}`));
      }
      if (acknowledged % 1000 === 0) log(`${acknowledged} acknowledged`);
    };
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.jobs) await ingestOne(next++);
      }),
    );
    await faulting;
    // One more worker kill while the queue drains, so orphans are also measured without load.
    await killWorker();

    // Wait until every job has ended.
    const drained = Date.now() + 1_800_000;
    for (;;) {
      const [row] = await sql<Array<{ open: number }>>`
        select count(*)::int as open from event_jobs where status in ('PENDING', 'PROCESSING')`;
      if (row!.open === 0) break;
      if (Date.now() > drained) throw new Error(`${row!.open} jobs still open after 30 minutes`);
      await sleep(500);
    }

    // Counting.
    const revisions = await sql<Array<{ source_id: string; n: number; done: number }>>`
      select r.source_id, count(*)::int as n,
             count(*) filter (where j.status = 'DONE')::int as done
      from artifact_revision r left join event_jobs j using (artifact_uid, revision_id)
      group by r.source_id`;
    const bySource = new Map(revisions.map((row) => [row.source_id, row]));
    let lost = 0;
    for (const sourceId of acknowledgedIds) {
      const row = bySource.get(sourceId);
      if (row === undefined || row.done < 1) lost++;
    }
    const duplicatedRevisions = revisions.filter((row) => row.n > 1).length;
    const [dupEvents] = await sql<Array<{ n: number }>>`
      select count(*)::int as n from (
        select artifact_uid, revision_id from semantic_event
        group by artifact_uid, revision_id
        having count(*) > count(distinct (category, narrative))) d`;
    const [failed] = await sql<Array<{ n: number }>>`
      select count(*)::int as n from event_jobs where status = 'FAILED'`;
    const recovered = await sql<Array<{ job_id: string; status: string; updated_at: Date }>>`
      select job_id::text, status, updated_at from event_jobs
      where job_id = any(${orphans.map((o) => o.jobId)}::uuid[])`;
    const doneAt = new Map(recovered.filter((r) => r.status === 'DONE').map((r) => [r.job_id, r.updated_at]));
    const recoverySeconds = orphans
      .filter((o) => doneAt.has(o.jobId))
      .map((o) => (doneAt.get(o.jobId)!.getTime() - o.killedAt.getTime()) / 1000);

    // Orphan vectors: index records with no row behind them.
    const config = loadConfig({ LOG_LEVEL: 'ERROR' });
    const index = createChromaIndex({
      url: `http://127.0.0.1:${chromaPort}`,
      space: createEmbedder(config).space,
    });
    const listAll = async (name: CollectionName) => {
      const ids: string[] = [];
      for (let offset = 0; ; offset += 5000) {
        const page = await index.listIds(name, { limit: 5000, offset });
        ids.push(...page);
        if (page.length < 5000) return ids;
      }
    };
    const artifactIds = new Set(
      (await sql<Array<{ artifact_id: string }>>`select distinct artifact_id from artifact_revision`).map(
        (r) => r.artifact_id,
      ),
    );
    const chunkIds = new Set(
      (await sql<Array<{ chunk_id: string }>>`select chunk_id from artifact_chunk`).map((r) => r.chunk_id),
    );
    const orphanVectors =
      (await listAll('artifacts')).filter((id) => !artifactIds.has(id)).length +
      (await listAll('artifact_chunks')).filter((id) => !chunkIds.has(id)).length;

    return {
      jobs: options.jobs,
      acknowledged,
      lost,
      duplicatedRevisions,
      duplicatedEvents: dupEvents!.n,
      orphanVectors,
      orphanedJobs: orphans.length,
      orphanedJobsDone: recoverySeconds.length,
      recoveryP50Seconds: recoverySeconds.length > 0 ? percentile(recoverySeconds, 0.5) : 0,
      recoveryMaxSeconds: recoverySeconds.length > 0 ? Math.max(...recoverySeconds) : 0,
      faults,
      terminatedConnections,
      failedJobs: failed!.n,
      problems,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await cleanup();
    unregister();
  }
}

function flag(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  if (index === -1) return undefined;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} expects a positive integer`);
  return value;
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const jobs = flag('--jobs') ?? (options.quick ? 300 : 10_000);
  const workers = flag('--workers') ?? 3;
  const faults = flag('--faults') ?? Math.max(12, Math.min(60, Math.round(jobs / 200)));
  const report = await runChaos({ jobs, workers, concurrency: 6, faults, verbose: true });
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    {
      name: `Chaos: ${report.jobs.toLocaleString('en-US')} ingests and jobs through faults`,
      rows: [
        {
          measure: 'acknowledged ingests',
          value: report.acknowledged,
          target: report.jobs,
          verdict: verdict(report.acknowledged === report.jobs),
        },
        {
          measure: 'lost (acknowledged, no revision or job not DONE)',
          value: report.lost,
          target: 0,
          verdict: verdict(report.lost === 0),
        },
        {
          measure: 'duplicated revisions',
          value: report.duplicatedRevisions,
          target: 0,
          verdict: verdict(report.duplicatedRevisions === 0),
        },
        {
          measure: 'revisions with an event stored twice',
          value: report.duplicatedEvents,
          target: 0,
          verdict: verdict(report.duplicatedEvents === 0),
        },
        {
          measure: 'orphan vectors (before any sweep)',
          value: report.orphanVectors,
          target: '0 after the sweep',
          verdict: 'measured',
        },
        {
          measure: 'orphaned jobs (done / total)',
          value: `${report.orphanedJobsDone} / ${report.orphanedJobs}`,
          target: 'all',
          verdict: verdict(report.orphanedJobsDone === report.orphanedJobs),
        },
        { measure: 'orphan recovery p50 (s)', value: report.recoveryP50Seconds, target: '', verdict: '' },
        {
          measure: 'orphan recovery max (s)',
          value: report.recoveryMaxSeconds,
          target: `<= ${LEASE_TARGET_SECONDS}`,
          verdict: verdict(report.recoveryMaxSeconds <= LEASE_TARGET_SECONDS),
        },
        {
          measure: 'jobs FAILED',
          value: report.failedJobs,
          target: 0,
          verdict: verdict(report.failedJobs === 0),
        },
      ],
      notes: [
        `faults: ${report.faults.worker_kill} worker kill -9, ${report.faults.server_kill} server kill -9, ` +
          `${report.faults.terminate} pg_terminate_backend rounds (${report.terminatedConnections} connections), ` +
          `${report.faults.chroma_down} Chroma outages of ${CHROMA_DOWN_MS / 1000} s; ${workers} workers, default lease (30 s)`,
        `wall time ${report.seconds.toFixed(0)} s`,
      ],
    },
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

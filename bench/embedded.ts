/**
 * The zero-setup server measured as a user meets it: the real `bin/memory serve` started in an
 * empty folder with an empty environment and a fresh HOME (embedded PGlite with the vectors in it
 * through pgvector, in-process worker: one process), next to the same binary against an external
 * Postgres and Chroma.
 *   - cold start: process spawn to the first successful tool call (first start in an empty folder,
 *     which creates the database, and a restart on existing data),
 *   - `initialize` over stdio: spawn of `memory serve --stdio` to the answer, and to the first
 *     answered tool call (a fresh data folder),
 *   - resident memory of the whole process tree when idle,
 *   - artifact_ingest and hybrid_search latency over MCP HTTP.
 *
 *   npm run build && node dist/bench/embedded.js [--quick]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { freePort } from '../src/embedded/chroma-server.js';
import { startTestChroma } from '../test/helpers/chroma.js';
import { BIN } from '../test/helpers/cli.js';
import { createTestDatabase } from '../test/helpers/database.js';
import { callTool, connectClient } from '../test/helpers/server.js';
import { type BenchResult, isMainModule, percentile, runAsScript, sleep } from './result.js';

interface Started {
  child: ChildProcess;
  client: Client;
  /** Spawn to first successful tool call. */
  startMs: number;
  stop(): Promise<void>;
}

async function start(dir: string, env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, MCP_PORT: String(port), LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let client: Client | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited:\n${stderr}`);
    if (performance.now() - began > 120_000) throw new Error(`serve did not answer within 120 s:\n${stderr}`);
    try {
      client ??= await connectClient(`http://127.0.0.1:${port}/mcp/`);
      const answer = await callTool(client, 'memory_list', { limit: 1 });
      if (!answer.isError) break;
    } catch {
      client = undefined;
      await sleep(20);
    }
  }
  const startMs = performance.now() - began;
  return {
    child,
    client,
    startMs,
    async stop() {
      await client?.close().catch(() => {});
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident memory of a process and all its descendants, in MB (Linux /proc). */
function treeRssMb(pid: number): number {
  const lines = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n');
  const children = new Map<number, number[]>();
  for (const line of lines) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const current = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${current}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // The process ended meanwhile.
    }
    stack.push(...(children.get(current) ?? []));
  }
  return total / 1024;
}

const NOTE = (i: number) =>
  `Weekly sync ${i}. The team reviewed the roadmap, the pricing experiment and the hiring plan. ` +
  `We decided to move the launch of feature ${i} to next quarter because the migration is not done. `.repeat(
    6,
  );

/** `memory serve --stdio` in a fresh folder: spawn to `initialize` answered, and to a first tool answer. */
async function stdioStart(
  env: Record<string, string>,
): Promise<{ initializeMs: number; firstCallMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'memory-bench-stdio-'));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN, 'serve', '--stdio'],
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'WARN', ...env },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'memory-bench', version: '1.0.0' });
  try {
    const began = performance.now();
    await client.connect(transport, { timeout: 120_000 });
    const initializeMs = performance.now() - began;
    const answer = await callTool(client, 'memory_list', { limit: 1 });
    if (answer.isError) throw new Error(JSON.stringify(answer.data));
    return { initializeMs, firstCallMs: performance.now() - began };
  } finally {
    await client.close();
    await eventually(() => processesUnder(dir) === 0, 60_000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How many processes mention `dir` in their command line or environment-free args. */
function processesUnder(dir: string): number {
  return execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(dir)).length;
}

async function eventually(condition: () => boolean, ms: number): Promise<void> {
  const began = performance.now();
  while (!condition()) {
    if (performance.now() - began > ms) throw new Error(`not within ${ms} ms`);
    await sleep(50);
  }
}

async function measure(label: string, dir: string, env: Record<string, string>, quick: boolean) {
  const stdio = await stdioStart(env);
  const first = await start(dir, env);
  await sleep(3000);
  const idleRss = treeRssMb(first.child.pid!);
  const ingest: number[] = [];
  for (let i = 0; i < (quick ? 30 : 200); i++) {
    const began = performance.now();
    const answer = await callTool(first.client, 'artifact_ingest', {
      artifact_type: 'note',
      source_system: 'bench',
      source_id: `note-${i}`,
      content: NOTE(i),
    });
    if (answer.isError) throw new Error(JSON.stringify(answer.data));
    ingest.push(performance.now() - began);
  }
  const search: number[] = [];
  for (let i = 0; i < (quick ? 30 : 100); i++) {
    const began = performance.now();
    const answer = await callTool(first.client, 'hybrid_search', {
      query: `launch of feature ${i} pricing`,
      limit: 5,
    });
    if (answer.isError) throw new Error(JSON.stringify(answer.data));
    search.push(performance.now() - began);
  }
  await sleep(2000);
  const busyRss = treeRssMb(first.child.pid!);
  await first.stop();
  const again = await start(dir, env);
  await again.stop();
  return {
    mode: label,
    'first start s': Number((first.startMs / 1000).toFixed(2)),
    'stdio initialize s': Number((stdio.initializeMs / 1000).toFixed(2)),
    'stdio first call s': Number((stdio.firstCallMs / 1000).toFixed(2)),
    'restart s': Number((again.startMs / 1000).toFixed(2)),
    'idle RSS MB': Math.round(idleRss),
    'RSS after load MB': Math.round(busyRss),
    'ingest p50 ms': Number(percentile(ingest, 0.5).toFixed(1)),
    'ingest p95 ms': Number(percentile(ingest, 0.95).toFixed(1)),
    'hybrid p50 ms': Number(percentile(search, 0.5).toFixed(1)),
    'hybrid p95 ms': Number(percentile(search, 0.95).toFixed(1)),
  };
}

export async function run(options: { quick: boolean }): Promise<BenchResult[]> {
  const rows: BenchResult['rows'] = [];
  const embeddedDir = mkdtempSync(join(tmpdir(), 'memory-bench-embedded-'));
  try {
    rows.push(await measure('embedded (PGlite + pgvector, one process)', embeddedDir, {}, options.quick));
  } finally {
    rmSync(embeddedDir, { recursive: true, force: true });
  }
  const [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
  const externalDir = mkdtempSync(join(tmpdir(), 'memory-bench-external-'));
  try {
    const env = { EVENTS_DB_DSN: db.url, CHROMA_HOST: '127.0.0.1', CHROMA_PORT: String(chroma.port) };
    rows.push(await measure('external Postgres + Chroma', externalDir, env, options.quick));
  } finally {
    rmSync(externalDir, { recursive: true, force: true });
    await db.drop();
    await chroma.destroy();
  }
  const [embedded, external] = rows as Array<Record<string, number | string>>;
  const ratio: Record<string, number | string> = { mode: 'embedded / external' };
  for (const key of Object.keys(embedded ?? {})) {
    const a = embedded?.[key];
    const b = external?.[key];
    if (typeof a === 'number' && typeof b === 'number' && b > 0) ratio[key] = Number((a / b).toFixed(2));
  }
  rows.push(ratio);
  return [
    {
      name: 'zero-setup server: start, memory and latency (real binary, MCP over HTTP and stdio)',
      rows,
      notes: [
        'first start = spawn to the first successful tool call in an empty folder (creates the database); restart = the same on existing data',
        'stdio initialize = spawn of serve --stdio in a fresh folder to the initialize answer; stdio first call = to the first answered tools/call',
        'RSS = the whole process tree (embedded: one process; external: the server alone, Postgres and Chroma not counted)',
        `ingest: ${options.quick ? 30 : 200} 1 KB notes; hybrid_search: ${options.quick ? 30 : 100} queries`,
      ],
    },
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

/**
 * Many MCP clients at once against one `memory serve` (`node dist/bench/load.js [--quick]
 * [--seconds N] [--clients N]`): each client is the SDK's `Client` over Streamable HTTP, calling
 * a mix of memory_store, memory_search, artifact_ingest and hybrid_search back to back for the
 * duration (60 s and 50 clients by default; --quick: 10 s). The same mix from a single client
 * first gives each tool's unloaded latency, so the table shows what concurrency costs.
 *
 * The server is the real binary (`bin/memory serve --no-worker`, offline embedder) in its own
 * process, against a fresh database and a fresh Chroma for each phase: the loaded phase starts on
 * empty collections, as a new installation does. Errors are counted per tool (an `isError`
 * result or a failed call) and the first messages printed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { freePort } from '../src/embedded/chroma-server.js';
import { startTestChroma, type TestChroma } from '../test/helpers/chroma.js';
import { BIN } from '../test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import { callTool, connectClient } from '../test/helpers/server.js';
import {
  type BenchOptions,
  type BenchResult,
  cleanupOnInterrupt,
  isMainModule,
  percentile,
  runAsScript,
  sleep,
} from './result.js';

const TOOLS = ['memory_store', 'memory_search', 'artifact_ingest', 'hybrid_search'] as const;
type Tool = (typeof TOOLS)[number];
/** The mix: out of 20 calls, 6 stores, 6 memory searches, 3 ingests, 5 hybrid searches. */
const MIX: Tool[] = [
  ...Array<Tool>(6).fill('memory_store'),
  ...Array<Tool>(6).fill('memory_search'),
  ...Array<Tool>(3).fill('artifact_ingest'),
  ...Array<Tool>(5).fill('hybrid_search'),
];

const WORDS = (
  'alpha budget cache deploy engine feature growth hiring index journey kernel latency metric network ' +
  'onboarding pricing quarter roadmap schema ticket upgrade vendor warehouse yield zone customer churn ' +
  'contract launch migration security incident review design meeting decision risk owner deadline'
).split(' ');

function numberArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} expects a positive number`);
  return value;
}

/** A small deterministic generator per client, so runs are comparable. */
function generator(seed: number) {
  let state = (seed * 2654435761) % 2147483648;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const words = (n: number) => Array.from({ length: n }, () => WORDS[next() % WORDS.length]!).join(' ');
  const sentences = (bytes: number) => {
    const out: string[] = [];
    let length = 0;
    while (length < bytes) {
      const sentence = `${words(6 + (next() % 10))}.`;
      out.push(sentence.charAt(0).toUpperCase() + sentence.slice(1));
      length += sentence.length + 1;
    }
    return out.join(' ');
  };
  return { next, words, sentences };
}

function argumentsFor(tool: Tool, client: number, call: number, g: ReturnType<typeof generator>) {
  switch (tool) {
    case 'memory_store':
      return {
        content: `Client ${client} note ${call}: ${g.sentences(160)}`,
        type: (['preference', 'fact', 'project', 'decision'] as const)[g.next() % 4],
        confidence: 0.8,
      };
    case 'memory_search':
      return { query: g.words(4), limit: 5 };
    case 'artifact_ingest':
      return {
        artifact_type: 'note',
        source_system: 'bench-load',
        source_id: `client-${client}-${call}`,
        content: g.sentences(g.next() % 4 === 0 ? 6000 : 1200),
      };
    case 'hybrid_search':
      return { query: g.words(3), limit: 5 };
  }
}

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** The real binary against its own fresh database and Chroma. */
async function startServer(): Promise<Server> {
  let db: TestDatabase | undefined;
  let chroma: TestChroma | undefined;
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await chroma?.destroy();
    await db?.drop();
  };
  try {
    [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
    const port = await freePort();
    child = spawn(process.execPath, [BIN, 'serve', '--no-worker'], {
      env: {
        PATH: process.env.PATH ?? '',
        EVENTS_DB_DSN: db.url,
        CHROMA_HOST: '127.0.0.1',
        CHROMA_PORT: String(chroma.port),
        MCP_PORT: String(port),
        EMBEDDING_PROVIDER: 'local',
        EVENT_EXTRACTOR: 'rules',
        LOG_LEVEL: 'ERROR',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const url = `http://127.0.0.1:${port}/mcp/`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`serve exited:\n${stderr}`);
      try {
        const probe = await connectClient(url);
        await probe.close();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`serve did not answer within 60 s:\n${stderr}`);
        await sleep(50);
      }
    }
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface PhaseResult {
  latencies: Map<Tool, number[]>;
  errors: Map<Tool, number>;
  messages: Map<string, number>;
  seconds: number;
}

/** `clients` clients calling the mix back to back for `seconds`. */
async function phase(clients: number, seconds: number): Promise<PhaseResult> {
  const server = await startServer();
  const unregister = cleanupOnInterrupt(() => server.stop());
  const open: Client[] = [];
  const result: PhaseResult = {
    latencies: new Map(TOOLS.map((tool) => [tool, []])),
    errors: new Map(TOOLS.map((tool) => [tool, 0])),
    messages: new Map(),
    seconds,
  };
  const fail = (tool: Tool, message: string) => {
    result.errors.set(tool, result.errors.get(tool)! + 1);
    const key = `${tool}: ${message.slice(0, 160)}`;
    result.messages.set(key, (result.messages.get(key) ?? 0) + 1);
  };
  try {
    for (let i = 0; i < clients; i++) open.push(await connectClient(server.url));
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      open.map(async (client, index) => {
        const g = generator(index + 1);
        for (let call = 0; performance.now() < deadline; call++) {
          const tool = MIX[(index + call * 7) % MIX.length]!;
          const t = performance.now();
          try {
            const answer = await callTool(client, tool, argumentsFor(tool, index, call, g));
            if (answer.isError) fail(tool, `${answer.data.error?.code}: ${answer.data.error?.message}`);
            else result.latencies.get(tool)!.push(performance.now() - t);
          } catch (error) {
            fail(tool, error instanceof Error ? error.message : String(error));
          }
        }
      }),
    );
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    await Promise.all(open.map((client) => client.close().catch(() => {})));
    await server.stop();
    unregister();
  }
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = numberArg('--seconds', options.quick ? 10 : 60);
  const clients = numberArg('--clients', 50);
  const singleSeconds = Math.max(5, Math.min(20, seconds / 3));
  const single = await phase(1, singleSeconds);
  const loaded = await phase(clients, seconds);
  const rows: BenchResult['rows'] = [];
  let totalCalls = 0;
  let totalErrors = 0;
  for (const tool of TOOLS) {
    const one = single.latencies.get(tool)!;
    const many = loaded.latencies.get(tool)!;
    const errors = loaded.errors.get(tool)!;
    totalCalls += many.length + errors;
    totalErrors += errors;
    const onep95 = percentile(one, 0.95);
    const p95 = percentile(many, 0.95);
    rows.push({
      tool,
      '1 client: calls': one.length,
      '1 client: p50 ms': percentile(one, 0.5),
      '1 client: p95 ms': onep95,
      [`${clients} clients: calls`]: many.length + errors,
      [`${clients} clients: errors`]: errors,
      [`${clients} clients: p50 ms`]: percentile(many, 0.5),
      [`${clients} clients: p95 ms`]: p95,
      'p95 x 1 client': p95 / onep95,
    });
  }
  const throughput = (r: PhaseResult) =>
    [...r.latencies.values()].reduce((n, l) => n + l.length, 0) / r.seconds;
  return [
    {
      name: `${clients} concurrent MCP clients for ${seconds} s, next to one client (mixed store / search / ingest)`,
      rows,
      notes: [
        `Each client: the SDK's Client over Streamable HTTP, calls back to back, the mix per 20 calls: 6 memory_store, 6 memory_search, 3 artifact_ingest (1.2 KB notes, one in four 6 KB), 5 hybrid_search.`,
        `Server: bin/memory serve --no-worker (offline embedder) in its own process; a fresh database and Chroma per phase. One client ran ${singleSeconds} s first.`,
        `Calls/s: 1 client ${throughput(single).toFixed(1)}, ${clients} clients ${throughput(loaded).toFixed(1)}. Errors: ${totalErrors} of ${totalCalls} calls (target 0).`,
        ...[...loaded.messages.entries()].slice(0, 5).map(([message, n]) => `error x${n}: ${message}`),
      ],
    },
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

/**
 * What MCP over HTTP costs per request, side by side with a raw Node http server answering the
 * same bytes, in the same run (`node dist/bench/mcp-overhead.js [--quick]`):
 * - tools/list, and a cheap tool call (`embedding_health` with the offline embedder), each
 *   driven by a load generator in its own process (bench/http-load.ts) over keep-alive
 *   connections; requests/s and latency, and the ratio to the raw server;
 * - the server's resident memory before and after a long run of tool calls, after warm-up.
 * Ratios, not absolute figures, carry from one machine to another.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startTestServer } from '../test/helpers/server.js';
import { type BenchOptions, type BenchResult, isMainModule, percentile, runAsScript } from './result.js';

const CONNECTIONS = 16;
const PROTOCOL_VERSION = '2025-06-18';

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p95: number;
}

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': PROTOCOL_VERSION,
};

function load(url: string, body: string, seconds: number): Promise<LoadResult> {
  const script = fileURLToPath(new URL('./http-load.js', import.meta.url));
  return new Promise((resolveLoad, reject) => {
    const child = spawn(process.execPath, [script, url, String(seconds), String(CONNECTIONS)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited ${code}`));
      else resolveLoad(JSON.parse(out) as LoadResult);
    });
    child.stdin.end(JSON.stringify({ headers: HEADERS, body }));
  });
}

/** A raw Node http server that answers every POST with `bytes`, as our server answers it. */
async function rawServer(bytes: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bytes);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp/`, server };
}

async function answer(url: string, body: string): Promise<string> {
  const response = await fetch(url, { method: 'POST', headers: HEADERS, body });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
}

/** A full garbage collection (V8's `gc`, exposed for this process only). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = options.quick ? 2 : 3;
  const slices = options.quick ? 2 : 5;
  const t = await startTestServer({ EMBEDDING_PROVIDER: 'local' });
  try {
    const mcpUrl = `${t.url}/mcp/`;
    const cases: Array<[string, string]> = [
      ['tools/list', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })],
      [
        'tools/call embedding_health',
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'embedding_health', arguments: {} },
        }),
      ],
    ];
    const rows: BenchResult['rows'] = [];
    for (const [name, body] of cases) {
      const raw = await rawServer(await answer(mcpUrl, body));
      try {
        await load(raw.url, body, 1);
        await load(mcpUrl, body, 1);
        // Short slices, alternating, so that a burst of other work on a shared machine falls on
        // both servers alike; the ratio is taken per pair of slices and its median reported.
        const baselines: LoadResult[] = [];
        const ourRuns: LoadResult[] = [];
        const ratios: number[] = [];
        const rate = (r: LoadResult) => r.requests / r.seconds;
        for (let slice = 0; slice < slices; slice++) {
          const baseline = await load(raw.url, body, seconds);
          const ours = await load(mcpUrl, body, seconds);
          baselines.push(baseline);
          ourRuns.push(ours);
          ratios.push(rate(ours) / rate(baseline));
        }
        const total = (runs: LoadResult[]) => ({
          rate: runs.reduce((n, r) => n + r.requests, 0) / runs.reduce((n, r) => n + r.seconds, 0),
          p50: percentile(
            runs.map((r) => r.p50),
            0.5,
          ),
          p95: percentile(
            runs.map((r) => r.p95),
            0.5,
          ),
          errors: runs.reduce((n, r) => n + r.errors, 0),
        });
        const base = total(baselines);
        const ours = total(ourRuns);
        rows.push(
          {
            request: name,
            server: 'raw node:http, same bytes',
            'req/s': base.rate,
            'p50 ms': base.p50,
            'p95 ms': base.p95,
            errors: base.errors,
            'x raw (median)': 1,
            'x raw per slice': '',
          },
          {
            request: name,
            server: 'memory /mcp/',
            'req/s': ours.rate,
            'p50 ms': ours.p50,
            'p95 ms': ours.p95,
            errors: ours.errors,
            'x raw (median)': percentile(ratios, 0.5),
            'x raw per slice': `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`,
          },
        );
      } finally {
        await new Promise<void>((r) => raw.server.close(() => r()));
      }
    }

    // Resident memory over a long run of tool calls, after the warm-up above; the live heap after
    // a full garbage collection beside it, which tells retained objects (a leak) from memory the
    // process keeps reserved after a peak.
    const target = options.quick ? 20_000 : 200_000;
    const memoryRows: BenchResult['rows'] = [];
    const sample = (calls: number) => {
      collectGarbage();
      const usage = process.memoryUsage();
      memoryRows.push({
        'tool calls': calls,
        'RSS MB': usage.rss / 2 ** 20,
        'heap used after GC MB': usage.heapUsed / 2 ** 20,
        'external + array buffers MB': (usage.external + usage.arrayBuffers) / 2 ** 20,
      });
      return usage;
    };
    const before = sample(0);
    let done = 0;
    while (done < target) {
      const result = await load(mcpUrl, cases[1]![1], options.quick ? 2 : 10);
      done += result.requests;
      sample(done);
    }
    const after = process.memoryUsage();
    // At most ten rows of the run (evenly spaced, the first and the last kept), then the growth.
    const step = Math.ceil((memoryRows.length - 1) / 9);
    const shown = memoryRows.filter((_, i) => i % step === 0 || i === memoryRows.length - 1);
    shown.push({
      'tool calls': 'growth',
      'RSS MB': (after.rss - before.rss) / 2 ** 20,
      'heap used after GC MB': (after.heapUsed - before.heapUsed) / 2 ** 20,
      'external + array buffers MB':
        (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / 2 ** 20,
    });
    return [
      {
        name: 'MCP over HTTP against a raw Node http server (same machine, same run)',
        rows,
        notes: [
          `${CONNECTIONS} keep-alive connections from a load generator in its own process; after 1 s of warm-up each, ${slices} slices of ${seconds} s per server, alternating raw and memory`,
          "'x raw' is memory's requests/s divided by the raw server's in the slice just before (the median over the slices; target >= 0.25); req/s is over all slices, p50/p95 the median slice's",
        ],
      },
      {
        name: 'Resident memory of the server over many tool calls',
        rows: shown,
        notes: [
          'measured after the warm-up runs above, after a full garbage collection at each row; target: RSS growth <= 10 MB over 200k requests',
          'the server runs in this process (the load generator in its own), so the figures are the whole process',
        ],
      },
    ];
  } finally {
    await t.stop();
  }
}

if (isMainModule(import.meta.url)) await runAsScript(run);

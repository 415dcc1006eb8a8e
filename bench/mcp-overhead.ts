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
import { startTestServer } from '../test/helpers/server.js';
import { type BenchOptions, type BenchResult, isMainModule, runAsScript } from './result.js';

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

export async function run(options: BenchOptions): Promise<BenchResult[]> {
  const seconds = options.quick ? 2 : 8;
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
        const baseline = await load(raw.url, body, seconds);
        const ours = await load(mcpUrl, body, seconds);
        const rate = (r: LoadResult) => r.requests / r.seconds;
        rows.push(
          {
            request: name,
            server: 'raw node:http, same bytes',
            'req/s': rate(baseline),
            'p50 ms': baseline.p50,
            'p95 ms': baseline.p95,
            errors: baseline.errors,
            'x raw': 1,
          },
          {
            request: name,
            server: 'memory /mcp/',
            'req/s': rate(ours),
            'p50 ms': ours.p50,
            'p95 ms': ours.p95,
            errors: ours.errors,
            'x raw': rate(ours) / rate(baseline),
          },
        );
      } finally {
        await new Promise<void>((r) => raw.server.close(() => r()));
      }
    }

    // Resident memory over a long run of tool calls, after the warm-up above.
    const target = options.quick ? 20_000 : 200_000;
    const before = process.memoryUsage().rss;
    let done = 0;
    let rounds = 0;
    while (done < target) {
      const result = await load(mcpUrl, cases[1]![1], options.quick ? 2 : 10);
      done += result.requests;
      rounds++;
    }
    const after = process.memoryUsage().rss;
    return [
      {
        name: 'MCP over HTTP against a raw Node http server (same machine, same run)',
        rows,
        notes: [
          `${CONNECTIONS} keep-alive connections from a load generator in its own process; ${seconds} s per row after 1 s of warm-up`,
          "'x raw' is memory's requests/s divided by the raw server's for the same request (target >= 0.25)",
        ],
      },
      {
        name: 'Resident memory of the server over many tool calls',
        rows: [
          {
            'tool calls': done,
            'load rounds': rounds,
            'RSS before MB': before / 2 ** 20,
            'RSS after MB': after / 2 ** 20,
            'growth MB': (after - before) / 2 ** 20,
          },
        ],
        notes: ['measured after the warm-up runs above; target: growth <= 10 MB over 200k requests'],
      },
    ];
  } finally {
    await t.stop();
  }
}

if (isMainModule(import.meta.url)) await runAsScript(run);

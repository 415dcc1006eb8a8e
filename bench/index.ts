/**
 * `npm run bench`: every benchmark, one after the other, each in its own process (so one's
 * memory and event loop do not colour the next one's figures). Tables go to stdout as markdown.
 * `--quick` passes small sizes through, for a sanity run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES: Array<[string, string[]]> = [
  ['serve.js', []], // retrieval quality, ingest latency, search latency at 10k artifacts
  ['extraction.js', []], // rules extractor on the extraction corpus
  ['queue.js', []], // queue throughput and pickup latency
  ['queue-peers.js', []], // the queue next to graphile-worker and a raw SKIP LOCKED queue
  ['event-search.js', []], // event_search at 100k events
  ['embedded.js', []], // zero-setup server: start, memory, latency
  ['mcp-overhead.js', []], // MCP over HTTP next to a raw Node http server; RSS over many calls
  ['load.js', []], // 50 concurrent MCP clients, mixed tools, next to one client
  ['chaos.js', []], // 10k ingests and jobs through kill -9, terminated connections, Chroma outages
  ['reindex.js', []], // memory import, reindex and export at 10k artifacts + memories + turns
  ['conversations.js', []], // history_search vs BM25 on the shared LoCoMo conversations
  ['recall-scale.js', []], // history_search at 100k turns; memory_list at 1k vs 10k memories
  ['search-scale.js', []], // search and listing at 1k, 10k, 100k items; what postings cost a write
  ['memory-peer.js', []], // next to the reference MCP memory server, over stdio, same run
];

const quick = process.argv.includes('--quick');
let failed = 0;
for (const [file, args] of BENCHES) {
  const script = fileURLToPath(new URL(`./${file}`, import.meta.url));
  process.stdout.write(`\n## ${file.replace(/\.js$/, '')}\n\n`);
  const started = performance.now();
  const result = spawnSync(process.execPath, [script, ...args, ...(quick ? ['--quick'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'ERROR' },
  });
  process.stdout.write(`(${file}: ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;

/**
 * `memory import`, `memory reindex` and `memory export` at scale, with the offline embedder: the
 * real CLI, each run in its own process (peak RSS from /usr/bin/time), against an external
 * Postgres and Chroma.
 *   - import: a synthetic export of N artifacts (one revision each; every 20th a document long
 *     enough to be cut into pieces), N memories and N conversation turns, into an empty store;
 *   - reindex: the whole index rebuilt from Postgres beside the live collections, then switched;
 *   - export: the store at N, and at N/4 (RSS must not grow with the export's size);
 *   - the embedder alone on the same texts, as the ceiling both are compared with.
 *
 *   npm run build && node dist/bench/reindex.js [--quick]   (N = 10,000; 1,000 with --quick)
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { artifactIdOf, artifactUidOf, chunkIdOf, revisionIdOf, sha256Hex } from '../src/domain/ids.js';
import { createLocalEmbedder } from '../src/providers/local-embedder.js';
import { chunkText } from '../src/text/chunking.js';
import { startTestChroma } from '../test/helpers/chroma.js';
import { createTestDatabase } from '../test/helpers/database.js';
import { type BenchResult, cleanupOnInterrupt, isMainModule, runAsScript } from './result.js';

const MEMORY_CLI = fileURLToPath(new URL('../../bin/memory', import.meta.url));
const WORDS =
  'atlas billing cluster rollout budget review launch migration customer contract invoice design roadmap hiring vendor security audit dashboard latency backlog'.split(
    ' ',
  );

function sentence(seed: number, length: number): string {
  const words: string[] = [];
  for (let i = 0; i < length; i++) words.push(WORDS[(seed * 7 + i * 13 + (seed >> 3)) % WORDS.length]!);
  return `${words.join(' ')} ${seed}.`;
}

/** Writes a synthetic export of n artifacts, n memories and n turns; answers its path. */
async function writeExport(
  dir: string,
  n: number,
): Promise<{ path: string; items: number; texts: string[] }> {
  const chunking = loadConfig({}).chunking;
  const path = join(dir, `synthetic-${n}.jsonl`);
  const out = createWriteStream(path);
  const write = async (record: Record<string, unknown>) => {
    if (!out.write(`${JSON.stringify(record)}\n`)) await once(out, 'drain');
  };
  const texts: string[] = [];
  const at = new Date('2026-11-01T00:00:00Z').toISOString();
  await write({ type: 'header', format: 'memory-export', version: 1, exported_at: at });
  for (let i = 0; i < n; i++) {
    const id = `mem_${i.toString(16).padStart(12, '0')}`;
    const content = `The user ${sentence(i, 12)}`;
    texts.push(content);
    await write({
      type: 'memory',
      memory_id: id,
      content,
      memory_type: 'fact',
      confidence: 0.8,
      conversation_id: null,
      tags: [],
      metadata: {},
      ts: at,
    });
  }
  for (let i = 0; i < n; i++) {
    const content = `Turn about ${sentence(i + 1, 16)}`;
    texts.push(content);
    await write({
      type: 'turn',
      conversation_id: `conv-${Math.floor(i / 20)}`,
      turn_index: i % 20,
      role: i % 2 ? 'assistant' : 'user',
      speaker: null,
      content,
      ts: at,
    });
  }
  let pieces = 0;
  for (let i = 0; i < n; i++) {
    const long = i % 20 === 0;
    const content = long
      ? Array.from({ length: 260 }, (_, j) => sentence(i * 300 + j, 14)).join('\n')
      : `Note ${i}: ${sentence(i + 2, 40)}`;
    const contentHash = sha256Hex(content);
    const sourceId = `doc-${i}`;
    const artifactId = artifactIdOf('bench', sourceId, contentHash);
    const { tokenCount, chunks, isChunked } = chunkText(content, chunking);
    pieces += chunks.length;
    for (const chunk of chunks) texts.push(chunk.text);
    await write({
      type: 'revision',
      artifact_uid: artifactUidOf('bench', sourceId),
      revision_id: revisionIdOf(contentHash),
      artifact_id: artifactId,
      artifact_type: long ? 'doc' : 'note',
      source_system: 'bench',
      source_id: sourceId,
      source_url: null,
      source_ts: null,
      title: long ? `Document ${i}` : null,
      author: null,
      participants: [],
      content_hash: contentHash,
      token_count: tokenCount,
      is_chunked: isChunked,
      chunk_count: isChunked ? chunks.length : 0,
      sensitivity: 'normal',
      visibility_scope: 'me',
      retention_policy: 'forever',
      is_latest: true,
      ingested_at: at,
      content,
      chunks: chunks.map((chunk) => {
        const hash = sha256Hex(chunk.text);
        return {
          chunk_index: chunk.index,
          chunk_id: isChunked ? chunkIdOf(artifactId, chunk.index, hash) : artifactId,
          start_char: chunk.startChar,
          end_char: chunk.endChar,
          token_count: chunk.tokenCount,
          content_hash: hash,
        };
      }),
    });
  }
  out.end();
  await once(out, 'finish');
  return { path, items: 3 * n, texts: pieces > 0 ? texts : texts };
}

/** Runs the real CLI under /usr/bin/time; answers seconds and peak RSS (MB). */
function cli(
  args: string[],
  env: Record<string, string>,
): { seconds: number; rssMb: number; stdout: string } {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', 'MAXRSS_KB %M', process.execPath, MEMORY_CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`memory ${args.join(' ')} failed:\n${result.stderr}`);
  const kb = Number(/MAXRSS_KB (\d+)/.exec(result.stderr)?.[1] ?? Number.NaN);
  return { seconds, rssMb: kb / 1024, stdout: result.stdout };
}

export async function run(options: { quick: boolean }): Promise<BenchResult[]> {
  const n = options.quick ? 1000 : 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'memory-bench-reindex-'));
  const [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
  const cleanup = async () => {
    await db.drop().catch(() => {});
    await chroma.destroy().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = cleanupOnInterrupt(cleanup);
  try {
    const env = {
      EVENTS_DB_DSN: db.url,
      CHROMA_HOST: '127.0.0.1',
      CHROMA_PORT: String(chroma.port),
      EMBEDDING_PROVIDER: 'local',
      LOG_LEVEL: 'ERROR',
      // Imported jobs are not run here; the sweep is not part of these figures.
      ORPHAN_SWEEP_INTERVAL_SECONDS: '0',
      INDEX_POLL_MS: '500',
    };
    const synthetic = await writeExport(dir, n);
    const pieces = synthetic.texts.length;

    // The embedder alone, on every text the index holds, in batches of 64.
    const embedder = createLocalEmbedder();
    const embedStarted = performance.now();
    for (let i = 0; i < synthetic.texts.length; i += 64)
      await embedder.embed(synthetic.texts.slice(i, i + 64), 'document');
    const embedSeconds = (performance.now() - embedStarted) / 1000;

    const imported = cli(['import', synthetic.path], env);
    const reindexed = cli(['reindex'], env);
    const full = join(dir, 'full.jsonl');
    const exportedFull = cli(['export', '--out', full], env);

    // The same store at a quarter of its size, for the RSS comparison.
    await db.sql`delete from artifact_revision where artifact_uid in (select artifact_uid from artifact_revision order by artifact_uid offset ${Math.floor(n / 4)})`;
    await db.sql`delete from memory where memory_id in (select memory_id from memory order by memory_id offset ${Math.floor(n / 4)})`;
    await db.sql`delete from conversation_turn where turn_id in (select turn_id from conversation_turn order by turn_id offset ${Math.floor(n / 4)})`;
    const quarter = join(dir, 'quarter.jsonl');
    const exportedQuarter = cli(['export', '--out', quarter], env);

    const items = synthetic.items;
    const mb = (path: string) => statSync(path).size / 1024 / 1024;
    return [
      {
        name: `Import, reindex and export: ${n.toLocaleString('en-US')} artifacts + ${n.toLocaleString('en-US')} memories + ${n.toLocaleString('en-US')} turns (offline embedder)`,
        rows: [
          {
            step: 'embedder alone (every indexed text)',
            items,
            vectors: pieces,
            seconds: embedSeconds,
            'items/s': items / embedSeconds,
            'vs embedder alone': '1.00',
            'peak RSS MB': '',
          },
          {
            step: 'memory import (empty store)',
            items,
            vectors: pieces,
            seconds: imported.seconds,
            'items/s': items / imported.seconds,
            'vs embedder alone': (embedSeconds / imported.seconds).toFixed(2),
            'peak RSS MB': imported.rssMb,
          },
          {
            step: 'memory reindex (all kinds, new collections, switch)',
            items,
            vectors: pieces,
            seconds: reindexed.seconds,
            'items/s': items / reindexed.seconds,
            'vs embedder alone': (embedSeconds / reindexed.seconds).toFixed(2),
            'peak RSS MB': reindexed.rssMb,
          },
          {
            step: `memory export (${mb(full).toFixed(0)} MB)`,
            items,
            vectors: 0,
            seconds: exportedFull.seconds,
            'items/s': items / exportedFull.seconds,
            'vs embedder alone': '',
            'peak RSS MB': exportedFull.rssMb,
          },
          {
            step: `memory export at a quarter of the store (${mb(quarter).toFixed(0)} MB)`,
            items: Math.round(items / 4),
            vectors: 0,
            seconds: exportedQuarter.seconds,
            'items/s': items / 4 / exportedQuarter.seconds,
            'vs embedder alone': '',
            'peak RSS MB': exportedQuarter.rssMb,
          },
        ],
        notes: [
          `items: artifacts + memories + turns; vectors: index records written (${pieces} texts embedded: every memory, turn and artifact piece).`,
          '"vs embedder alone": the embedder\'s time on the same texts divided by the step\'s time (1.00 = the step costs no more than embedding).',
          `RSS of export at the full store / at a quarter: ${(exportedFull.rssMb / exportedQuarter.rssMb).toFixed(2)} (flat memory: close to 1 while the file is 4x larger).`,
          'Each command is the real CLI in its own process (peak RSS by /usr/bin/time, Node and its libraries included); Postgres and Chroma are external.',
        ],
      },
    ];
  } finally {
    unregister();
    await cleanup();
  }
}

if (isMainModule(import.meta.url)) await runAsScript(run);

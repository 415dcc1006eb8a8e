/**
 * Retrieval benchmark on the MS MARCO sample (1,028 passages, 50 queries), scored as
 * benchmarks/README.md says: the top 10 distinct artifacts of each query, MRR@10 and recall@10,
 * mean over the queries.
 *
 * Channels: BM25 through `lexicalSearch` on a fresh migrated Postgres database (dropped at the
 * end), exact cosine over the local embedder's vectors (brute force in memory; Chroma does it in
 * production), and reciprocal-rank fusion of the two. The product fuses three lists for an
 * unchunked artifact (artifact vectors, chunk vectors, lexical), and for short texts both vector
 * channels return the same artifacts, so RRF(vector, vector, BM25) is reported too.
 *
 *   npm run build && node dist/bench/retrieval.js [options]
 *
 *   --data <file>     the sample (default ../shared/benchmarks/retrieval/msmarco-sample.json)
 *   --k <n>           RRF constant (default 60, as RRF_CONSTANT)
 *   --depth <n>       how many hits each channel hands to the fusion (default 10)
 *   --dims <n>        local embedder dimensions (default the embedder's)
 *   --variants        also measure embedder alternatives and dimensions, mean ± sd over
 *                     --seeds hash seeds (default 8): collisions alone move MRR by ~0.02
 *   --scale <n>       then add n artifacts (and n older revisions) and time lexicalSearch again
 *   --database-url    admin connection (default postgres://postgres@127.0.0.1:5432/postgres)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import { fuseRanks } from '../src/domain/search/rrf.js';
import {
  createLocalEmbedder,
  DEFAULT_LOCAL_TUNING,
  LOCAL_EMBEDDING_DIMENSIONS,
  type LocalEmbedderTuning,
} from '../src/providers/local-embedder.js';
import { connect, type Sql } from '../src/store/connect.js';
import { lexicalSearch } from '../src/store/lexical.js';
import { migrate } from '../src/store/migrate.js';
import { percentile } from './result.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/benchmarks/retrieval/msmarco-sample.json' },
    k: { type: 'string', default: '60' },
    depth: { type: 'string', default: '10' },
    dims: { type: 'string', default: String(LOCAL_EMBEDDING_DIMENSIONS) },
    variants: { type: 'boolean', default: false },
    seeds: { type: 'string', default: '8' },
    scale: { type: 'string', default: '0' },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
  },
});

interface Sample {
  passages: Record<string, string>;
  queries: { id: string; query: string; relevant: string[] }[];
}

const sample = JSON.parse(readFileSync(args.data, 'utf8')) as Sample;
const K = Number(args.k);
const DEPTH = Number(args.depth);
const DIMS = Number(args.dims);

/** A ranking: artifact uids, best first, each once. */
type Ranking = string[];

function hex16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

const passages = Object.entries(sample.passages).map(([passageId, text]) => ({
  passageId,
  uid: `uid_${hex16(`msmarco:${passageId}`)}`,
  text,
}));
const passageIdByUid = new Map(passages.map((p) => [p.uid, p.passageId]));

// --- database -----------------------------------------------------------------------------

async function createDatabase(adminUrl: string): Promise<{ sql: Sql; drop(): Promise<void> }> {
  // Like test/helpers/database.ts, without the template: the benchmark runs once.
  const name = `memory_bench_${hex16(`${process.pid}:${Date.now()}`).slice(0, 12)}`;
  const admin = connect(adminUrl, { max: 1 });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const sql = connect(url.toString(), { max: 4 });
  const drop = async () => {
    await sql.end({ timeout: 1 });
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  };
  try {
    await migrate(sql);
  } catch (error) {
    await drop();
    throw error;
  }
  return { sql, drop };
}

/**
 * One unchunked artifact per text, with ids as the specification computes them: uid and
 * artifact id from sha256(`msmarco:<source id>`), revision id from sha256(content).
 */
async function insertArtifacts(sql: Sql, items: { sourceId: string; text: string; latest: boolean }[]) {
  const rows = items.map(({ sourceId, text, latest }) => {
    const key = hex16(`msmarco:${sourceId}`);
    const contentHash = createHash('sha256').update(text).digest('hex');
    const ids = { artifact_uid: `uid_${key}`, revision_id: `rev_${contentHash.slice(0, 16)}` };
    // Whitespace-separated words: token counts play no part in ranking.
    const tokenCount = text.split(/\s+/).length;
    return {
      revision: {
        ...ids,
        artifact_id: `art_${key}`,
        artifact_type: 'doc',
        source_system: 'msmarco',
        source_id: sourceId,
        content_hash: contentHash,
        token_count: tokenCount,
        is_chunked: false,
        chunk_count: 0,
        is_latest: latest,
      },
      content: { ...ids, content: text },
      chunk: {
        ...ids,
        chunk_index: 0,
        chunk_id: `art_${key}`,
        start_char: 0,
        end_char: text.length,
        token_count: tokenCount,
        content_hash: contentHash,
        text,
      },
    };
  });
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await sql.begin(async (tx) => {
      await tx`insert into artifact_revision ${tx(batch.map((r) => r.revision))}`;
      await tx`insert into artifact_content ${tx(batch.map((r) => r.content))}`;
      await tx`insert into artifact_chunk ${tx(batch.map((r) => r.chunk))}`;
    });
  }
}

// --- scoring --------------------------------------------------------------------------------

/** Fuses, query by query, several channels (each a ranking per query) with the product's RRF. */
function fuse(
  channels: readonly { rankings: Ranking[]; weight?: number }[],
  k: number,
  depth: number,
): Ranking[] {
  return sample.queries.map((_, q) =>
    fuseRanks(
      channels.map((c, i) => ({
        name: String(i),
        keys: (c.rankings[q] ?? []).slice(0, depth),
        weight: c.weight ?? 1,
      })),
      k,
    ).map((fused) => fused.key),
  );
}

function score(rankings: readonly Ranking[]): { mrr: number; recall: number } {
  let mrr = 0;
  let recall = 0;
  sample.queries.forEach((query, q) => {
    const top = [...new Set(rankings[q] ?? [])].slice(0, 10).map((uid) => passageIdByUid.get(uid));
    const relevant = new Set(query.relevant);
    const first = top.findIndex((id) => id !== undefined && relevant.has(id));
    if (first >= 0) mrr += 1 / (first + 1);
    recall += top.filter((id) => id !== undefined && relevant.has(id)).length / relevant.size;
  });
  return { mrr: mrr / sample.queries.length, recall: recall / sample.queries.length };
}

function cosineRankings(
  queries: readonly number[][],
  documents: readonly number[][],
  depth: number,
): Ranking[] {
  return queries.map((query) => {
    const scored = documents.map((doc, index) => {
      let dot = 0;
      for (let i = 0; i < doc.length; i++) dot += (doc[i] ?? 0) * (query[i] ?? 0);
      return { uid: passages[index]?.uid ?? '', dot };
    });
    scored.sort((a, b) => b.dot - a.dot || (a.uid < b.uid ? -1 : 1));
    return scored.slice(0, depth).map((s) => s.uid);
  });
}

async function vectorChannel(dimensions: number, tuning: Partial<LocalEmbedderTuning> = {}, depth = 100) {
  const embedder = createLocalEmbedder(dimensions, tuning);
  const start = performance.now();
  const documents = await embedder.embed(
    passages.map((p) => p.text),
    'document',
  );
  const seconds = (performance.now() - start) / 1000;
  const queries = await embedder.embed(
    sample.queries.map((q) => q.query),
    'query',
  );
  return { model: embedder.space.model, seconds, rankings: cosineRankings(queries, documents, depth) };
}

// --- output ---------------------------------------------------------------------------------

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  console.log();
}

async function lexicalLatency(sql: Sql, limit: number): Promise<string> {
  const times: number[] = [];
  // The first round warms caches and plans; two more are timed.
  for (let round = 0; round < 3; round++) {
    for (const q of sample.queries) {
      const start = performance.now();
      await lexicalSearch(sql, lexicalQuery(q.query), { limit });
      if (round > 0) times.push(performance.now() - start);
    }
  }
  return `p50 ${percentile(times, 0.5).toFixed(1)} ms, p95 ${percentile(times, 0.95).toFixed(1)} ms`;
}

const f3 = (x: number) => x.toFixed(3);

// --- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const db = await createDatabase(args['database-url']);
  try {
    await insertArtifacts(
      db.sql,
      passages.map((p) => ({ sourceId: p.passageId, text: p.text, latest: true })),
    );
    await db.sql`vacuum analyze`;

    const lexical: Ranking[] = [];
    const plainBm25: Ranking[] = [];
    for (const q of sample.queries) {
      const hits = await lexicalSearch(db.sql, lexicalQuery(q.query), { limit: 100 });
      lexical.push([...new Set(hits.map((h) => h.artifactUid))]);
      const plain = await lexicalSearch(db.sql, lexicalQuery(q.query, false), { limit: 100 });
      plainBm25.push([...new Set(plain.map((h) => h.artifactUid))]);
    }
    const vectors = await vectorChannel(DIMS);
    const bytes = passages.reduce((sum, p) => sum + Buffer.byteLength(p.text), 0);

    console.log(
      `MS MARCO sample: ${passages.length} passages, ${sample.queries.length} queries; ` +
        `local embedder ${vectors.model}, ${DIMS} dimensions; BM25 k1 1.2 b 0.75; ` +
        `RRF k ${K} over the top ${DEPTH} of each channel unless said otherwise\n`,
    );
    const vector = { rankings: vectors.rankings };
    const two = (bm25: Ranking[], k = K, depth = DEPTH) => fuse([vector, { rankings: bm25 }], k, depth);
    const three = (bm25: Ranking[], k = K, depth = DEPTH) =>
      fuse([vector, vector, { rankings: bm25 }], k, depth);
    const rows: [string, Ranking[]][] = [
      ['bm25, query as typed', plainBm25],
      ['bm25 (lexicalSearch)', lexical],
      ['vector', vectors.rankings],
      ['rrf(vector, bm25)', two(lexical)],
      ['rrf(vector, vector, bm25)', three(lexical)],
      ['rrf(vector, bm25), top 100 of each', two(lexical, K, 100)],
      ['rrf(vector, vector, bm25), top 100 of each', three(lexical, K, 100)],
      ['rrf(vector, bm25 as typed)', two(plainBm25)],
      ['rrf(vector, vector, bm25 as typed)', three(plainBm25)],
    ];
    printTable(
      ['channel', 'MRR@10', 'recall@10'],
      rows.map(([name, rankings]) => {
        const s = score(rankings);
        return [name, f3(s.mrr), f3(s.recall)];
      }),
    );

    const ks = [1, 5, 10, 20, 30, 60, 100];
    printTable(
      ['MRR@10 by RRF k', ...ks.map(String)],
      [
        ['rrf(vector, bm25)', ...ks.map((k) => f3(score(two(lexical, k)).mrr))],
        ['rrf(vector, vector, bm25)', ...ks.map((k) => f3(score(three(lexical, k)).mrr))],
      ],
    );
    const weights = [0.5, 0.75, 1, 1.5, 2, 3];
    printTable(
      [`MRR@10 by vector weight (k ${K})`, ...weights.map(String)],
      [
        [
          'rrf(w * vector, bm25)',
          ...weights.map((w) =>
            f3(score(fuse([{ ...vector, weight: w }, { rankings: lexical }], K, DEPTH)).mrr),
          ),
        ],
      ],
    );

    console.log(
      `embedding: ${(passages.length / vectors.seconds).toFixed(0)} passages/s, ` +
        `${((vectors.seconds * 1000) / (bytes / 1024)).toFixed(3)} ms per KB (one core, first run)`,
    );
    console.log(`lexicalSearch, ${passages.length} chunks, limit 10: ${await lexicalLatency(db.sql, 10)}`);

    if (args.variants) await measureVariants(lexical);

    const scale = Number(args.scale);
    if (scale > 0) {
      const extra = Array.from({ length: scale }, (_, i) => {
        const words = (passages[i % passages.length]?.text ?? '').split(' ');
        // Rotated words: a distinct text with the vocabulary and length of a real passage.
        const shift = (1 + Math.floor(i / passages.length)) % words.length;
        const text = [...words.slice(shift), ...words.slice(0, shift)].join(' ');
        return { sourceId: `scale-${i}`, text };
      });
      await insertArtifacts(
        db.sql,
        extra.map((e) => ({ sourceId: e.sourceId, text: `${e.text} (draft)`, latest: false })),
      );
      await insertArtifacts(
        db.sql,
        extra.map((e) => ({ sourceId: e.sourceId, text: e.text, latest: true })),
      );
      await db.sql`vacuum analyze`;
      console.log(
        `lexicalSearch, ${passages.length + scale} latest chunks + ${scale} older revisions, limit 10: ` +
          (await lexicalLatency(db.sql, 10)),
      );
    }
  } finally {
    await db.drop();
  }
}

/** Ablations of the embedder and a dimension sweep, each as mean ± sd over hash seeds. */
async function measureVariants(lexical: Ranking[]): Promise<void> {
  const seeds = Number(args.seeds);
  const variants: [string, Partial<LocalEmbedderTuning>, number][] = [
    ['default', {}, DIMS],
    ['no lead boost', { leadBoost: 0 }, DIMS],
    ['no answer types', { answerWeight: 0 }, DIMS],
    ['no capitalised-word boost', { capitalBoost: 0 }, DIMS],
    ['no word pairs', { pairWeight: 0 }, DIMS],
    ['adjacent bigrams only', { pairWindow: 1 }, DIMS],
    ['no character n-grams', { charWeight: 0 }, DIMS],
    ['character n-grams at weight 0.3', { charWeight: 0.3 }, DIMS],
    ['character n-grams 3..4', { charMax: 4 }, DIMS],
    ['plural stripping', { stem: true }, DIMS],
    ['words only', { pairWeight: 0, charWeight: 0, answerWeight: 0, leadBoost: 0, capitalBoost: 0 }, DIMS],
    ...[256, 512, 2048, 4096].map((d): [string, Partial<LocalEmbedderTuning>, number] => [
      `${d} dimensions`,
      {},
      d,
    ]),
  ];
  const stats = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    return `${f3(mean)} ± ${sd.toFixed(3)}`;
  };
  const mean = (xs: number[]) => f3(xs.reduce((a, b) => a + b, 0) / xs.length);
  const rows: string[][] = [];
  for (const [name, tuning, dims] of variants) {
    const results: number[][] = [];
    for (let s = 0; s < seeds; s++) {
      const { rankings } = await vectorChannel(dims, { ...tuning, seed: s * 7919 }, 100);
      const vector = score(rankings);
      const two = score(fuse([{ rankings }, { rankings: lexical }], K, DEPTH));
      const three = score(fuse([{ rankings }, { rankings }, { rankings: lexical }], K, DEPTH));
      results.push([vector.mrr, vector.recall, two.mrr, two.recall, three.mrr]);
    }
    const column = (i: number) => results.map((r) => r[i] ?? 0);
    rows.push([name, stats(column(0)), mean(column(1)), stats(column(2)), mean(column(3)), stats(column(4))]);
  }
  console.log(`\nembedder variants, mean (± sd) over ${seeds} hash seeds; RRF k ${K}, top ${DEPTH} of each:`);
  printTable(
    ['variant', 'vector MRR', 'R@10', 'rrf(vector, bm25) MRR', 'R@10', 'rrf(vector, vector, bm25) MRR'],
    rows,
  );
  console.log(`default tuning: ${JSON.stringify(DEFAULT_LOCAL_TUNING)}`);
}

await main();

/**
 * Retrieval benchmark: MS MARCO sample (1,028 passages, 50 queries), scored as
 * benchmarks/README.md says (top 10 distinct artifacts, MRR@10 and recall@10, mean over queries).
 *
 * Channels: BM25 through `lexicalSearch` on a fresh migrated Postgres database, exact cosine over
 * the local embedder's vectors (brute force in memory; Chroma does it in production), and their
 * reciprocal-rank fusion. The database is dropped at the end.
 *
 *   npm run build && node dist/bench/retrieval.js [--data path] [--k 60] [--depth 100] [--scale 20000]
 *
 * `--scale N` adds N more artifacts (and N older revisions) after the quality run and measures
 * lexicalSearch latency again, to see how it grows; 0 skips it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Sql } from '../src/db/connect.js';
import { createLocalEmbedder, type LocalEmbedderTuning } from '../src/embedding/local.js';
import { lexicalSearch } from '../src/search/lexical.js';
import { createTestDatabase } from '../test/helpers/database.js';

interface Sample {
  passages: Record<string, string>;
  queries: { id: string; query: string; relevant: string[] }[];
}

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/benchmarks/retrieval/msmarco-sample.json' },
    k: { type: 'string', default: '60' },
    depth: { type: 'string', default: '100' },
    dims: { type: 'string', default: '' },
    scale: { type: 'string', default: '0' },
    variants: { type: 'boolean', default: false },
  },
});

const sample = JSON.parse(readFileSync(args.data, 'utf8')) as Sample;
const K = Number(args.k);
const DEPTH = Number(args.depth);

function hex16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

interface Passage {
  passageId: string;
  uid: string;
  text: string;
}

const passages: Passage[] = Object.entries(sample.passages).map(([passageId, text]) => ({
  passageId,
  uid: `uid_${hex16(`msmarco:${passageId}`)}`,
  text,
}));
const passageByUid = new Map(passages.map((p) => [p.uid, p.passageId]));

async function insertArtifacts(sql: Sql, items: { sourceId: string; text: string; latest: boolean }[]) {
  const rows = items.map(({ sourceId, text, latest }) => {
    const key = hex16(`msmarco:${sourceId}`);
    const contentHash = createHash('sha256').update(text).digest('hex');
    return {
      revision: {
        artifact_uid: `uid_${key}`,
        revision_id: `rev_${contentHash.slice(0, 16)}`,
        artifact_id: `art_${key}`,
        artifact_type: 'doc',
        source_system: 'msmarco',
        source_id: sourceId,
        content_hash: contentHash,
        // Whitespace words: token counts play no part in ranking.
        token_count: text.split(/\s+/).length,
        is_chunked: false,
        chunk_count: 0,
        is_latest: latest,
      },
      chunk: {
        artifact_uid: `uid_${key}`,
        revision_id: `rev_${contentHash.slice(0, 16)}`,
        chunk_index: 0,
        chunk_id: `art_${key}`,
        start_char: 0,
        end_char: text.length,
        token_count: text.split(/\s+/).length,
        content_hash: contentHash,
        text,
      },
    };
  });
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await sql.begin(async (tx) => {
      await tx`insert into artifact_revision ${tx(batch.map((r) => r.revision))}`;
      await tx`insert into artifact_chunk ${tx(batch.map((r) => r.chunk))}`;
    });
  }
}

type Ranking = string[];

function dedupe(uids: readonly string[]): Ranking {
  return [...new Set(uids)];
}

/** Weighted reciprocal-rank fusion; ties broken by uid so the order is deterministic. */
function rrf(lists: readonly { ranking: Ranking; weight: number }[], k: number): Ranking {
  const scores = new Map<string, number>();
  for (const { ranking, weight } of lists) {
    ranking.forEach((uid, index) => {
      scores.set(uid, (scores.get(uid) ?? 0) + weight / (k + index + 1));
    });
  }
  return [...scores.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([uid]) => uid);
}

function score(rankings: readonly Ranking[]): { mrr: number; recall: number } {
  let mrr = 0;
  let recall = 0;
  sample.queries.forEach((q, i) => {
    const top = (rankings[i] ?? []).slice(0, 10).map((uid) => passageByUid.get(uid));
    const relevant = new Set(q.relevant);
    const first = top.findIndex((id) => id !== undefined && relevant.has(id));
    if (first >= 0) mrr += 1 / (first + 1);
    recall += top.filter((id) => id !== undefined && relevant.has(id)).length / relevant.size;
  });
  return { mrr: mrr / sample.queries.length, recall: recall / sample.queries.length };
}

function cosineRanking(
  query: readonly number[],
  documents: readonly (readonly number[])[],
  depth: number,
): Ranking {
  const scored = documents.map((doc, index) => {
    let dot = 0;
    for (let i = 0; i < doc.length; i++) dot += (doc[i] ?? 0) * (query[i] ?? 0);
    return { uid: passages[index]?.uid ?? '', dot };
  });
  scored.sort((a, b) => b.dot - a.dot || (a.uid < b.uid ? -1 : 1));
  return scored.slice(0, depth).map((s) => s.uid);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function lexicalLatency(sql: Sql, limit: number): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  for (let round = 0; round < 3; round++) {
    for (const q of sample.queries) {
      const start = performance.now();
      await lexicalSearch(sql, q.query, { limit });
      if (round > 0) times.push(performance.now() - start);
    }
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

const rows: string[][] = [];
function report(channel: string, rankings: readonly Ranking[]): number {
  const { mrr, recall } = score(rankings);
  rows.push([channel, mrr.toFixed(3), recall.toFixed(3)]);
  return mrr;
}

function printTable(): void {
  const widths = [0, 1, 2].map((c) =>
    Math.max(...[['channel', 'MRR@10', 'recall@10'], ...rows].map((r) => (r[c] ?? '').length)),
  );
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ');
  console.log(line(['channel', 'MRR@10', 'recall@10']));
  for (const r of rows) console.log(line(r));
  rows.length = 0;
}

async function vectorRankings(dimensions: number, tuning: Partial<LocalEmbedderTuning> = {}) {
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
  return {
    model: embedder.space.model,
    throughput: passages.length / seconds,
    rankings: queries.map((q) => cosineRanking(q, documents, DEPTH)),
  };
}

async function main(): Promise<void> {
  const db = await createTestDatabase();
  try {
    await insertArtifacts(
      db.sql,
      passages.map((p) => ({ sourceId: p.passageId, text: p.text, latest: true })),
    );
    await db.sql`analyze`;

    const lexical: Ranking[] = [];
    for (const q of sample.queries) {
      const hits = await lexicalSearch(db.sql, q.query, { limit: DEPTH });
      lexical.push(dedupe(hits.map((h) => h.artifactUid)));
    }

    const dims = args.dims ? args.dims.split(',').map(Number) : [1024];
    for (const d of dims) {
      const vectors = await vectorRankings(d);
      console.log(
        `\nlocal embedder ${vectors.model}, ${d} dims: ${vectors.throughput.toFixed(0)} passages/s`,
      );
      report('bm25', lexical);
      report('vector', vectors.rankings);
      const fuse = (weights: number[], lists: Ranking[][], k = K) =>
        lists[0]?.map((_, i) =>
          rrf(
            lists.map((l, j) => ({ ranking: l[i] ?? [], weight: weights[j] ?? 1 })),
            k,
          ),
        ) ?? [];
      report(`rrf(vector, bm25) k=${K}`, fuse([1, 1], [vectors.rankings, lexical]));
      report(
        `rrf(vector, vector, bm25) k=${K}`,
        fuse([1, 1, 1], [vectors.rankings, vectors.rankings, lexical]),
      );
      const top10 = (l: Ranking[]) => l.map((r) => r.slice(0, 10));
      report(
        `rrf(vector, bm25) k=${K}, top 10 each`,
        fuse([1, 1], [top10(vectors.rankings), top10(lexical)]),
      );
      for (const k of [1, 5, 10, 20, 30, 60, 100]) {
        report(`rrf(vector, bm25) k=${k}`, fuse([1, 1], [vectors.rankings, lexical], k));
      }
      for (const w of [0.5, 0.75, 1.25, 1.5, 2]) {
        report(`rrf(${w} vector, bm25) k=${K}`, fuse([w, 1], [vectors.rankings, lexical]));
      }
      printTable();
    }

    const latency = await lexicalLatency(db.sql, 10);
    console.log(
      `\nlexicalSearch over ${passages.length} chunks, limit 10: p50 ${latency.p50.toFixed(1)} ms, p95 ${latency.p95.toFixed(1)} ms`,
    );
    const scale = Number(args.scale);
    if (scale > 0) {
      const extra = Array.from({ length: scale }, (_, i) => {
        const base = passages[i % passages.length]?.text ?? '';
        // Rotate the words so each copy is a distinct text with the same vocabulary.
        const words = base.split(' ');
        const shift = 1 + Math.floor(i / passages.length);
        const text = [...words.slice(shift % words.length), ...words.slice(0, shift % words.length)].join(
          ' ',
        );
        return { sourceId: `scale-${i}`, text, old: `${text} (draft)` };
      });
      await insertArtifacts(
        db.sql,
        extra.map((e) => ({ sourceId: e.sourceId, text: e.old, latest: false })),
      );
      await insertArtifacts(
        db.sql,
        extra.map((e) => ({ sourceId: e.sourceId, text: e.text, latest: true })),
      );
      await db.sql`analyze`;
      const scaled = await lexicalLatency(db.sql, 10);
      console.log(
        `lexicalSearch over ${passages.length + scale} latest chunks (+${scale} older revisions), limit 10: p50 ${scaled.p50.toFixed(1)} ms, p95 ${scaled.p95.toFixed(1)} ms`,
      );
    }
  } finally {
    await db.drop();
  }
}

await main();

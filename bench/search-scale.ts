/**
 * Whether search and listing costs stay flat as the store grows, through the real MCP client
 * against real Postgres and Chroma (offline embedder). One server; the store grows in steps
 * (1k, 10k, 100k artifacts, each one chunk, and as many memories and turns) and at each step:
 *   - hybrid_search p50/p95 (unfiltered: BM25 from each term's best postings, sql/011), the same
 *     with a filter (BM25 over every chunk holding a selective term), and the query embedding alone;
 *   - BM25 alone in process, the bounded search next to exact BM25 over every matching chunk, and
 *     how far the bounded top 10 is from the exact one;
 *   - memory_list (limit 10) and history_get (limit 20) p50/p95.
 * The artifacts are the MS MARCO sample's passages, each stored many times with a numbered line
 * (a real vocabulary), and the queries are the sample's own. Rows are written in batches straight
 * into Postgres (the triggers that keep postings run as on ingest) and their vectors by the
 * reindex code, so loading 100k takes minutes, not hours.
 *
 *   npm run build && node dist/bench/search-scale.js [--quick]
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { artifactIdOf, artifactUidOf, chunkIdOf, revisionIdOf, sha256Hex } from '../src/domain/ids.js';
import { artifactsKind } from '../src/domain/reindex/kinds.js';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import { lexicalSearch } from '../src/store/lexical.js';
import { insertMemories } from '../src/store/memories.js';
import { writeRevision } from '../src/store/revisions.js';
import { insertTurns } from '../src/store/turns.js';
import { chunkText } from '../src/text/chunking.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { type BenchResult, isMainModule, mean, percentile, runAsScript } from './result.js';

const SAMPLE = fileURLToPath(
  new URL('../../../shared/benchmarks/retrieval/msmarco-sample.json', import.meta.url),
);
const BATCH = 1000;
/** Turns per conversation: history_get reads one conversation, whatever the store holds. */
const TURNS_PER_CONVERSATION = 500;

interface Sample {
  passages: Record<string, string>;
  queries: Array<{ id: string; query: string }>;
}

const hex = (n: number) => n.toString(16).padStart(16, '0');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const fmt = (ms: number) => Number(ms.toFixed(1));

/** Artifacts [from, to) as ingest stores a small note: one revision, its text, one piece. */
async function addArtifacts(t: TestServer, passages: string[], from: number, to: number): Promise<void> {
  const { sql } = t.db;
  for (let start = from; start < to; start += BATCH) {
    const end = Math.min(to, start + BATCH);
    const revisions: Array<Record<string, string | number | boolean>> = [];
    const contents: Array<Record<string, string>> = [];
    const chunks: Array<Record<string, string | number>> = [];
    for (let i = start; i < end; i++) {
      const content = `${passages[i % passages.length]!}\nCopy ${i} of the passage.`;
      const ids = { artifact_uid: `uid_${hex(i)}`, revision_id: `rev_${hex(i)}` };
      const tokens = content.split(/\s+/).length;
      revisions.push({
        ...ids,
        artifact_id: `art_${hex(i)}`,
        artifact_type: i % 3 === 0 ? 'email' : 'doc',
        source_system: 'bench',
        source_id: `seed-${i}`,
        content_hash: sha(content),
        token_count: tokens,
        is_chunked: false,
        chunk_count: 0,
      });
      contents.push({ ...ids, content });
      chunks.push({
        ...ids,
        chunk_index: 0,
        chunk_id: `art_${hex(i)}`,
        start_char: 0,
        end_char: content.length,
        token_count: tokens,
        content_hash: sha(content),
        text: content,
      });
    }
    await sql.begin(async (tx) => {
      await tx`insert into artifact_revision ${tx(revisions)}`;
      await tx`insert into artifact_content ${tx(contents)}`;
      await tx`insert into artifact_chunk ${tx(chunks)}`;
    });
  }
  // Their vectors, as `memory reindex` writes them (uids grow with i, so the cursor carries on).
  const services = t.server.services;
  const context = { sql, embedder: services.embedder, source: services.vectors };
  for (let cursor = from === 0 ? '' : `uid_${hex(from - 1)}`; ; ) {
    const batch = await artifactsKind.rebuildBatch(context, services.vectors, cursor, 500);
    if (batch === undefined) break;
    cursor = batch.cursor;
  }
}

async function addMemoriesAndTurns(
  t: TestServer,
  passages: string[],
  from: number,
  to: number,
): Promise<void> {
  for (let start = from; start < to; start += BATCH) {
    const range = Array.from({ length: Math.min(to, start + BATCH) - start }, (_, k) => start + k);
    await insertMemories(
      t.db.sql,
      range.map((i) => ({
        memory_id: `mem_${hex(i).slice(4)}`,
        content: passages[i % passages.length]!.slice(0, 200),
        type: (['preference', 'fact', 'project', 'decision'] as const)[i % 4]!,
        confidence: 0.8,
        conversation_id: null,
        ts: new Date(Date.UTC(2024, 0, 1) + i * 1000),
      })),
    );
    await insertTurns(
      t.db.sql,
      range.map((i) => ({
        conversation_id: `conv-${Math.floor(i / TURNS_PER_CONVERSATION)}`,
        turn_index: i % TURNS_PER_CONVERSATION,
        role: i % 2 === 0 ? 'user' : 'assistant',
        speaker: null,
        content: passages[(i * 7) % passages.length]!.slice(0, 300),
        ts: new Date(Date.UTC(2024, 0, 1) + i * 1000),
      })),
    );
  }
}

async function timedCalls(t: TestServer, calls: Array<[string, Record<string, unknown>]>): Promise<number[]> {
  const samples: number[] = [];
  for (const [name, args] of calls) {
    const started = performance.now();
    const answer = await t.call(name, args);
    samples.push(performance.now() - started);
    if (answer.isError) throw new Error(`${name}: ${JSON.stringify(answer.data)}`);
  }
  return samples;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

interface Step {
  items: number;
  p95: Record<string, number>;
  rows: BenchResult['rows'];
  agreement: { overlap: number; sameTop1: number; sameTop10: number };
}

async function measure(t: TestServer, items: number, queries: string[]): Promise<Step> {
  await t.db.sql`analyze`;
  const row = (what: string, samples: number[]) => ({
    what,
    items,
    calls: samples.length,
    'p50 ms': fmt(percentile(samples, 0.5)),
    'p95 ms': fmt(percentile(samples, 0.95)),
  });
  // One pass not measured: the first queries read indexes into the cache.
  await timedCalls(
    t,
    queries.slice(0, 20).map((query) => ['hybrid_search', { query, limit: 10 }]),
  );
  const conversations = Math.max(1, Math.floor(items / TURNS_PER_CONVERSATION));
  const measured: Array<[string, number[]]> = [
    [
      'hybrid_search',
      await timedCalls(
        t,
        queries.map((query) => ['hybrid_search', { query, limit: 10 }]),
      ),
    ],
    [
      'hybrid_search, filtered (artifact_type doc)',
      await timedCalls(
        t,
        queries.map((query) => ['hybrid_search', { query, limit: 10, filters: { artifact_type: 'doc' } }]),
      ),
    ],
  ];
  const embed: number[] = [];
  for (const query of queries) {
    embed.push((await timed(() => t.server.services.embedder.embed([query], 'query'))).ms);
  }
  measured.push(['(query embedding alone)', embed]);
  // BM25 as hybrid_search asks for it (limit 60 for 10 results), bounded and exact, side by side.
  const bounded: number[] = [];
  const exact: number[] = [];
  let overlap = 0;
  let sameTop1 = 0;
  let sameTop10 = 0;
  for (const query of queries) {
    const q = lexicalQuery(query);
    const a = await timed(() => lexicalSearch(t.db.sql, q, { limit: 60 }));
    const b = await timed(() => lexicalSearch(t.db.sql, q, { limit: 60, exact: true }));
    bounded.push(a.ms);
    exact.push(b.ms);
    const top = (hits: typeof a.value) => hits.slice(0, 10).map((hit) => hit.chunkId);
    const [x, y] = [top(a.value), top(b.value)];
    overlap += y.length === 0 ? 1 : x.filter((id) => y.includes(id)).length / y.length;
    if (x[0] === y[0]) sameTop1++;
    if (x.join() === y.join()) sameTop10++;
  }
  measured.push(['BM25 alone, from postings (limit 60)', bounded]);
  measured.push(['BM25 alone, exact over every match (limit 60)', exact]);
  measured.push([
    'memory_list (limit 10)',
    await timedCalls(
      t,
      queries.map(() => ['memory_list', { limit: 10 }]),
    ),
  ]);
  measured.push([
    'history_get (limit 20)',
    await timedCalls(
      t,
      queries.map((_, i) => ['history_get', { conversation_id: `conv-${i % conversations}`, limit: 20 }]),
    ),
  ]);
  return {
    items,
    p95: Object.fromEntries(measured.map(([what, samples]) => [what, percentile(samples, 0.95)])),
    rows: measured.map(([what, samples]) => row(what, samples)),
    agreement: {
      overlap: overlap / queries.length,
      sameTop1: sameTop1 / queries.length,
      sameTop10: sameTop10 / queries.length,
    },
  };
}

/** The ingest transaction (store/revisions.ts writeRevision) of one text, as artifact_ingest writes it. */
async function ingestTransaction(db: TestDatabase, sourceId: string, content: string): Promise<number> {
  const uid = artifactUidOf('bench', sourceId);
  const hash = sha256Hex(content);
  const artifactId = artifactIdOf('bench', sourceId, hash);
  const { chunks, isChunked, tokenCount } = chunkText(content, {
    singlePieceMaxTokens: 1200,
    targetTokens: 900,
    overlapTokens: 100,
  });
  const revision = {
    artifact_uid: uid,
    revision_id: revisionIdOf(hash),
    artifact_id: artifactId,
    artifact_type: 'doc' as const,
    source_system: 'bench',
    source_id: sourceId,
    source_url: null,
    source_ts: null,
    title: null,
    author: null,
    participants: [],
    content_hash: hash,
    token_count: tokenCount,
    is_chunked: isChunked,
    chunk_count: isChunked ? chunks.length : 0,
    sensitivity: 'normal' as const,
    visibility_scope: 'me' as const,
    retention_policy: 'forever' as const,
  };
  const rows = chunks.map((chunk) => ({
    chunk_index: chunk.index,
    chunk_id: isChunked ? chunkIdOf(artifactId, chunk.index, sha256Hex(chunk.text)) : artifactId,
    start_char: chunk.startChar,
    end_char: chunk.endChar,
    token_count: chunk.tokenCount,
    content_hash: sha256Hex(chunk.text),
    text: chunk.text,
  }));
  const started = performance.now();
  await writeRevision(db.sql, revision, content, rows, 3);
  return performance.now() - started;
}

/**
 * What keeping postings costs a write: the ingest transaction into two databases, one with the
 * posting triggers disabled, alternating call by call so machine noise falls on both. Each
 * source is written twice (a second revision replaces the first one's postings).
 */
async function writeCost(passages: string[], quick: boolean): Promise<BenchResult> {
  const [withPostings, without] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  try {
    await without.sql`alter table artifact_chunk disable trigger chunk_posting_keep`;
    await without.sql`alter table artifact_revision disable trigger chunk_posting_keep`;
    const rows: BenchResult['rows'] = [];
    const calls = quick ? 20 : 200;
    for (const [label, bytes] of [
      ['1 KB note', 1000],
      ['100 KB document', 100_000],
    ] as const) {
      const samples: Record<'on' | 'off', number[]> = { on: [], off: [] };
      const count = bytes > 10_000 ? Math.ceil(calls / 10) : calls;
      for (let i = 0; i < count; i++) {
        let content = '';
        for (let k = i; content.length < bytes; k += 7) content += `${passages[k % passages.length]!}\n`;
        for (const version of [content, `${content}Revised.`]) {
          const first = i % 2 === 0;
          const a = await ingestTransaction(first ? withPostings : without, `${label}-${i}`, version);
          const b = await ingestTransaction(first ? without : withPostings, `${label}-${i}`, version);
          samples.on.push(first ? a : b);
          samples.off.push(first ? b : a);
        }
      }
      const on = { p50: percentile(samples.on, 0.5), p95: percentile(samples.on, 0.95) };
      const off = { p50: percentile(samples.off, 0.5), p95: percentile(samples.off, 0.95) };
      rows.push({
        write: label,
        transactions: samples.on.length,
        'with postings p50 / p95 ms': `${fmt(on.p50)} / ${fmt(on.p95)}`,
        'without p50 / p95 ms': `${fmt(off.p50)} / ${fmt(off.p95)}`,
        'ratio p50': Number((on.p50 / off.p50).toFixed(2)),
      });
    }
    return {
      name: 'What keeping postings costs the ingest transaction (Postgres only)',
      rows,
      notes: [
        'the transaction artifact_ingest runs (revision, text, chunks, job); each source written twice, the second revision replacing the first',
        'artifact_ingest as a client sees it also embeds and writes the vector index (bench/serve.ts)',
      ],
    };
  } finally {
    await Promise.all([withPostings.drop(), without.drop()]);
  }
}

export async function run(options: { quick: boolean }): Promise<BenchResult[]> {
  const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as Sample;
  const passages = Object.values(sample.passages);
  const steps = options.quick ? [200, 2000] : [1000, 10_000, 100_000];
  const queries = Array.from(
    { length: options.quick ? 50 : 200 },
    (_, i) => sample.queries[i % sample.queries.length]!.query,
  );
  const cost = await writeCost(passages, options.quick);
  const t = await startTestServer();
  try {
    const results: Step[] = [];
    const loading: string[] = [];
    let stored = 0;
    for (const items of steps) {
      const load = await timed(async () => {
        await addArtifacts(t, passages, stored, items);
        await addMemoriesAndTurns(t, passages, stored, items);
      });
      loading.push(`${(items - stored).toLocaleString('en-US')} in ${(load.ms / 1000).toFixed(0)} s`);
      stored = items;
      results.push(await measure(t, items, queries));
    }
    const [first] = results;
    const growth = results.slice(1).map((step) => ({
      what: `p95 at ${step.items.toLocaleString('en-US')} / p95 at ${first!.items.toLocaleString('en-US')}`,
      ...Object.fromEntries(
        Object.entries(step.p95).map(([what, p95]) => [what, Number((p95 / first!.p95[what]!).toFixed(2))]),
      ),
    }));
    const [postings] = await t.db.sql<{ chunk: number; memory: number; turn: number }[]>`
      select (select count(*) from chunk_posting)::int as chunk, (select count(*) from memory_posting)::int as memory,
             (select count(*) from turn_posting)::int as turn`;
    return [
      cost,
      {
        name: 'Search and listing as the store grows (MCP over HTTP, real Postgres and Chroma, offline embedder)',
        rows: results.flatMap((step) => step.rows),
        notes: [
          `${queries.length} calls per row: the MS MARCO sample's queries, repeated; limit 10`,
          `items = artifacts (one chunk each; the MS MARCO passages, each stored ~${Math.round(steps.at(-1)! / passages.length)} times at the last step) = memories = turns (conversations of ${TURNS_PER_CONVERSATION})`,
          `loading (Postgres with its triggers, then vectors): ${loading.join(', ')}`,
          `postings at the end: ${postings?.chunk} chunk, ${postings?.memory} memory, ${postings?.turn} turn`,
        ],
      },
      { name: 'Growth of p95 (ratio to the first step, same run)', rows: growth },
      {
        name: 'Bounded BM25 (each term’s best postings) against exact BM25, top 10 of the same queries',
        rows: results.map((step) => ({
          items: step.items,
          'mean overlap of the top 10': Number(step.agreement.overlap.toFixed(3)),
          'same first hit': Number(step.agreement.sameTop1.toFixed(3)),
          'same top 10 in order': Number(step.agreement.sameTop10.toFixed(3)),
        })),
        notes: [
          'exact = every chunk holding a selective query term is scored (the path filtered searches take)',
          `mean of the per-step overlap: ${mean(results.map((s) => s.agreement.overlap)).toFixed(3)}`,
        ],
      },
    ];
  } finally {
    await t.stop();
  }
}

if (isMainModule(import.meta.url)) await runAsScript(run);

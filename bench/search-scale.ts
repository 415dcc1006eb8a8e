/**
 * Whether search and listing costs stay flat as the store grows, through the real MCP client
 * against real Postgres and Chroma (offline embedder). One server per size (1k, 10k and 100k
 * artifacts, each one chunk, and as many memories and turns), each with its own database and
 * Chroma; the sizes take turns query by query, so the ratios between them come from one moment.
 * For each:
 *   - hybrid_search, the query embedding alone, memory_list (limit 10) and history_get (limit 20);
 *   - hybrid_search with a filter;
 *   - BM25 alone in process, from postings next to BM25 over every matching chunk, and how far
 *     the top 10 of the first is from the second's;
 * each in a pass of its own (p50/p95).
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
import { type BenchResult, isMainModule, percentile, runAsScript } from './result.js';

const SAMPLE = fileURLToPath(
  new URL('../../../shared/benchmarks/retrieval/msmarco-sample.json', import.meta.url),
);
const BATCH = 1000;
/** Turns per conversation: history_get reads one conversation, whatever the store holds. */
const TURNS_PER_CONVERSATION = 500;

interface Sample {
  passages: Record<string, string>;
  queries: Array<{ id: string; query: string; relevant: string[] }>;
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

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** A query with the passages the sample calls relevant, and the passage ids in artifact order. */
interface Asked {
  query: string;
  relevant: string[];
  ids: string[];
}

interface Agreement {
  /** Sums over the queries: reciprocal ranks (MRR@10) of each way, and top 10s with the same scores. */
  rrPostings: number;
  rrEvery: number;
  sameScores: number;
  queries: number;
}

const noAgreement = (): Agreement => ({ rrPostings: 0, rrEvery: 0, sameScores: 0, queries: 0 });

/** One store of the run: its server, its size, and each measured operation's samples. */
interface Store {
  t: TestServer;
  items: number;
  samples: Map<string, number[]>;
  agreement: Agreement;
}

function record(store: Store, what: string, ms: number): void {
  const list = store.samples.get(what) ?? [];
  list.push(ms);
  store.samples.set(what, list);
}

async function call(t: TestServer, name: string, args: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const answer = await t.call(name, args);
  const ms = performance.now() - started;
  if (answer.isError) throw new Error(`${name}: ${JSON.stringify(answer.data)}`);
  return ms;
}

/** One query against one store, in one of the passes below. */
type Pass = (store: Store, asked: Asked, i: number) => Promise<void>;

/**
 * The calls the flat-cost targets name, as a client makes them: hybrid_search, the query
 * embedding alone, memory_list and history_get.
 */
const servingPass: Pass = async (store, asked, i) => {
  const { t } = store;
  const conversations = Math.max(1, Math.floor(store.items / TURNS_PER_CONVERSATION));
  record(store, 'hybrid_search', await call(t, 'hybrid_search', { query: asked.query, limit: 10 }));
  record(
    store,
    '(query embedding alone)',
    (await timed(() => t.server.services.embedder.embed([asked.query], 'query'))).ms,
  );
  record(store, 'memory_list (limit 10)', await call(t, 'memory_list', { limit: 10 }));
  record(
    store,
    'history_get (limit 20)',
    await call(t, 'history_get', { conversation_id: `conv-${i % conversations}`, limit: 20 }),
  );
};

/** hybrid_search with a filter that keeps two thirds of the artifacts. */
const filteredPass: Pass = async (store, asked) => {
  record(
    store,
    'hybrid_search, filtered (artifact_type doc)',
    await call(store.t, 'hybrid_search', {
      query: asked.query,
      limit: 10,
      filters: { artifact_type: 'doc' },
    }),
  );
};

/**
 * BM25 alone in process, as hybrid_search asks for it (limit 60 for 10 results), from postings
 * and over every matching chunk, and the quality of each. The exhaustive way reads far more of
 * the largest store than a server's own calls do, so it runs in a pass of its own: mixed in, it
 * would push the other calls' pages out of the cache.
 */
const bm25Pass: Pass = async (store, asked) => {
  const { t } = store;
  const q = lexicalQuery(asked.query);
  const bounded = await timed(() => lexicalSearch(t.db.sql, q, { limit: 60 }));
  const exact = await timed(() => lexicalSearch(t.db.sql, q, { limit: 60, exact: true }));
  record(store, 'BM25 alone, from postings (limit 60)', bounded.ms);
  record(store, 'BM25 alone, every matching chunk (limit 60)', exact.ms);
  // Quality of each way: the reciprocal rank of the first copy of a relevant passage in the top
  // 10 (artifact i holds passage i mod the number of passages), and whether both top 10s have
  // the same scores (copies of a passage score the same, so which copy comes back may differ).
  const rr = (hits: typeof bounded.value) => {
    const rank = hits
      .slice(0, 10)
      .findIndex((hit) =>
        asked.relevant.includes(asked.ids[Number.parseInt(hit.artifactUid.slice(4), 16) % asked.ids.length]!),
      );
    return rank < 0 ? 0 : 1 / (rank + 1);
  };
  store.agreement.rrPostings += rr(bounded.value);
  store.agreement.rrEvery += rr(exact.value);
  if (
    exact.value
      .slice(0, 10)
      .every((hit, k) => Math.abs(hit.score - (bounded.value[k]?.score ?? Number.NaN)) < 1e-9)
  ) {
    store.agreement.sameScores++;
  }
  store.agreement.queries++;
};

/**
 * Runs a pass: 20 queries not measured (the first ones read indexes into the cache), then every
 * query, the stores taking turns query by query so a busy moment falls on all sizes alike.
 */
async function runPass(stores: readonly Store[], queries: readonly Asked[], pass: Pass): Promise<void> {
  for (const store of stores) {
    const unmeasured: Store = { ...store, samples: new Map(), agreement: noAgreement() };
    for (const [i, asked] of queries.slice(0, 20).entries()) await pass(unmeasured, asked, i);
  }
  for (const [i, asked] of queries.entries()) {
    for (const store of stores) await pass(store, asked, i);
  }
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
  const ids = Object.keys(sample.passages);
  const queries: Asked[] = Array.from({ length: options.quick ? 50 : 200 }, (_, i) => {
    const { query, relevant } = sample.queries[i % sample.queries.length]!;
    return { query, relevant, ids };
  });
  const cost = await writeCost(passages, options.quick);
  const stores: Store[] = [];
  try {
    const loading: string[] = [];
    for (const items of steps) {
      const t = await startTestServer();
      stores.push({ t, items, samples: new Map(), agreement: noAgreement() });
      const load = await timed(async () => {
        await addArtifacts(t, passages, 0, items);
        await addMemoriesAndTurns(t, passages, 0, items);
      });
      // What autovacuum does to a store that has settled: statistics, and the visibility map
      // that lets a term's postings be counted from the index alone.
      await t.db.sql`vacuum analyze`;
      loading.push(`${items.toLocaleString('en-US')} in ${(load.ms / 1000).toFixed(0)} s`);
    }
    for (const pass of [servingPass, filteredPass, bm25Pass]) await runPass(stores, queries, pass);
    const [first] = stores;
    const rows = stores.flatMap((store) =>
      [...store.samples].map(([what, samples]) => ({
        what,
        items: store.items,
        calls: samples.length,
        'p50 ms': fmt(percentile(samples, 0.5)),
        'p95 ms': fmt(percentile(samples, 0.95)),
      })),
    );
    const p95 = (store: Store, what: string) => percentile(store.samples.get(what)!, 0.95);
    const growth = stores.slice(1).map((store) => ({
      what: `p95 at ${store.items.toLocaleString('en-US')} / p95 at ${first!.items.toLocaleString('en-US')}`,
      ...Object.fromEntries(
        [...store.samples.keys()].map((what) => [
          what,
          Number((p95(store, what) / p95(first!, what)).toFixed(2)),
        ]),
      ),
    }));
    const last = stores.at(-1)!;
    const [postings] = await last.t.db.sql<{ chunk: number; memory: number; turn: number }[]>`
      select (select count(*) from chunk_posting)::int as chunk, (select count(*) from memory_posting)::int as memory,
             (select count(*) from turn_posting)::int as turn`;
    return [
      cost,
      {
        name: 'Search and listing as the store grows (MCP over HTTP, real Postgres and Chroma, offline embedder)',
        rows,
        notes: [
          `${queries.length} calls per row: the MS MARCO sample's queries, repeated; limit 10`,
          `one server per size, each with its own database and Chroma; the sizes take turns query by query`,
          `items = artifacts (one chunk each; the MS MARCO passages, each stored ~${Math.round(last.items / passages.length)} times in the largest store) = memories = turns (conversations of ${TURNS_PER_CONVERSATION})`,
          `loading (Postgres with its triggers, then vectors; then vacuum analyze): ${loading.join(', ')}`,
          `postings in the largest store: ${postings?.chunk} chunk, ${postings?.memory} memory, ${postings?.turn} turn`,
        ],
      },
      { name: 'Growth of p95 (ratio to the smallest store, same run)', rows: growth },
      {
        name: 'BM25 from postings against BM25 over every matching chunk, same queries',
        rows: stores.map((store) => {
          const a = store.agreement;
          return {
            items: store.items,
            'MRR@10 from postings': Number((a.rrPostings / a.queries).toFixed(3)),
            'MRR@10 every matching chunk': Number((a.rrEvery / a.queries).toFixed(3)),
            'same 10 scores in order': Number((a.sameScores / a.queries).toFixed(3)),
          };
        }),
        notes: [
          'MRR@10: the first copy of a passage the sample calls relevant; the sample repeats its queries, so this is the sample MRR',
          'copies of a passage score the same, so agreement is counted on scores, not on which copy is returned',
        ],
      },
    ];
  } finally {
    await Promise.all(stores.map((store) => store.t.stop()));
  }
}

if (isMainModule(import.meta.url)) await runAsScript(run);

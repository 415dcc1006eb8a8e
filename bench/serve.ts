/**
 * End-to-end figures of `memory serve`, through the real MCP client over Streamable HTTP, against
 * a real Postgres and Chroma, with the offline embedder:
 *   - artifact_ingest latency for a 1 KB note and a 100 KB document (embedding time shown apart),
 *   - artifact_search and hybrid_search latency with 10k artifacts stored,
 *   - retrieval quality of hybrid_search on the shared MS MARCO sample, next to its own channels
 *     (BM25 alone, vectors alone), scored as ../shared/benchmarks/README.md says.
 *
 *   npm run build && node dist/bench/serve.js [--quick]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ingestArtifact } from '../src/domain/ingest.js';
import { artifactSearch } from '../src/domain/search/artifact-search.js';
import { HYBRID_TUNING, hybridSearch } from '../src/domain/search/hybrid.js';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import type { Services } from '../src/domain/services.js';
import { createLocalEmbedder } from '../src/providers/local-embedder.js';
import { lexicalSearch } from '../src/store/lexical.js';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { type BenchResult, isMainModule, mean, percentile, runAsScript } from './result.js';

const SAMPLE = fileURLToPath(
  new URL('../../../shared/benchmarks/retrieval/msmarco-sample.json', import.meta.url),
);

const WORDS = (
  'alpha budget cache deploy engine feature growth hiring index journey kernel latency metric network ' +
  'onboarding pricing quarter roadmap schema ticket upgrade vendor warehouse yield zone customer churn ' +
  'contract launch migration security incident review design meeting decision risk owner deadline'
).split(' ');

/** Deterministic filler text of about `bytes` characters, in sentences. */
function text(bytes: number, seed: number): string {
  let state = seed * 2654435761;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state;
  };
  const out: string[] = [];
  let length = 0;
  while (length < bytes) {
    const n = 6 + (next() % 10);
    const words = Array.from({ length: n }, () => WORDS[next() % WORDS.length]!);
    const sentence = `${words[0]!.charAt(0).toUpperCase()}${words.join(' ').slice(1)}.`;
    out.push(sentence);
    length += sentence.length + 1;
  }
  return out.join(' ').slice(0, bytes);
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

function stats(samples: number[]): { p50: number; p95: number } {
  return { p50: percentile(samples, 0.5), p95: percentile(samples, 0.95) };
}

const fmt = (ms: number) => Number(ms.toFixed(1));

async function ingestLatency(t: TestServer, quick: boolean): Promise<BenchResult> {
  const embedder = createLocalEmbedder();
  const rows: BenchResult['rows'] = [];
  for (const [label, bytes, count] of [
    ['1 KB note', 1024, quick ? 50 : 300],
    ['100 KB document', 100 * 1024, quick ? 5 : 30],
  ] as const) {
    const totals: number[] = [];
    const embeds: number[] = [];
    let chunks = 0;
    for (let i = 0; i < count; i++) {
      const content = text(bytes, i + bytes);
      const call = await timed(() =>
        t.call('artifact_ingest', {
          artifact_type: 'doc',
          source_system: 'bench',
          source_id: `${label}-${i}`,
          content,
        }),
      );
      if (call.value.isError) throw new Error(JSON.stringify(call.value.data));
      totals.push(call.ms);
      chunks = Number(call.value.data.num_chunks) || 1;
      // The embedder alone, on the same pieces (re-chunked the same way by the server).
      const pieces = chunks > 1 ? await chunkTexts(t, String(call.value.data.artifact_id)) : [content];
      embeds.push((await timed(() => embedder.embed(pieces, 'document'))).ms);
    }
    const total = stats(totals);
    const embed = stats(embeds);
    rows.push({
      artifact: label,
      calls: count,
      chunks,
      'total p50 ms': fmt(total.p50),
      'total p95 ms': fmt(total.p95),
      'embedder p50 ms': fmt(embed.p50),
      'embedder p95 ms': fmt(embed.p95),
    });
  }
  return {
    name: 'artifact_ingest over MCP HTTP (offline embedder)',
    rows,
    notes: [
      'total = the MCP call as the client sees it; embedder = the local embedder alone on the same pieces',
    ],
  };
}

async function chunkTexts(t: TestServer, artifactId: string): Promise<string[]> {
  const rows = await t.db.sql<Array<{ text: string }>>`
    select c.text from artifact_chunk c join artifact_revision r using (artifact_uid, revision_id)
    where r.artifact_id = ${artifactId} and r.is_latest order by c.chunk_index`;
  return rows.map((row) => row.text);
}

/**
 * Search latency over a realistic vocabulary: the MS MARCO passages, each stored several times
 * under its own source id with a numbered line, and the sample's real queries (repeated). A
 * synthetic text of a few dozen words would make every query term common to every artifact,
 * which no real corpus does.
 */
async function searchLatency(t: TestServer, quick: boolean): Promise<BenchResult> {
  const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as Sample;
  const passages = Object.values(sample.passages);
  const total = quick ? 1000 : 10_000;
  const services = t.server.services;
  const existing = Number((await t.db.sql`select count(*)::int as n from artifact_revision`)[0]?.n ?? 0);
  const seeded = await timed(async () => {
    for (let i = existing; i < total; i++) {
      await ingestArtifact(services, {
        artifact_type: i % 3 === 0 ? 'email' : 'doc',
        source_system: 'bench',
        source_id: `seed-${i}`,
        content: `${passages[i % passages.length]!}\nCopy ${i} of the passage, ${text(60, i)}`,
        sensitivity: 'normal',
        visibility_scope: 'me',
        retention_policy: 'forever',
      });
    }
  });
  await t.db.sql`analyze`;
  const queries = Array.from(
    { length: quick ? 50 : 200 },
    (_, i) => sample.queries[i % sample.queries.length]!.query,
  );
  const embedder = services.embedder;
  const rows: BenchResult['rows'] = [];
  const queryEmbed: number[] = [];
  for (const query of queries) queryEmbed.push((await timed(() => embedder.embed([query], 'query'))).ms);
  for (const tool of ['artifact_search', 'hybrid_search'] as const) {
    const samples: number[] = [];
    for (const query of queries) {
      const call = await timed(() => t.call(tool, { query, limit: 10 }));
      if (call.value.isError) throw new Error(JSON.stringify(call.value.data));
      samples.push(call.ms);
    }
    const s = stats(samples);
    rows.push({
      tool,
      artifacts: total,
      queries: queries.length,
      'p50 ms': fmt(s.p50),
      'p95 ms': fmt(s.p95),
    });
  }
  const e = stats(queryEmbed);
  rows.push({
    tool: '(query embedding alone)',
    artifacts: total,
    queries: queries.length,
    'p50 ms': fmt(e.p50),
    'p95 ms': fmt(e.p95),
  });
  return {
    name: `search over MCP HTTP with ${total.toLocaleString('en-US')} artifacts (MS MARCO passages, each stored ~${Math.round(total / passages.length)} times; the sample's queries)`,
    rows,
    notes: [
      `seeding ${total - existing} artifacts took ${(seeded.ms / 1000).toFixed(1)} s (${((total - existing) / (seeded.ms / 1000)).toFixed(0)} ingests/s in process)`,
    ],
  };
}

interface Sample {
  passages: Record<string, string>;
  queries: Array<{ id: string; query: string; relevant: string[] }>;
}

/** Reciprocal rank of the first relevant passage in the top 10 (0 when none), per query. */
async function reciprocalRanks(
  sample: Sample,
  rank: (query: string) => Promise<string[]>,
): Promise<number[]> {
  const out: number[] = [];
  for (const q of sample.queries) {
    const first = (await rank(q.query)).slice(0, 10).findIndex((id) => q.relevant.includes(id));
    out.push(first >= 0 ? 1 / (first + 1) : 0);
  }
  return out;
}

/** MRR@10 and recall@10 over the sample, for a ranking function returning passage ids. */
async function score(sample: Sample, rank: (query: string) => Promise<string[]>) {
  let mrr = 0;
  let recall = 0;
  for (const q of sample.queries) {
    const top = (await rank(q.query)).slice(0, 10);
    const first = top.findIndex((id) => q.relevant.includes(id));
    if (first >= 0) mrr += 1 / (first + 1);
    recall += top.filter((id) => q.relevant.includes(id)).length / q.relevant.length;
  }
  return { mrr: mrr / sample.queries.length, recall: recall / sample.queries.length };
}

async function retrievalQuality(): Promise<BenchResult> {
  const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as Sample;
  const t = await startTestServer();
  try {
    const services: Services = t.server.services;
    const byUid = new Map<string, string>();
    for (const [id, passage] of Object.entries(sample.passages)) {
      const result = await ingestArtifact(services, {
        artifact_type: 'doc',
        source_system: 'msmarco',
        source_id: id,
        content: passage,
        sensitivity: 'normal',
        visibility_scope: 'me',
        retention_policy: 'forever',
      });
      byUid.set(result.artifact_uid, id);
    }
    await t.db.sql`analyze`;
    const ids = (results: Array<{ artifact_uid?: string }>) =>
      results.map((r) => byUid.get(r.artifact_uid ?? '')).filter((id): id is string => id !== undefined);
    const lexical = await score(sample, async (query) =>
      (await lexicalSearch(services.sql, lexicalQuery(query), { limit: 10 })).map(
        (hit) => byUid.get(hit.artifactUid)!,
      ),
    );
    const vectors = await score(sample, async (query) =>
      ids((await artifactSearch(services, { query, limit: 10, expand_neighbors: false })).results),
    );
    const hybrid = await score(sample, async (query) =>
      ids(
        (
          await hybridSearch(services, {
            query,
            limit: 10,
            expand_neighbors: false,
            include_memory: false,
            include_events: false,
          })
        ).results as Array<{ artifact_uid?: string }>,
      ),
    );
    // Cross-validation of the passage-vector weight: chosen on one half of the queries (even or
    // odd positions), measured on the other.
    const weights = [1, 1.5, 2, 2.5, 3];
    const perWeight = new Map<number, number[]>();
    for (const w of weights) {
      perWeight.set(
        w,
        await reciprocalRanks(sample, async (query) =>
          ids(
            (
              await hybridSearch(
                services,
                { query, limit: 10, expand_neighbors: false, include_memory: false, include_events: false },
                { passageVectorWeight: w },
              )
            ).results as Array<{ artifact_uid?: string }>,
          ),
        ),
      );
    }
    const half = (values: number[], parity: number) => values.filter((_, i) => i % 2 === parity);
    const crossRows = [0, 1].map((tune) => {
      const best = weights.reduce((a, b) =>
        mean(half(perWeight.get(b)!, tune)) > mean(half(perWeight.get(a)!, tune)) ? b : a,
      );
      return {
        channel: `hybrid_search, weight tuned on the ${tune === 0 ? 'even' : 'odd'} queries (w=${best}), measured on the ${tune === 0 ? 'odd' : 'even'} ones`,
        'MRR@10': Number(mean(half(perWeight.get(best)!, 1 - tune)).toFixed(3)),
        'recall@10': '',
      };
    });
    const weightRow = {
      channel: 'hybrid_search MRR@10 by passage-vector weight (all / even / odd queries)',
      'MRR@10': weights
        .map(
          (w) =>
            `w=${w}: ${mean(perWeight.get(w)!).toFixed(3)} / ${mean(half(perWeight.get(w)!, 0)).toFixed(3)} / ${mean(half(perWeight.get(w)!, 1)).toFixed(3)}`,
        )
        .join('; '),
      'recall@10': '',
    };
    const row = (channel: string, s: { mrr: number; recall: number }) => ({
      channel,
      'MRR@10': Number(s.mrr.toFixed(3)),
      'recall@10': Number(s.recall.toFixed(3)),
    });
    return {
      name: `retrieval quality on the MS MARCO sample (${Object.keys(sample.passages).length} passages, ${sample.queries.length} queries)`,
      rows: [
        row('lexical (BM25 in Postgres)', lexical),
        row(`vectors (artifact_search, ${services.embedder.space.model})`, vectors),
        row(
          `hybrid_search (RRF k=${services.config.rrfConstant}, passage-vector weight ${HYBRID_TUNING.passageVectorWeight})`,
          hybrid,
        ),
        ...crossRows,
        weightRow,
        {
          channel: 'reference: BM25 (k1 1.2, b 0.75), outside the project',
          'MRR@10': 0.581,
          'recall@10': '',
        },
        {
          channel: 'reference: USE Lite + BM25 fusion, outside the project',
          'MRR@10': 0.658,
          'recall@10': '',
        },
      ],
      notes: [
        'every passage ingested through artifact_ingest; queries through the same functions the tools call',
      ],
    };
  } finally {
    await t.stop();
  }
}

export async function run(options: { quick: boolean; retrievalOnly?: boolean }): Promise<BenchResult[]> {
  const results: BenchResult[] = [await retrievalQuality()];
  if (options.retrievalOnly) return results;
  const t = await startTestServer();
  try {
    results.push(await ingestLatency(t, options.quick));
    results.push(await searchLatency(t, options.quick));
  } finally {
    await t.stop();
  }
  return results;
}

if (isMainModule(import.meta.url)) {
  const retrievalOnly = process.argv.includes('--retrieval');
  await runAsScript((options) => run({ ...options, retrievalOnly }));
}

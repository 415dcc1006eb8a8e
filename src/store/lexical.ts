import type postgres from 'postgres';
import type { Sql } from './connect.js';

/** A piece of SQL to embed in a query (a condition). */
export type SqlFragment = postgres.PendingQuery<postgres.Row[]>;

/**
 * A query as BM25 reads it: the text whose lexemes are the terms, and the words among them that
 * weigh more (names, acronyms).
 */
export interface LexicalQuery {
  text: string;
  emphasised: string;
}

/** Filters shared by the search channels. The time range applies to `artifact_revision.source_ts`. */
export interface ArtifactFilters {
  artifactType?: string;
  sourceSystem?: string;
  sensitivity?: string;
  visibilityScope?: string;
  timeRangeStart?: Date;
  timeRangeEnd?: Date;
}

/** One chunk of a latest revision with its BM25 score (higher is better). */
export interface LexicalHit {
  artifactUid: string;
  revisionId: string;
  artifactId: string;
  chunkId: string;
  chunkIndex: number;
  score: number;
}

/** Okapi BM25 parameters: the usual defaults, and the ones of the benchmark's reference figure. */
const K1 = 1.2;
const B = 0.75;
/** Query-term weight of an emphasised word (1 for the others). */
const CAPITALISED_TERM_WEIGHT = 1.5;

/**
 * The lexical channel of hybrid search: Okapi BM25 (k1 1.2, b 0.75) over the chunks of latest
 * revisions, computed in Postgres.
 *
 * - Query terms are the distinct lexemes of `to_tsvector('english', query)`, the normalisation
 *   of the stored `text_tsv` (Snowball stemmer, English stop words), combined with OR: a chunk
 *   that matches any term is a candidate. A query without lexemes (only stop words or
 *   punctuation) matches nothing.
 * - Query-term weights (BM25's qtf): a term counts once, or CAPITALISED_TERM_WEIGHT times when
 *   it comes from the query's `emphasised` words (see domain/search/lexical-query.ts, which
 *   prepares the query and measures why).
 * - N, avgdl and each term's document frequency are taken over all latest chunks whatever the
 *   filters: filters choose which chunks come back, not how rare a word is.
 * - idf is Lucene's `ln(1 + (N - df + 0.5) / (df + 0.5))`, not the textbook
 *   `ln((N - df + 0.5) / (df + 0.5))`, which turns negative for a term in more than half of the
 *   chunks and would rank a chunk lower for containing it.
 * - tf is the number of positions of the term in `text_tsv`; the document length is
 *   `text_length`, the number of lexeme occurrences, so both count the same things.
 * - Ties are broken by (artifact_uid, revision_id, chunk_index), and per-term contributions
 *   are summed in lexeme order, so the same data always gives the same order.
 *
 * Cost: one GIN lookup (artifact_chunk_tsv_idx) finds the candidates. After that, the work is
 * linear in the number of latest chunks that contain a query term, plus one pass over the
 * latest chunks for N and avgdl. Measured over the 50 benchmark queries with limit 10
 * (bench/retrieval.ts --scale) on local Postgres 15, on a machine shared with other test runs
 * (load 2 to 5):
 * - 1,028 chunks: p50 3 ms, p95 8 ms.
 * - 11,028 latest chunks plus 10,000 older revisions: p50 35-50 ms, p95 70-120 ms.
 * - 21,028 plus 20,000: p50 85-105 ms, p95 200-245 ms. A common query word then matches most
 *   chunks, which is what exact BM25 in SQL costs.
 * Past about 50,000 chunks, this needs term statistics kept at ingest time or a BM25 index
 * extension. A covering index for the N/avgdl pass, (artifact_uid, revision_id) INCLUDE
 * (text_length), was tried: index-only scans made that pass 2 to 3 times faster, but the
 * whole query was not measurably faster under that load, so no migration ships.
 * The planner cannot estimate a tsquery computed inside the statement: it guessed 5 rows for
 * 16,000. The CTEs that are read more than once are therefore `materialized`. When inlined,
 * the corpus aggregate ran once per candidate, and 1,028 chunks took 44 ms instead of 3.
 */
/**
 * Corpus statistics for BM25: N and the average chunk length over the latest revisions, and the
 * lexemes found in a large share of all chunks with that share (Postgres's own statistics of the
 * tsvector column, `most_common_elems`, kept by autovacuum's ANALYZE). Counting N scans every
 * latest chunk (about 20 ms at 10k artifacts), and all of it moves slowly, so each process reuses
 * the figures for a few seconds; their staleness shifts scores by a fraction of a percent.
 */
const STATS_TTL_MS = 10_000;

interface CorpusStats {
  n: number;
  avgdl: number;
  commonLexemes: string[];
  commonShares: number[];
}

/** The tables BM25 reads: artifact chunks (of latest revisions), memories, conversation turns. */
type LexicalCorpus = 'artifact_chunk' | LexicalTable;

const statsCache = new WeakMap<Sql, Map<LexicalCorpus, StatsEntry>>();

async function corpusStats(sql: Sql, corpus: LexicalCorpus = 'artifact_chunk'): Promise<CorpusStats> {
  let byCorpus = statsCache.get(sql);
  if (byCorpus === undefined) {
    byCorpus = new Map();
    statsCache.set(sql, byCorpus);
  }
  const cached = byCorpus.get(corpus);
  if (cached === undefined) return refreshStats(sql, corpus, byCorpus);
  // Stale figures are served while one refresh runs in the background: no search waits for the
  // count, whose cost grows with the corpus (about 200 ms at 100k chunks).
  if (Date.now() - cached.at >= STATS_TTL_MS && !cached.refreshing) {
    cached.refreshing = true;
    refreshStats(sql, corpus, byCorpus, cached).catch(() => {
      cached.refreshing = false;
    });
  }
  return cached.value;
}

type StatsEntry = { at: number; value: Promise<CorpusStats>; refreshing?: boolean };

function refreshStats(
  sql: Sql,
  corpus: LexicalCorpus,
  byCorpus: Map<LexicalCorpus, StatsEntry>,
  stale?: StatsEntry,
): Promise<CorpusStats> {
  const rows =
    corpus === 'artifact_chunk'
      ? sql<{ n: number; avgdl: number | null }[]>`
          select count(*)::float8 as n, avg(c.text_length)::float8 as avgdl
          from artifact_chunk c
          join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
          where r.is_latest`
      : sql<{ n: number; avgdl: number | null }[]>`
          select count(*)::float8 as n, avg(text_length)::float8 as avgdl from ${sql(corpus)}`;
  const common = sql<{ lexemes: string[] | null; shares: number[] | null }[]>`
    select most_common_elems::text::text[] as lexemes, most_common_elem_freqs as shares
    from pg_stats
    where schemaname = current_schema() and tablename = ${corpus} and attname = 'text_tsv'`;
  const value = Promise.all([rows, common]).then(([[row], [stats]]) => {
    const lexemes = stats?.lexemes ?? [];
    return {
      n: Math.max(1, row?.n ?? 0),
      avgdl: Math.max(1, row?.avgdl ?? 1),
      commonLexemes: lexemes,
      // most_common_elem_freqs ends with min, max and null share after the per-element ones.
      commonShares: (stats?.shares ?? []).slice(0, lexemes.length),
    };
  });
  if (stale === undefined) {
    // The first search of a corpus waits for its figures; a failed count is not kept.
    byCorpus.set(corpus, { at: Date.now(), value });
    value.catch(() => byCorpus.delete(corpus));
    return value;
  }
  return value.then((fresh) => {
    byCorpus.set(corpus, { at: Date.now(), value: Promise.resolve(fresh) });
    return fresh;
  });
}

/**
 * A query term found in more chunks than this (2 % of them, and at least 500) does not select
 * candidates: it is still scored on the candidates its rarer companions select, and when every
 * term is that common the rarest one selects. Such a term's idf is low, yet matching on it made
 * BM25 read and score a large part of the corpus: hybrid_search p95 at 10k artifacts (MS MARCO
 * passages stored about ten times) went from 61 ms to 39 ms with the sample's MRR@10 unchanged
 * (docs/benchmarks.md). The floor of 500 chunks leaves small corpora, where every lexeme looks
 * common to the statistics, searched on all their terms.
 */
function commonShare(n: number): number {
  return Math.max(0.02, 500 / n);
}

/**
 * BM25 over the chunks of latest revisions (see the top of this file). Without filters, the
 * candidates come from each query term's best postings (sql/011, `postingSearch`); with filters,
 * from every chunk holding a selective term, so that a filter never leaves a search short.
 */
export async function lexicalSearch(
  sql: Sql,
  query: LexicalQuery,
  options: { limit: number; filters?: ArtifactFilters; exact?: boolean },
): Promise<LexicalHit[]> {
  if (options.limit < 1) return [];
  const f = options.filters ?? {};
  if (options.exact !== true && Object.values(f).every((value) => value === undefined)) {
    const hits = await postingSearch(sql, 'artifact_chunk', query, options.limit);
    return hits.map(({ id: _, ...hit }) => hit);
  }
  const { text, emphasised } = query;
  const stats = await corpusStats(sql);
  const rows = await sql<
    {
      artifact_uid: string;
      revision_id: string;
      artifact_id: string;
      chunk_id: string;
      chunk_index: number;
      score: number;
    }[]
  >`
    with common as materialized (
      select lexeme, share from unnest(${stats.commonLexemes}::text[], ${stats.commonShares}::float8[]) as c(lexeme, share)
    ),
    terms as materialized (
      -- OR of the query's selective lexemes (or its rarest one when all are common), each quoted
      -- as a tsquery operand (quotes doubled, backslashes escaped) so no lexeme can be read as an
      -- operator; every lexeme of the query is scored.
      select array_agg(q.lexeme) as lexemes,
             coalesce(
               string_agg(quoted, ' | ') filter (where coalesce(c.share, 0) <= ${commonShare(stats.n)}),
               (array_agg(quoted order by c.share nulls first))[1]
             )::tsquery as tsquery
      from unnest(to_tsvector('english', ${text})) q
      left join common c on c.lexeme = q.lexeme
      cross join lateral (
        select '''' || replace(replace(q.lexeme, '\\', '\\\\'), '''', '''''') || '''' as quoted
      ) qq
    ),
    emphasised as materialized (
      select coalesce(array_agg(lexeme), '{}') as lexemes from unnest(to_tsvector('english', ${emphasised}))
    ),
    corpus as materialized (
      select ${stats.n}::float8 as n, ${stats.avgdl}::float8 as avgdl
    ),
    matches as materialized (
      -- Served by the GIN index artifact_chunk_tsv_idx (text_tsv @@ tsquery).
      select c.artifact_uid, c.revision_id, c.chunk_index, c.chunk_id, c.text_length, r.artifact_id,
             r.artifact_type, r.source_system, r.sensitivity, r.visibility_scope, r.source_ts,
             -- Only the query's lexemes with their positions: setweight marks them, ts_filter
             -- drops the rest, so the unnest below reads a few lexemes, not the whole chunk.
             ts_filter(setweight(c.text_tsv, 'A', t.lexemes), '{a}') as hits
      from terms t
      join artifact_chunk c on c.text_tsv @@ t.tsquery
      join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
      where r.is_latest
    ),
    occurrences as (
      select m.artifact_uid, m.revision_id, m.chunk_index, h.lexeme,
             coalesce(array_length(h.positions, 1), 1)::float8 as tf
      from matches m, unnest(m.hits) h
    ),
    document_frequency as materialized (
      -- A common term matched only among the candidates: its share of the corpus is its df.
      select o.lexeme, greatest(count(*)::float8, coalesce(max(c.share), 0) * ${stats.n}::float8) as df
      from occurrences o left join common c on c.lexeme = o.lexeme
      group by o.lexeme
    ),
    scored as (
      select m.artifact_uid, m.revision_id, m.artifact_id, m.chunk_id, m.chunk_index,
             sum(
               (case when o.lexeme = any(e.lexemes) then ${CAPITALISED_TERM_WEIGHT}::float8 else 1 end)
               -- N may be a few seconds old (see corpusStats): never below this query's df.
               * ln(1 + (greatest(s.n, d.df) - d.df + 0.5) / (d.df + 0.5))
               * o.tf * (${K1}::float8 + 1)
               / (o.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * m.text_length / s.avgdl))
               order by o.lexeme
             ) as score
      from matches m
      join occurrences o using (artifact_uid, revision_id, chunk_index)
      join document_frequency d using (lexeme)
      cross join corpus s
      cross join emphasised e
      where true
        ${f.artifactType === undefined ? sql`` : sql`and m.artifact_type = ${f.artifactType}`}
        ${f.sourceSystem === undefined ? sql`` : sql`and m.source_system = ${f.sourceSystem}`}
        ${f.sensitivity === undefined ? sql`` : sql`and m.sensitivity = ${f.sensitivity}`}
        ${f.visibilityScope === undefined ? sql`` : sql`and m.visibility_scope = ${f.visibilityScope}`}
        ${f.timeRangeStart === undefined ? sql`` : sql`and m.source_ts >= ${f.timeRangeStart}`}
        ${f.timeRangeEnd === undefined ? sql`` : sql`and m.source_ts <= ${f.timeRangeEnd}`}
      group by m.artifact_uid, m.revision_id, m.artifact_id, m.chunk_id, m.chunk_index
    )
    select artifact_uid, revision_id, artifact_id, chunk_id, chunk_index, score
    from scored
    order by score desc, artifact_uid, revision_id, chunk_index
    limit ${options.limit}`;
  return rows.map((row) => ({
    artifactUid: row.artifact_uid,
    revisionId: row.revision_id,
    artifactId: row.artifact_id,
    chunkId: row.chunk_id,
    chunkIndex: row.chunk_index,
    score: row.score,
  }));
}

/** Tables whose every row is searchable by BM25: memories and conversation turns (sql/006). */
export type LexicalTable = 'memory' | 'conversation_turn';

/** The column that names a row of each table, the same id its vector has in the index. */
const KEY_COLUMN: Record<LexicalTable, 'memory_id' | 'turn_id'> = {
  memory: 'memory_id',
  conversation_turn: 'turn_id',
};

/** A row of a LexicalTable with its BM25 score (higher is better). */
export interface RowHit {
  id: string;
  score: number;
}

/**
 * BM25 over memories or conversation turns: the same scoring as `lexicalSearch` (k1, b, idf,
 * the emphasised and the common terms, the corpus statistics and their cache), over a table
 * whose every row is current. `keep` is a condition on the row (alias `d`), written by the
 * table's own store module: like the artifact filters, it chooses which rows come back, and
 * document frequencies are still counted over every row that holds a term.
 *
 * Cost: one GIN lookup (memory_tsv_idx or conversation_turn_tsv_idx), then work linear in the
 * rows holding a selective query term (bench/history-scale.ts measures it at 100k turns).
 */
export async function lexicalSearchRows(
  sql: Sql,
  table: LexicalTable,
  query: LexicalQuery,
  options: { limit: number; keep?: SqlFragment; exact?: boolean },
): Promise<RowHit[]> {
  if (options.limit < 1) return [];
  if (options.keep === undefined && options.exact !== true) {
    const hits = await postingSearch(sql, table, query, options.limit);
    return hits.map((hit) => ({ id: hit.id, score: hit.score }));
  }
  const stats = await corpusStats(sql, table);
  const key = sql(KEY_COLUMN[table]);
  const rows = await sql<{ id: string; score: number }[]>`
    with common as materialized (
      select lexeme, share from unnest(${stats.commonLexemes}::text[], ${stats.commonShares}::float8[]) as c(lexeme, share)
    ),
    terms as materialized (
      select array_agg(q.lexeme) as lexemes,
             coalesce(
               string_agg(quoted, ' | ') filter (where coalesce(c.share, 0) <= ${commonShare(stats.n)}),
               (array_agg(quoted order by c.share nulls first))[1]
             )::tsquery as tsquery
      from unnest(to_tsvector('english', ${query.text})) q
      left join common c on c.lexeme = q.lexeme
      cross join lateral (
        select '''' || replace(replace(q.lexeme, '\\', '\\\\'), '''', '''''') || '''' as quoted
      ) qq
    ),
    emphasised as materialized (
      select coalesce(array_agg(lexeme), '{}') as lexemes from unnest(to_tsvector('english', ${query.emphasised}))
    ),
    matches as materialized (
      -- Served by the table's GIN index on text_tsv.
      select d.${key} as id, d.text_length,
             ${options.keep === undefined ? sql`true` : options.keep} as keep,
             ts_filter(setweight(d.text_tsv, 'A', t.lexemes), '{a}') as hits
      from terms t
      join ${sql(table)} d on d.text_tsv @@ t.tsquery
    ),
    occurrences as (
      select m.id, h.lexeme, coalesce(array_length(h.positions, 1), 1)::float8 as tf
      from matches m, unnest(m.hits) h
    ),
    document_frequency as materialized (
      select o.lexeme, greatest(count(*)::float8, coalesce(max(c.share), 0) * ${stats.n}::float8) as df
      from occurrences o left join common c on c.lexeme = o.lexeme
      group by o.lexeme
    ),
    scored as (
      select m.id,
             sum(
               (case when o.lexeme = any(e.lexemes) then ${CAPITALISED_TERM_WEIGHT}::float8 else 1 end)
               * ln(1 + (greatest(${stats.n}::float8, d.df) - d.df + 0.5) / (d.df + 0.5))
               * o.tf * (${K1}::float8 + 1)
               / (o.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * m.text_length / ${stats.avgdl}::float8))
               order by o.lexeme
             ) as score
      from matches m
      join occurrences o using (id)
      join document_frequency d using (lexeme)
      cross join emphasised e
      where m.keep
      group by m.id
    )
    select id, score from scored
    order by score desc, id
    limit ${options.limit}`;
  return rows.map((row) => ({ id: row.id, score: row.score }));
}

/**
 * How many of each query term's best postings are read: the candidates are the union of these
 * lists, and every candidate is then scored exactly. A term found in fewer rows is read whole.
 * bench/search-scale.ts measures what it costs and how far the results stay from exact BM25.
 */
export const POSTINGS_PER_TERM = 100;

/** Where each corpus keeps its postings (sql/011) and which column names a row. */
const POSTINGS: Record<LexicalCorpus, { table: string; key: string }> = {
  artifact_chunk: { table: 'chunk_posting', key: 'artifact_uid' },
  memory: { table: 'memory_posting', key: 'memory_id' },
  conversation_turn: { table: 'turn_posting', key: 'turn_id' },
};

interface PostingHit extends Omit<LexicalHit, 'score'> {
  id: string;
  score: number;
}

/**
 * BM25 with bounded work: each query term contributes its `perTerm` best postings (highest
 * `impact`, read backwards from the top of the posting table's primary key), and the union of
 * those rows is scored exactly as the filtered path scores its candidates: the same idf, tf and
 * length normalisation from the rows' own tsvectors. Document frequencies are the posting counts
 * (an index-only count of one key range) or, for the terms Postgres's statistics call common,
 * their share of the corpus, so the work depends on the number of query terms and `perTerm`, not
 * on how many rows hold a term. A row that is in no term's best list is not scored: with a
 * `perTerm` well above the limit this is a row that no single term ranks near the top.
 */
export async function postingSearch(
  sql: Sql,
  corpus: LexicalCorpus,
  query: LexicalQuery,
  limit: number,
  perTerm = Math.max(POSTINGS_PER_TERM, limit),
): Promise<PostingHit[]> {
  const stats = await corpusStats(sql, corpus);
  const posting = POSTINGS[corpus];
  const postings = sql(posting.table);
  const key = sql(posting.key);
  // The candidates' rows: a chunk of a latest revision, or the memory or turn itself.
  const rows =
    corpus === 'artifact_chunk'
      ? sql`
          select c.artifact_uid || ':' || c.chunk_index as id, c.artifact_uid, c.revision_id, c.chunk_index,
                 c.chunk_id, r.artifact_id, c.text_length, c.text_tsv
          from candidates k
          join artifact_revision r on r.artifact_uid = k.artifact_uid and r.is_latest
          join artifact_chunk c
            on c.artifact_uid = k.artifact_uid and c.revision_id = r.revision_id and c.chunk_index = k.chunk_index`
      : sql`
          select d.${key} as id, null::text as artifact_uid, null::text as revision_id, 0 as chunk_index,
                 null::text as chunk_id, null::text as artifact_id, d.text_length, d.text_tsv
          from candidates k join ${sql(corpus)} d on d.${key} = k.${key}`;
  const candidateKey = corpus === 'artifact_chunk' ? sql`p.artifact_uid, p.chunk_index` : sql`p.${key}`;
  // The primary key's order read backwards, ties included, so the lists do not depend on the plan.
  const best =
    corpus === 'artifact_chunk'
      ? sql`p.impact desc, p.artifact_uid desc, p.chunk_index desc`
      : sql`p.impact desc, p.${key} desc`;
  const found = await sql<
    {
      id: string;
      artifact_uid: string;
      revision_id: string;
      artifact_id: string;
      chunk_id: string;
      chunk_index: number;
      score: number;
    }[]
  >`
    with common as materialized (
      select lexeme, share from unnest(${stats.commonLexemes}::text[], ${stats.commonShares}::float8[]) as c(lexeme, share)
    ),
    terms as materialized (
      select q.lexeme,
             case when q.lexeme = any(tsvector_to_array(to_tsvector('english', ${query.emphasised})))
                  then ${CAPITALISED_TERM_WEIGHT}::float8 else 1 end as weight,
             coalesce(
               c.share * ${stats.n}::float8,
               (select count(*) from ${postings} p where p.lexeme = q.lexeme)::float8
             ) as df
      from unnest(tsvector_to_array(to_tsvector('english', ${query.text}))) q(lexeme)
      left join common c on c.lexeme = q.lexeme
    ),
    candidates as materialized (
      select distinct ${candidateKey}
      from terms t
      cross join lateral (
        select * from ${postings} p where p.lexeme = t.lexeme order by ${best} limit ${perTerm}
      ) p
    ),
    matches as materialized (
      select m.*, ts_filter(setweight(m.text_tsv, 'A', (select array_agg(lexeme) from terms)), '{a}') as hits
      from (${rows}) m
    ),
    scored as (
      select m.id, m.artifact_uid, m.revision_id, m.artifact_id, m.chunk_id, m.chunk_index,
             sum(
               t.weight
               -- N may be a few seconds old (see corpusStats): never below a term's df.
               * ln(1 + (greatest(${stats.n}::float8, t.df) - t.df + 0.5) / (t.df + 0.5))
               * o.tf * (${K1}::float8 + 1)
               / (o.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * m.text_length / ${stats.avgdl}::float8))
               order by o.lexeme
             ) as score
      from matches m
      cross join lateral (
        select h.lexeme, coalesce(array_length(h.positions, 1), 1)::float8 as tf from unnest(m.hits) h
      ) o
      join terms t on t.lexeme = o.lexeme
      group by m.id, m.artifact_uid, m.revision_id, m.artifact_id, m.chunk_id, m.chunk_index
    )
    select id, artifact_uid, revision_id, artifact_id, chunk_id, chunk_index, score
    from scored
    order by score desc, artifact_uid, revision_id, chunk_index, id
    limit ${limit}`;
  return found.map((row) => ({
    id: row.id,
    artifactUid: row.artifact_uid,
    revisionId: row.revision_id,
    artifactId: row.artifact_id,
    chunkId: row.chunk_id,
    chunkIndex: row.chunk_index,
    score: row.score,
  }));
}

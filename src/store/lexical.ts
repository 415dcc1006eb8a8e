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
 * The lexical channel of hybrid search, memory_search and history_search: Okapi BM25 (k1 1.2,
 * b 0.75) computed in Postgres, over the chunks of latest revisions, memories or turns.
 *
 * - Query terms are the distinct lexemes of `to_tsvector('english', query)`, the normalisation
 *   of the stored `text_tsv` (Snowball stemmer, English stop words). A query without lexemes
 *   (only stop words or punctuation) matches nothing.
 * - Query-term weights (BM25's qtf): a term counts once, or CAPITALISED_TERM_WEIGHT times when
 *   it comes from the query's `emphasised` words (see domain/search/lexical-query.ts, which
 *   prepares the query and measures why).
 * - N, avgdl and each term's document frequency are taken over the whole corpus whatever the
 *   filters: filters choose which rows come back, not how rare a word is. A term's df is the
 *   number of its postings (sql/011; an index-only count of one key range) or, for the terms
 *   Postgres's statistics of `text_tsv` call common, their share of the corpus times N.
 * - idf is Lucene's `ln(1 + (N - df + 0.5) / (df + 0.5))`, not the textbook
 *   `ln((N - df + 0.5) / (df + 0.5))`, which turns negative for a term in more than half of the
 *   rows and would rank a row lower for containing it.
 * - tf is the number of positions of the term in `text_tsv`; the document length is
 *   `text_length`, the number of lexeme occurrences, so both count the same things.
 * - Ties are broken by (artifact_uid, revision_id, chunk_index) or the row's id, and per-term
 *   contributions are summed in lexeme order, so the same data always gives the same order.
 *
 * Which rows are scored in full (from their own tsvectors):
 * - First, from the postings alone (sql/011, an index-only scan): each term's POSTINGS_PER_TERM
 *   best postings. Each row's BM25 over the postings read is a lower bound of its score (a term
 *   past its best postings is missing), and the SHORTLIST rows with the highest are scored in
 *   full, then the filters apply. The work is bounded by the number of query terms: at most
 *   POSTINGS_PER_TERM index entries each, read without touching a row, and SHORTLIST rows.
 * - When filters leave fewer rows than the limit in the shortlist (a narrow filter, such as one
 *   conversation), or with `exact`: every row that passes the filters and holds a selective term
 *   (found by the GIN index on `text_tsv`, or by the filter's own index when that is narrower).
 *   Linear in the rows selected.
 * In the exhaustive way, a term found in more than max(2 %, 500) of the rows is common: it does
 * not select rows, it is scored on the rows its rarer companions select, and when every term is
 * that common the rarest one selects.
 *
 * The planner cannot estimate a tsquery computed inside the statement: it guessed 5 rows for
 * 16,000. The CTEs that are read more than once are therefore `materialized`.
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

/** Tables whose every row is searchable by BM25: memories and conversation turns (sql/006). */
export type LexicalTable = 'memory' | 'conversation_turn';

/** A row of a LexicalTable with its BM25 score (higher is better). */
export interface RowHit {
  id: string;
  score: number;
}

/**
 * How many of each query term's best postings are read (a term in fewer rows is read whole).
 * On 100,000 artifacts (the MS MARCO passages, each stored about 97 times), 1,000 gave the
 * MRR@10 of scoring every row that holds a selective term, at a fraction of the time; 300 and
 * 100 lost 0.04 and 0.08 (bench/search-scale.ts, docs/benchmarks.md).
 */
export const POSTINGS_PER_TERM = 1000;

/**
 * How many rows, by their BM25 over the postings read, are scored in full (at least twice the
 * limit).
 */
export const SHORTLIST = 100;

/** Where each corpus keeps its postings (sql/011) and which column names a row. */
const POSTINGS: Record<LexicalCorpus, { table: string; key: string }> = {
  artifact_chunk: { table: 'chunk_posting', key: 'artifact_uid' },
  memory: { table: 'memory_posting', key: 'memory_id' },
  conversation_turn: { table: 'turn_posting', key: 'turn_id' },
};

interface ScoredRow {
  id: string;
  artifact_uid: string;
  revision_id: string;
  artifact_id: string;
  chunk_id: string;
  chunk_index: number;
  score: number;
}

interface Bm25Options {
  limit: number;
  /** A condition on the row (alias `d`, and `r` for an artifact chunk's revision). */
  filter?: SqlFragment | undefined;
  /** Score every row holding a selective term even without a filter (the reference). */
  exact?: boolean | undefined;
  /** Postings read per term (default max(POSTINGS_PER_TERM, limit)). */
  perTerm?: number | undefined;
  /** Rows scored in full (default max(SHORTLIST, 2 x limit)). */
  shortlist?: number | undefined;
}

/**
 * BM25 over one corpus (see the top of this file). The best postings are scored first; when a
 * filter leaves fewer rows than the limit among them, every row that passes the filter is scored
 * instead. Without a filter, fewer rows than the limit means every term's postings were all read.
 */
async function bm25(
  sql: Sql,
  corpus: LexicalCorpus,
  query: LexicalQuery,
  options: Bm25Options,
): Promise<ScoredRow[]> {
  if (options.limit < 1) return [];
  const stats = await corpusStats(sql, corpus);
  if (options.exact !== true) {
    const best = await bm25Query(sql, corpus, query, options, stats, true);
    if (options.filter === undefined || best.length >= options.limit) return best;
  }
  return bm25Query(sql, corpus, query, options, stats, false);
}

async function bm25Query(
  sql: Sql,
  corpus: LexicalCorpus,
  query: LexicalQuery,
  options: Bm25Options,
  stats: CorpusStats,
  fromPostings: boolean,
): Promise<ScoredRow[]> {
  const posting = POSTINGS[corpus];
  const postings = sql(posting.table);
  const key = sql(posting.key);
  const perTerm = options.perTerm ?? Math.max(POSTINGS_PER_TERM, options.limit);
  const isChunk = corpus === 'artifact_chunk';
  // The rows: a chunk with its revision (only latest revisions are searched), a memory or a turn.
  const source = isChunk
    ? sql`artifact_chunk d
          join artifact_revision r
            on r.artifact_uid = d.artifact_uid and r.revision_id = d.revision_id and r.is_latest`
    : sql`${sql(corpus)} d`;
  const columns = isChunk
    ? sql`d.artifact_uid || ':' || d.chunk_index as id, d.artifact_uid, d.revision_id, d.chunk_index,
          d.chunk_id, r.artifact_id`
    : sql`d.${key} as id, null::text as artifact_uid, null::text as revision_id, 0 as chunk_index,
          null::text as chunk_id, null::text as artifact_id`;
  const rowKey = isChunk ? sql`p.artifact_uid, p.chunk_index` : sql`p.${key}`;
  const candidates = fromPostings
    ? sql`
      candidates as materialized (
        -- From the postings alone (an index-only scan): each term's best postings, in the order of
        -- the posting key (sql/011), ties included, so the lists do not depend on the plan. A
        -- row's BM25 over the postings read is a lower bound of its score (a term past its best
        -- postings is missing); the rows with the highest are scored in full below.
        select ${rowKey},
               sum(t.factor * p.tf * (${K1}::float8 + 1)
                   / (p.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * p.dl / ${stats.avgdl}::float8))) as partial
        from terms t
        cross join lateral (
          select * from ${postings} p
          where p.lexeme = t.lexeme
          order by ${isChunk ? sql`p.impact desc, p.artifact_uid, p.chunk_index` : sql`p.impact desc, p.${key}`}
          limit ${perTerm}
        ) p
        group by ${rowKey}
        order by partial desc, ${rowKey}
        limit ${options.shortlist ?? Math.max(SHORTLIST, options.limit * 2)}
      ),`
    : sql``;
  const filter = options.filter === undefined ? sql`` : sql`and ${options.filter}`;
  const rows = fromPostings
    ? sql`
      from candidates k
      cross join selection w
      join ${source}
        on ${isChunk ? sql`d.artifact_uid = k.artifact_uid and d.chunk_index = k.chunk_index` : sql`d.${key} = k.${key}`}
      where true ${filter}`
    : sql`
      from selection w
      cross join ${source}
      -- The GIN index on text_tsv, or the filter's own index when it is narrower.
      where d.text_tsv @@ w.tsquery ${filter}`;
  return sql<ScoredRow[]>`
    with common as materialized (
      select lexeme, share from unnest(${stats.commonLexemes}::text[], ${stats.commonShares}::float8[]) as c(lexeme, share)
    ),
    terms as materialized (
      select *,
             -- N may be a few seconds old (see corpusStats): never below a term's df.
             weight * ln(1 + (greatest(${stats.n}::float8, df) - df + 0.5) / (df + 0.5)) as factor
      from (
        select q.lexeme, c.share,
               case when q.lexeme = any(tsvector_to_array(to_tsvector('english', ${query.emphasised})))
                    then ${CAPITALISED_TERM_WEIGHT}::float8 else 1 end as weight,
               coalesce(
                 c.share * ${stats.n}::float8,
                 (select count(*) from ${postings} p where p.lexeme = q.lexeme)::float8
               ) as df,
               -- The lexeme as a tsquery operand (quotes doubled, backslashes escaped), so that no
               -- lexeme can be read as an operator.
               '''' || replace(replace(q.lexeme, '\\', '\\\\'), '''', '''''') || '''' as quoted
        from unnest(tsvector_to_array(to_tsvector('english', ${query.text}))) q(lexeme)
        left join common c on c.lexeme = q.lexeme
        -- Not flattened into the outer select, which names df three times: each term's postings
        -- are counted once, not three times.
        offset 0
      ) q
    ),
    selection as materialized (
      -- OR of the selective terms, or the rarest one when every term is common; and each term's
      -- weight times idf, by lexeme, for the scoring.
      select coalesce(
               string_agg(quoted, ' | ') filter (where coalesce(share, 0) <= ${commonShare(stats.n)}),
               (array_agg(quoted order by share nulls first))[1]
             )::tsquery as tsquery,
             array_agg(lexeme order by lexeme) as lexemes,
             array_agg(factor order by lexeme) as factors
      from terms
    ),
    ${candidates}
    scored as (
      select ${columns},
             (
               -- Only the query's lexemes with their positions: setweight marks them, ts_filter
               -- drops the rest, so this reads a few lexemes, not the whole row.
               select sum(
                        w.factors[array_position(w.lexemes, h.lexeme)]
                        * h.tf * (${K1}::float8 + 1)
                        / (h.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * d.text_length / ${stats.avgdl}::float8))
                        order by h.lexeme
                      )
               from (
                 select lexeme, coalesce(array_length(positions, 1), 1)::float8 as tf
                 from unnest(ts_filter(setweight(d.text_tsv, 'A', w.lexemes), '{a}'))
               ) h
             ) as score
      ${rows}
    )
    select id, artifact_uid, revision_id, artifact_id, chunk_id, chunk_index, score
    from scored
    order by score desc, artifact_uid, revision_id, chunk_index, id
    limit ${options.limit}`;
}

/** The artifact filters as a condition on a revision (alias `r`); undefined when none is set. */
export function revisionFilter(sql: Sql, filters: ArtifactFilters | undefined): SqlFragment | undefined {
  const f = filters ?? {};
  const conditions = [
    f.artifactType === undefined ? undefined : sql`r.artifact_type = ${f.artifactType}`,
    f.sourceSystem === undefined ? undefined : sql`r.source_system = ${f.sourceSystem}`,
    f.sensitivity === undefined ? undefined : sql`r.sensitivity = ${f.sensitivity}`,
    f.visibilityScope === undefined ? undefined : sql`r.visibility_scope = ${f.visibilityScope}`,
    f.timeRangeStart === undefined ? undefined : sql`r.source_ts >= ${f.timeRangeStart}`,
    f.timeRangeEnd === undefined ? undefined : sql`r.source_ts <= ${f.timeRangeEnd}`,
  ].filter((condition) => condition !== undefined);
  return conditions.length === 0 ? undefined : conditions.reduce((all, next) => sql`${all} and ${next}`);
}

/** BM25 over the chunks of latest revisions; the filters apply to each chunk's revision. */
export async function lexicalSearch(
  sql: Sql,
  query: LexicalQuery,
  options: {
    limit: number;
    filters?: ArtifactFilters;
    exact?: boolean;
    perTerm?: number;
    shortlist?: number;
  },
): Promise<LexicalHit[]> {
  const filter = revisionFilter(sql, options.filters);
  const rows = await bm25(sql, 'artifact_chunk', query, { ...options, filter });
  return rows.map((row) => ({
    artifactUid: row.artifact_uid,
    revisionId: row.revision_id,
    artifactId: row.artifact_id,
    chunkId: row.chunk_id,
    chunkIndex: row.chunk_index,
    score: row.score,
  }));
}

/**
 * BM25 over memories or conversation turns. `keep` is a condition on the row (alias `d`), written
 * by the table's own store module: like the artifact filters, it chooses which rows come back.
 */
export async function lexicalSearchRows(
  sql: Sql,
  table: LexicalTable,
  query: LexicalQuery,
  options: { limit: number; keep?: SqlFragment; exact?: boolean; perTerm?: number; shortlist?: number },
): Promise<RowHit[]> {
  const rows = await bm25(sql, table, query, { ...options, filter: options.keep });
  return rows.map((row) => ({ id: row.id, score: row.score }));
}

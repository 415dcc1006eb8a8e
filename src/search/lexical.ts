import type { Sql } from '../db/connect.js';

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

/** Okapi BM25 parameters: the usual defaults, the ones the benchmark reference used. */
const K1 = 1.2;
const B = 0.75;

/**
 * The lexical channel of hybrid search: Okapi BM25 (k1 1.2, b 0.75) over the chunks of latest
 * revisions, computed in SQL.
 *
 * - Query terms are the distinct lexemes of `to_tsvector('english', query)`, the same
 *   normalisation (Snowball stemmer, English stop words) as the stored `text_tsv`, combined
 *   with OR: a chunk matching any term is a candidate. A query with no lexeme matches nothing.
 * - N, avgdl and each term's document frequency are taken over all latest chunks, whatever the
 *   filters: filters choose which chunks are returned, not how rare a word is.
 * - idf is Lucene's `ln(1 + (N - df + 0.5) / (df + 0.5))` rather than the textbook
 *   `ln((N - df + 0.5) / (df + 0.5))`, which turns negative for a term in more than half of the
 *   chunks and would rank a chunk lower for matching it.
 * - tf comes from the tsvector positions of the term; the document length is `text_length`,
 *   the number of lexeme occurrences, so tf and length count the same things.
 *
 * Ties are broken by (artifact_uid, revision_id, chunk_index), and per-term contributions are
 * summed in lexeme order, so equal inputs always give the same order.
 */
export async function lexicalSearch(
  sql: Sql,
  query: string,
  options: { limit: number; filters?: ArtifactFilters },
): Promise<LexicalHit[]> {
  if (options.limit < 1) return [];
  const f = options.filters ?? {};
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
    with terms as (
      select array_agg(lexeme) as lexemes,
             string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''', ' | ')::tsquery as tsquery
      from unnest(to_tsvector('english', ${query}))
    ),
    corpus as materialized (
      select count(*)::float8 as n, avg(c.text_length)::float8 as avgdl
      from artifact_chunk c
      join artifact_revision r on r.artifact_uid = c.artifact_uid and r.revision_id = c.revision_id
      where r.is_latest
    ),
    -- Served by the GIN index artifact_chunk_tsv_idx (text_tsv @@ tsquery).
    matches as (
      select c.artifact_uid, c.revision_id, c.chunk_index, c.chunk_id, c.text_length, r.artifact_id,
             r.artifact_type, r.source_system, r.sensitivity, r.visibility_scope, r.source_ts,
             -- Keeps only the query's lexemes with their positions: setweight marks them, ts_filter
             -- drops the rest, so unnest below reads a handful of lexemes, not the whole chunk.
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
      select lexeme, count(*)::float8 as df from occurrences group by lexeme
    ),
    scored as (
      select m.artifact_uid, m.revision_id, m.artifact_id, m.chunk_id, m.chunk_index,
             sum(
               ln(1 + (s.n - d.df + 0.5) / (d.df + 0.5))
               * o.tf * (${K1}::float8 + 1) / (o.tf + ${K1}::float8 * (1 - ${B}::float8 + ${B}::float8 * m.text_length / s.avgdl))
               order by o.lexeme
             ) as score
      from matches m
      join occurrences o using (artifact_uid, revision_id, chunk_index)
      join document_frequency d using (lexeme)
      cross join corpus s
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

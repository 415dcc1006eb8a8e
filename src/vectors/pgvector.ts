/**
 * The vector index inside Postgres with pgvector: the embedded default (PGlite, which runs
 * pgvector 0.8 compiled to WebAssembly, so the zero-setup mode is one Node process with no native
 * binary tied to a glibc version), and usable on a server Postgres that has the extension.
 *
 * One table per collection (`vector_memory`, `vector_history`, `vector_artifacts`,
 * `vector_artifact_chunks`): id, embedding, document, metadata (jsonb), with an HNSW index for
 * cosine distance (m 16, ef_construction 64, pgvector's defaults). A single table with a
 * collection column was rejected: every query would filter on it, and HNSW filters after the
 * graph walk, so the small collections (memories) would be searched through the large one
 * (chunks). `vector_collection` records the embedding space each table was built with, as Chroma
 * records it on its collections; opening with another space is refused.
 *
 * The tables are made here and not by a numbered migration: their column type depends on the
 * embedding dimensions (known only at start), and a server Postgres behind Chroma may not have the
 * extension at all. HNSW indexes `vector` up to 2,000 dimensions; above that (OpenAI's
 * text-embedding-3-large has 3,072) the column is `halfvec`, half precision, which HNSW indexes up
 * to 4,000 and which changes cosine distances by less than 1e-3.
 *
 * Queries set `hnsw.iterative_scan = relaxed_order` so that a filtered query keeps walking the
 * graph until it has `limit` matching rows (without it, HNSW returns at most `ef_search`
 * candidates and the filter then drops some), and re-sort the rows by distance, which relaxed
 * order leaves to the caller.
 */
import { AppError, describeError } from '../errors.js';
import { type EmbeddingSpace, embeddingMetadata } from '../providers/embedder.js';
import type { Sql } from '../store/connect.js';
import {
  COLLECTIONS,
  type CollectionName,
  filterEntries,
  type Generations,
  physicalName,
  type Scalar,
  type StoredVector,
  type VectorFilter,
  type VectorIndex,
  type VectorMetadata,
  type VectorNeighbour,
} from './index.js';

/** The most dimensions HNSW indexes as `vector`; above, the column is `halfvec`. */
const MAX_VECTOR_DIMENSIONS = 2000;
/** Candidates HNSW keeps per query: above pgvector's 40, for recall at our `limit`s (up to 100). */
const EF_SEARCH = 100;
/** Rows per INSERT statement when upserting. */
const UPSERT_BATCH = 200;

type Fragment = ReturnType<Sql['unsafe']>;

/** The table of a collection at a generation (`vector_artifacts`, `vector_artifacts_g2`). */
export function tableOf(name: CollectionName, generation?: number): string {
  return `vector_${physicalName(name, generation)}`;
}

/** A vector as pgvector's text form, sent as one parameter and cast in SQL. */
function literal(embedding: readonly number[]): string {
  return `[${embedding.join(',')}]`;
}

function parseVector(text: string): number[] {
  return text.slice(1, -1).split(',').map(Number);
}

/** One condition of our filter as SQL over the jsonb metadata. */
function condition(
  sql: Sql,
  field: string,
  value: Scalar | { $ne: Scalar } | { $gte?: number; $lte?: number },
) {
  if (typeof value !== 'object') return sql`metadata @> ${sql.json({ [field]: value })}`;
  if ('$ne' in value) {
    // As in Chroma: a record without the field matches.
    return sql`not metadata @> ${sql.json({ [field]: value.$ne })}`;
  }
  const number = sql`(case when jsonb_typeof(metadata -> ${field}) = 'number' then (metadata -> ${field})::float8 end)`;
  const lower = value.$gte === undefined ? sql`true` : sql`${number} >= ${value.$gte}`;
  const upper = value.$lte === undefined ? sql`true` : sql`${number} <= ${value.$lte}`;
  return sql`(${lower} and ${upper})`;
}

/** Our filter as a WHERE clause body (`true` when empty). */
export function pgvectorWhere(sql: Sql, filter: VectorFilter | undefined, ids?: readonly string[]) {
  let clause = ids === undefined ? sql`true` : sql`id = any(${ids as string[]})`;
  for (const [field, value] of filterEntries(filter))
    clause = sql`${clause} and ${condition(sql, field, value)}`;
  return clause;
}

function pgvectorError(error: unknown, action: string): AppError {
  if (error instanceof AppError) return error;
  const code = (error as { code?: string }).code;
  const transient = code === undefined || code.startsWith('08') || code === '57P01';
  return new AppError(
    'POSTGRES_ERROR',
    `the vector index in Postgres failed to ${action}: ${describeError(error)}`,
    {
      cause: error,
      transient,
    },
  );
}

/**
 * The vector index in the database behind `sql`. `open()` creates the extension, the tables and
 * their HNSW indexes when missing; `created` then says whether the tables were new (a data folder
 * from before, whose vectors lived in Chroma, is rebuilt from Postgres then).
 */
export function createPgvectorIndex(options: {
  sql: Sql;
  space: EmbeddingSpace;
  description?: string;
  /** The generation each collection is bound to (`memory reindex`); 0 or absent: the plain name. */
  generations?: Generations;
}): VectorIndex & { readonly created: boolean } {
  const { sql, space } = options;
  const generations = options.generations ?? {};
  /** A collection's name in `vector_collection` and (prefixed) its table's, at its generation. */
  const physical = (name: CollectionName) => physicalName(name, generations[name]);
  const table = (name: CollectionName) => tableOf(name, generations[name]);
  const half = space.dimensions > MAX_VECTOR_DIMENSIONS;
  // A type name from two constants and an integer: no input reaches this text.
  const type = sql.unsafe(`${half ? 'halfvec' : 'vector'}(${Math.trunc(space.dimensions)})`);
  const ops = sql.unsafe(half ? 'halfvec_cosine_ops' : 'vector_cosine_ops');
  let created = false;
  let opened: Promise<void> | undefined;

  async function openTables(): Promise<void> {
    try {
      await sql`create extension if not exists vector`;
    } catch (error) {
      throw new AppError(
        'POSTGRES_ERROR',
        `CHROMA_HOST is not set, so vectors are kept in Postgres with pgvector, but the database could not load the extension (${describeError(error)}). Install pgvector on that server, or set CHROMA_HOST to use Chroma.`,
        { cause: error },
      );
    }
    const expected = embeddingMetadata(space);
    await sql.begin(async (tx) => {
      // One opener at a time (several servers may start against one database).
      await tx`select pg_advisory_xact_lock(hashtext('memory vector index'))`;
      await tx`
        create table if not exists vector_collection (
          name text primary key,
          embedding_provider text not null,
          embedding_model text not null,
          embedding_dimensions integer not null,
          created_at timestamptz not null default now()
        )`;
      const rows = await tx<
        Array<{
          name: string;
          embedding_provider: string;
          embedding_model: string;
          embedding_dimensions: number;
        }>
      >`select name, embedding_provider, embedding_model, embedding_dimensions from vector_collection`;
      const stored = new Map(rows.map((row) => [row.name, row]));
      for (const name of COLLECTIONS) {
        const row = stored.get(physical(name));
        if (row !== undefined) {
          const differs =
            row.embedding_provider !== expected.embedding_provider ||
            row.embedding_model !== expected.embedding_model ||
            row.embedding_dimensions !== expected.embedding_dimensions;
          if (!differs) continue;
          const [any] = await tx`select 1 from ${tx(table(name))} limit 1`;
          if (any !== undefined) {
            const was = `${row.embedding_provider}/${row.embedding_model} (${row.embedding_dimensions} dimensions)`;
            const now = `${space.provider}/${space.model} (${space.dimensions} dimensions)`;
            throw new AppError(
              'EMBEDDING_SPACE_MISMATCH',
              `The vector collection "${row.name}" holds vectors of ${was} but this server embeds with ${now}. ` +
                'Vectors of two embedding spaces cannot be mixed. Either restore the previous embedding settings ' +
                '(EMBEDDING_PROVIDER, OPENAI_EMBED_MODEL, OPENAI_EMBED_DIMS, OPENAI_API_KEY/OPENAI_BASE_URL), or rebuild ' +
                'the index in the new space with `memory reindex` (run with the new settings; it re-embeds from ' +
                'Postgres beside the live index and switches when done).',
              { details: { collection: row.name, stored: row, configured: expected } },
            );
          }
          // An empty table holds no vector of any space: it is made again for this one (the
          // packaged template comes with tables for the offline embedder).
          await tx`drop table ${tx(table(name))}`;
          await tx`delete from vector_collection where name = ${row.name}`;
        }
        const target = tx(table(name));
        await tx`
          create table if not exists ${target} (
            id text primary key,
            embedding ${type} not null,
            document text,
            metadata jsonb not null default '{}'
          )`;
        await tx`
          create index if not exists ${tx(`${table(name)}_hnsw`)} on ${target}
          using hnsw (embedding ${ops}) with (m = 16, ef_construction = 64)`;
        await tx`
          insert into vector_collection (name, embedding_provider, embedding_model, embedding_dimensions)
          values (${physical(name)}, ${expected.embedding_provider}, ${expected.embedding_model}, ${expected.embedding_dimensions})`;
        created = true;
      }
    });
  }

  function open(): Promise<void> {
    opened ??= openTables().catch((error: unknown) => {
      opened = undefined;
      throw error instanceof AppError ? error : pgvectorError(error, 'create its tables');
    });
    return opened;
  }

  /** Runs `work` (after opening the tables, unless `opening` is false), with our errors. */
  async function run<T>(action: string, work: () => Promise<T>, opening = true): Promise<T> {
    try {
      if (opening) await open();
      return await work();
    } catch (error) {
      throw pgvectorError(error, action);
    }
  }

  const columns = (includeDocuments: boolean, includeEmbeddings: boolean): Fragment =>
    sql.unsafe(
      `id, metadata${includeDocuments ? ', document' : ''}${includeEmbeddings ? ', embedding::text as embedding' : ''}`,
    );

  const description = options.description ?? 'pgvector in Postgres';
  return {
    description,
    space,
    generations,
    at(next, nextSpace) {
      return createPgvectorIndex({ sql, space: nextSpace, description, generations: next });
    },
    async storedSpace(name) {
      return run(
        `read collection "${physical(name)}"`,
        async () => {
          const [exists] = await sql`select to_regclass('vector_collection') is not null as ok`;
          if (exists?.ok !== true) return undefined;
          const [row] = await sql<
            Array<{ embedding_provider: string; embedding_model: string; embedding_dimensions: number }>
          >`
          select embedding_provider, embedding_model, embedding_dimensions
          from vector_collection where name = ${physical(name)}`;
          if (row === undefined) return undefined;
          // An empty table holds vectors of no space (open() makes it again for the configured one).
          const [any] = await sql`select 1 from ${sql(table(name))} limit 1`;
          if (any === undefined) return undefined;
          const provider = row.embedding_provider;
          if (provider !== 'openai' && provider !== 'local') return undefined;
          return { provider, model: row.embedding_model, dimensions: row.embedding_dimensions };
        },
        false,
      );
    },
    async drop(name) {
      await run(
        `drop collection "${physical(name)}"`,
        async () => {
          await sql.begin(async (tx) => {
            await tx`drop table if exists ${tx(table(name))}`;
            if ((await tx`select to_regclass('vector_collection') is not null as ok`)[0]?.ok === true)
              await tx`delete from vector_collection where name = ${physical(name)}`;
          });
          // The next use of this collection makes its table again.
          opened = undefined;
        },
        false,
      );
    },
    get created() {
      return created;
    },
    async heartbeat() {
      await run('answer', () => sql`select 1 from vector_collection limit 1`);
    },
    open,
    async upsert(name, records) {
      if (records.length === 0) return;
      await run(`write to "${name}"`, async () => {
        const target = sql(table(name));
        for (let start = 0; start < records.length; start += UPSERT_BATCH) {
          const batch = records.slice(start, start + UPSERT_BATCH);
          // Metadata is merged into the stored record's, as Chroma's upsert does.
          // One parameter, one statement per batch: the rows as a JSON array. (Text arrays cast to
          // jsonb[] were encoded twice by the client, which serialises jsonb[] elements itself.)
          const rows = JSON.stringify(
            batch.map((r) => ({
              id: r.id,
              embedding: literal(r.embedding),
              document: r.document,
              metadata: r.metadata,
            })),
          );
          await sql`
            insert into ${target} (id, embedding, document, metadata)
            select id, embedding::${type}, document, metadata
            from jsonb_to_recordset(${rows}::text::jsonb)
              as input(id text, embedding text, document text, metadata jsonb)
            on conflict (id) do update
              set embedding = excluded.embedding,
                  document = excluded.document,
                  metadata = ${target}.metadata || excluded.metadata`;
        }
      });
    },
    async get(name, query) {
      return run(`read from "${name}"`, async () => {
        const rows = await sql<
          Array<{ id: string; metadata: VectorMetadata; document?: string | null; embedding?: string }>
        >`
          select ${columns(query.includeDocuments !== false, query.includeEmbeddings === true)}
          from ${sql(table(name))}
          where ${pgvectorWhere(sql, query.filter, query.ids)}
          order by id
          ${query.limit !== undefined ? sql`limit ${query.limit}` : sql``}`;
        return rows.map(
          (row): StoredVector => ({
            id: row.id,
            document: row.document ?? undefined,
            metadata: row.metadata,
            ...(row.embedding !== undefined ? { embedding: parseVector(row.embedding) } : {}),
          }),
        );
      });
    },
    async query(name, embedding, query) {
      return run(`search "${name}"`, async () => {
        const source = sql(table(name));
        const target = literal(embedding);
        // Served by the collection's HNSW index (ORDER BY distance LIMIT k).
        const rows = await sql.begin(async (tx) => {
          await tx`select set_config('hnsw.ef_search', ${String(EF_SEARCH)}, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)`;
          return tx<Array<{ id: string; distance: number }>>`
            with hits as materialized (
              select id, embedding <=> ${target}::text::${type} as distance
              from ${source}
              where ${pgvectorWhere(tx as unknown as Sql, query.filter)}
              order by embedding <=> ${target}::text::${type}
              limit ${query.limit}
            )
            select * from hits order by distance, id`;
        });
        return rows.map((row): VectorNeighbour => ({ id: row.id, distance: Number(row.distance) }));
      });
    },
    async delete(name, query) {
      if (query.ids !== undefined && query.ids.length === 0) return;
      await run(`delete from "${name}"`, async () => {
        await sql`delete from ${sql(table(name))} where ${pgvectorWhere(sql, query.filter, query.ids)}`;
      });
    },
    async listIds(name, query = {}) {
      return run(`list the ids of "${name}"`, async () => {
        const rows = await sql<Array<{ id: string }>>`
          select id from ${sql(table(name))}
          where ${pgvectorWhere(sql, query.filter)}
          order by id
          ${query.limit !== undefined ? sql`limit ${query.limit}` : sql``}
          ${query.offset !== undefined ? sql`offset ${query.offset}` : sql``}`;
        return rows.map((row) => row.id);
      });
    },
    async count(name) {
      return run(`count "${name}"`, async () => {
        const [row] = await sql<
          Array<{ count: number }>
        >`select count(*)::int as count from ${sql(table(name))}`;
        return row?.count ?? 0;
      });
    },
  };
}

/** How many collections the vector tables of `sql` hold (0 when they were never made). */
export async function pgvectorCollections(sql: Sql): Promise<number> {
  const [row] = await sql<Array<{ count: number | null }>>`
    select case when to_regclass('vector_collection') is null then 0 end as count`;
  if (row?.count === 0) return 0;
  const [counted] = await sql<Array<{ count: number }>>`select count(*)::int as count from vector_collection`;
  return counted?.count ?? 0;
}

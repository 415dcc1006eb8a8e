/** Memories (`memory`, sql/006): the source of truth; the vector index holds their vectors. */
import type { Sql } from './connect.js';
import { type LexicalQuery, lexicalSearchRows, type RowHit } from './lexical.js';

export interface MemoryRow {
  memory_id: string;
  content: string;
  type: string;
  confidence: number;
  conversation_id: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  ts: Date;
}

export type NewMemory = Omit<MemoryRow, 'tags' | 'metadata'> & {
  tags?: string[];
  metadata?: Record<string, unknown>;
};

export async function insertMemory(sql: Sql, row: NewMemory): Promise<void> {
  await sql`
    insert into memory (memory_id, content, type, confidence, conversation_id, tags, metadata, ts)
    values (${row.memory_id}, ${row.content}, ${row.type}, ${row.confidence}, ${row.conversation_id},
            ${row.tags ?? []}::text[], ${sql.json((row.metadata ?? {}) as never)}, ${row.ts})`;
}

/**
 * Many memories in one statement; ids already present are left as they are. Returns how many
 * were inserted.
 */
export async function insertMemories(sql: Sql, rows: readonly NewMemory[]): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await sql`
    insert into memory (memory_id, content, type, confidence, conversation_id, tags, metadata, ts)
    select memory_id, content, type, confidence, conversation_id,
           coalesce(tags, '{}'), coalesce(metadata, '{}'), ts
    from jsonb_to_recordset(${sql.json(rows.map((row) => ({ ...row, ts: row.ts.toISOString() })) as never)})
      as r(memory_id text, content text, type text, confidence float8, conversation_id text,
           tags text[], metadata jsonb, ts timestamptz)
    on conflict (memory_id) do nothing`;
  return result.count;
}

/** Removes a memory; returns it, or undefined when there was none. */
export async function deleteMemoryRow(sql: Sql, memoryId: string): Promise<MemoryRow | undefined> {
  const [row] = await sql<MemoryRow[]>`
    delete from memory where memory_id = ${memoryId}
    returning memory_id, content, type, confidence, conversation_id, tags, metadata, ts`;
  return row;
}

/**
 * The newest `limit` memories, of one type or all, and how many there are. Served by
 * memory_ts_idx or memory_type_ts_idx (an index scan that stops after `limit` rows) and by the
 * trigger-kept memory_count: the cost does not grow with the number of memories.
 */
export async function listMemoryRows(
  sql: Sql,
  options: { type?: string | undefined; limit: number },
): Promise<{ rows: MemoryRow[]; total: number }> {
  const [rows, [count]] = await Promise.all([
    sql<MemoryRow[]>`
      select memory_id, content, type, confidence, conversation_id, tags, metadata, ts
      from memory
      ${options.type === undefined ? sql`` : sql`where type = ${options.type}`}
      order by ts desc, memory_id desc
      limit ${options.limit}`,
    sql<{ total: number }[]>`
      select coalesce(sum(n), 0)::int as total from memory_count
      ${options.type === undefined ? sql`` : sql`where type = ${options.type}`}`,
  ]);
  return { rows, total: count?.total ?? 0 };
}

/** These memories by id (the ones that exist), in no particular order. */
export async function memoriesById(
  sql: Sql,
  ids: readonly string[],
  options: { minConfidence?: number } = {},
): Promise<MemoryRow[]> {
  if (ids.length === 0) return [];
  // memory primary key
  return sql<MemoryRow[]>`
    select memory_id, content, type, confidence, conversation_id, tags, metadata, ts
    from memory
    where memory_id = any(${ids as string[]}::text[])
      ${options.minConfidence ? sql`and confidence >= ${options.minConfidence}` : sql``}`;
}

/** BM25 over memory content (store/lexical.ts), optionally above a confidence. */
export async function lexicalMemories(
  sql: Sql,
  query: LexicalQuery,
  options: { limit: number; minConfidence?: number },
): Promise<RowHit[]> {
  return lexicalSearchRows(sql, 'memory', query, {
    limit: options.limit,
    ...(options.minConfidence ? { keep: sql`d.confidence >= ${options.minConfidence}` } : {}),
  });
}

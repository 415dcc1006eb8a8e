/** `vector_copy` (sql/006): which index collections were copied into Postgres, and how many rows. */
import type { Sql } from './connect.js';

export type CopiedCollection = 'memory' | 'history';

export async function wasCopied(sql: Sql, collection: CopiedCollection): Promise<boolean> {
  const [row] = await sql`select 1 from vector_copy where collection = ${collection}`;
  return row !== undefined;
}

/** Records the copy; a second process finishing the same copy leaves the first record. */
export async function markCopied(sql: Sql, collection: CopiedCollection, copied: number): Promise<void> {
  await sql`
    insert into vector_copy (collection, copied) values (${collection}, ${copied})
    on conflict (collection) do nothing`;
}

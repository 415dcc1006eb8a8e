/**
 * Which physical collection each logical collection of the vector index reads from
 * (`vector_generation`, sql/010). `memory reindex` builds a new generation beside the active one
 * and switches in one transaction; servers re-read the active generations every few seconds.
 */
import type { Sql } from './connect.js';

export interface GenerationRow {
  collection: string;
  generation: number;
  state: 'building' | 'active' | 'retired';
  embedding_provider: string;
  embedding_model: string;
  embedding_dimensions: number;
  resume_after: string | null;
  items_done: number;
  created_at: Date;
  state_changed_at: Date;
}

export interface SpaceColumns {
  embedding_provider: string;
  embedding_model: string;
  embedding_dimensions: number;
}

/** Every row, active and building first; a collection without an active row is at generation 0. */
export async function listGenerations(sql: Sql): Promise<GenerationRow[]> {
  const rows = await sql<GenerationRow[]>`
    select collection, generation, state, embedding_provider, embedding_model, embedding_dimensions,
           resume_after, items_done::int as items_done, created_at, state_changed_at
    from vector_generation
    order by collection, generation`;
  return rows;
}

/**
 * Starts building a generation of `collection` in `space`, or returns the one a killed reindex
 * left building in the same space (to resume it). A building generation of another space is
 * abandoned: its row becomes 'retired', so the sweep drops its collection.
 */
export async function beginBuilding(
  sql: Sql,
  collection: string,
  space: SpaceColumns,
): Promise<{ row: GenerationRow; resumed: boolean }> {
  return sql.begin(async (tx) => {
    // One reindex per collection at a time: a second one waits here, then resumes what the first built.
    await tx`select pg_advisory_xact_lock(hashtext(${`vector_generation:${collection}`}))`;
    const [building] = await tx<GenerationRow[]>`
      select *, items_done::int as items_done from vector_generation
      where collection = ${collection} and state = 'building'`;
    if (
      building !== undefined &&
      building.embedding_provider === space.embedding_provider &&
      building.embedding_model === space.embedding_model &&
      building.embedding_dimensions === space.embedding_dimensions
    ) {
      return { row: building, resumed: true };
    }
    if (building !== undefined) {
      await tx`
        update vector_generation set state = 'retired', state_changed_at = now()
        where collection = ${collection} and generation = ${building.generation}`;
    }
    const [next] = await tx<{ generation: number }[]>`
      select coalesce(max(generation), 0) + 1 as generation from vector_generation where collection = ${collection}`;
    const [row] = await tx<GenerationRow[]>`
      insert into vector_generation ${tx({ collection, generation: next!.generation, state: 'building', ...space })}
      returning *, items_done::int as items_done`;
    return { row: row!, resumed: false };
  });
}

/** Records how far a building generation got, so a killed reindex resumes after `resumeAfter`. */
export async function saveProgress(
  sql: Sql,
  collection: string,
  generation: number,
  resumeAfter: string,
  itemsDone: number,
): Promise<void> {
  await sql`
    update vector_generation set resume_after = ${resumeAfter}, items_done = ${itemsDone}
    where collection = ${collection} and generation = ${generation} and state = 'building'`;
}

/**
 * The switch: in one transaction every listed building generation becomes active and the
 * generations they replace become retired. A collection that was at the implicit generation 0
 * gets a retired row for it, so its collection is dropped like any other.
 */
export async function activateGenerations(
  sql: Sql,
  switches: ReadonlyArray<{ collection: string; generation: number; previous: GenerationRow | undefined }>,
  implicitSpace: SpaceColumns,
): Promise<void> {
  await sql.begin(async (tx) => {
    for (const { collection, generation, previous } of switches) {
      if (previous === undefined) {
        await tx`
          insert into vector_generation ${tx({ collection, generation: 0, state: 'retired', ...implicitSpace })}
          on conflict (collection, generation) do update set state = 'retired', state_changed_at = now()`;
      } else {
        await tx`
          update vector_generation set state = 'retired', state_changed_at = now()
          where collection = ${collection} and state = 'active'`;
      }
      const updated = await tx`
        update vector_generation set state = 'active', state_changed_at = now()
        where collection = ${collection} and generation = ${generation} and state = 'building'`;
      if (updated.count !== 1)
        throw new Error(`generation ${generation} of ${collection} is no longer building`);
    }
  });
}

/** Retired generations whose state changed at least `graceSeconds` ago (their collections can go). */
export async function retiredBefore(sql: Sql, graceSeconds: number): Promise<GenerationRow[]> {
  return sql<GenerationRow[]>`
    select *, items_done::int as items_done from vector_generation
    where state = 'retired' and state_changed_at < now() - make_interval(secs => ${graceSeconds})`;
}

/** Forgets a retired generation once its collection was dropped. */
export async function forgetGeneration(sql: Sql, collection: string, generation: number): Promise<void> {
  await sql`
    delete from vector_generation
    where collection = ${collection} and generation = ${generation} and state = 'retired'`;
}

/**
 * Runs `work` only if no other process holds the transaction-scoped advisory lock `key` (a
 * sweep runs in one server at a time); answers undefined when another has it. `work` gets the
 * transaction's connection for its own queries: with the embedded database's pool of one, a
 * query on the pool would wait for the very connection this transaction holds.
 */
export async function withTryLock<T>(
  sql: Sql,
  key: string,
  work: (tx: Sql) => Promise<T>,
): Promise<T | undefined> {
  return sql.begin(async (tx) => {
    const [row] = await tx<
      { locked: boolean }[]
    >`select pg_try_advisory_xact_lock(hashtext(${key})) as locked`;
    if (!row?.locked) return undefined;
    return work(tx as unknown as Sql);
  }) as Promise<T | undefined>;
}

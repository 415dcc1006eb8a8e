/**
 * Rebuilding the vector index from its sources, beside the live collections, then switching.
 *
 * 1. Each collection of the chosen kinds gets a new generation (sql/010) in the embedder's
 *    space, or resumes the one a killed reindex left building in the same space.
 * 2. Batches of source items are embedded and written into the new collections; after each
 *    batch the cursor is saved, so a killed reindex starts again after the last saved batch.
 * 3. Reconcile: what servers wrote into the live collections meanwhile is compared and copied
 *    (the same comparison as `--check`), then every new generation becomes active in one
 *    transaction. Servers re-read the active generations every `pollMs` and switch their reads
 *    and writes (and their embedder, when the space changed) between two calls.
 * 4. After two poll periods every server reads the new collections; one more reconcile picks up
 *    what was written into the old ones in that window. The old collections are retired, and
 *    dropped by the sweep once its grace period has passed.
 *
 * Searches keep answering throughout: until the switch they read the live collections, which
 * the rebuild never writes.
 */
import { AppError } from '../../errors.js';
import { type Embedder, type EmbeddingSpace, embeddingMetadata } from '../../providers/embedder.js';
import type { Sql } from '../../store/connect.js';
import {
  activateGenerations,
  beginBuilding,
  type GenerationRow,
  listGenerations,
  saveProgress,
} from '../../store/vector-generations.js';
import type { CollectionName, Generations, VectorIndex } from '../../vectors/index.js';
import { type IndexKind, KINDS, type KindName } from './kinds.js';

export interface RebuildProgress {
  kind: KindName;
  phase: 'build' | 'reconcile' | 'switch' | 'done';
  items: number;
  /** Items the source holds, when known. */
  total?: number;
  resumed: boolean;
}

export interface RebuildOptions {
  only?: readonly KindName[];
  /** Source items embedded per batch. */
  batchSize?: number;
  /** How often servers re-read the active generations (they switch within two periods). */
  pollMs: number;
  onProgress?: (progress: RebuildProgress) => void;
  /** How long to wait (tests pass a shorter wait); defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RebuildDeps {
  sql: Sql;
  /** The embedder of the new collections. */
  embedder: Embedder;
  /** The live index (bound to the active generations, in their space). */
  live: VectorIndex;
}

export interface RebuildResult {
  kinds: Array<{ kind: KindName; items: number; resumed: boolean; generation: number; reconciled: number }>;
  space: EmbeddingSpace;
}

export function activeGenerations(rows: readonly GenerationRow[]): Generations {
  const generations: Partial<Record<CollectionName, number>> = {};
  for (const row of rows)
    if (row.state === 'active') generations[row.collection as CollectionName] = row.generation;
  return generations;
}

function sameSpace(a: EmbeddingSpace, b: EmbeddingSpace): boolean {
  return a.provider === b.provider && a.model === b.model && a.dimensions === b.dimensions;
}

/** Rebuilds the chosen kinds (all by default) with `deps.embedder`; see the module comment. */
export async function rebuildIndex(deps: RebuildDeps, options: RebuildOptions): Promise<RebuildResult> {
  const { sql, embedder, live } = deps;
  const space = embedder.space;
  const chosen = (options.only?.length ? options.only : (Object.keys(KINDS) as KindName[])).map(
    (k) => KINDS[k],
  );
  const chosenCollections = new Set(chosen.flatMap((kind) => kind.collections));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  // A new space must hold every collection: searches compare one query vector with all of them.
  if (!sameSpace(space, live.space)) {
    const left = (Object.values(KINDS) as IndexKind[]).filter((kind) => !chosen.includes(kind));
    if (left.length > 0) {
      throw new AppError(
        'VALIDATION_ERROR',
        `--only: the index is in ${describe(live.space)} and this reindex embeds with ${describe(space)}; ` +
          `a new embedding space needs every collection rebuilt (${left.map((k) => k.name).join(', ')} would be left behind): run memory reindex without --only`,
      );
    }
  }

  const rows = await listGenerations(sql);
  const active = activeGenerations(rows);
  const spaceColumns = embeddingMetadata(space);
  const building = new Map<CollectionName, { generation: number; row: GenerationRow; resumed: boolean }>();
  for (const collection of chosenCollections) {
    const { row, resumed } = await beginBuilding(sql, collection, spaceColumns);
    building.set(collection, { generation: row.generation, row, resumed });
  }
  const targetGenerations: Partial<Record<CollectionName, number>> = { ...active };
  for (const [collection, { generation }] of building) targetGenerations[collection] = generation;
  const target = live.at(targetGenerations, space);
  const context = { sql, embedder, source: live };

  const result: RebuildResult = { kinds: [], space };
  for (const kind of chosen) {
    const first = building.get(kind.collections[0]!)!;
    // A kind resumes only if every one of its collections was left building in this space.
    const resumed =
      kind.collections.every((c) => building.get(c)!.resumed) && first.row.resume_after !== null;
    if (!resumed) for (const collection of kind.collections) await target.drop(collection);
    let cursor = resumed ? (first.row.resume_after ?? '') : '';
    let items = resumed ? first.row.items_done : 0;
    options.onProgress?.({ kind: kind.name, phase: 'build', items, resumed });
    for (;;) {
      const batch = await kind.rebuildBatch(context, target, cursor, options.batchSize ?? 64);
      if (batch === undefined) break;
      cursor = batch.cursor;
      items += batch.items;
      for (const collection of kind.collections) {
        await saveProgress(sql, collection, building.get(collection)!.generation, cursor, items);
      }
      options.onProgress?.({ kind: kind.name, phase: 'build', items, resumed });
    }
    result.kinds.push({ kind: kind.name, items, resumed, generation: first.generation, reconciled: 0 });
  }

  // What servers wrote while the batches ran.
  for (const entry of result.kinds) {
    options.onProgress?.({
      kind: entry.kind,
      phase: 'reconcile',
      items: entry.items,
      resumed: entry.resumed,
    });
    entry.reconciled += await reconcile(context, KINDS[entry.kind], target);
  }

  const previous = new Map(rows.filter((r) => r.state === 'active').map((r) => [r.collection, r]));
  await activateGenerations(
    sql,
    [...building].map(([collection, { generation }]) => ({
      collection,
      generation,
      previous: previous.get(collection),
    })),
    embeddingMetadata(live.space),
  );
  for (const entry of result.kinds) {
    options.onProgress?.({ kind: entry.kind, phase: 'switch', items: entry.items, resumed: entry.resumed });
  }

  // Every server reads the new collections within two poll periods; then one more pass for what
  // reached the old ones in between.
  await sleep(2 * options.pollMs + 100);
  for (const entry of result.kinds) {
    entry.reconciled += await reconcile(context, KINDS[entry.kind], target);
    options.onProgress?.({ kind: entry.kind, phase: 'done', items: entry.items, resumed: entry.resumed });
  }
  return result;
}

/** Deletes orphans and writes missing records of `kind` in `index`; answers how many it fixed. */
export async function reconcile(
  context: { sql: Sql; embedder: Embedder; source: VectorIndex },
  kind: IndexKind,
  index: VectorIndex,
): Promise<number> {
  const findings = await kind.check(context, index);
  let fixed = 0;
  for (const finding of findings) {
    if (finding.orphans.length > 0) {
      await index.delete(finding.collection, { ids: finding.orphans });
      fixed += finding.orphans.length;
    }
  }
  const rewrite = [...new Set(findings.flatMap((f) => [...f.missing, ...f.otherSpace]))];
  if (rewrite.length > 0) fixed += await kind.rewrite(context, index, rewrite);
  return fixed;
}

function describe(space: EmbeddingSpace): string {
  return `${space.provider}/${space.model} (${space.dimensions} dimensions)`;
}

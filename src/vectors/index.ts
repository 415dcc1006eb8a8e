/**
 * The vector index behind one interface. Postgres holds every text; the index holds a vector
 * (plus a copy of the text and scalar metadata) for what search should find, in four
 * collections. Domain code speaks only this interface and its own filter type, so the index can
 * be Chroma (the scaled-out deployment) or another implementation without the domain knowing.
 *
 * Every implementation records the embedding space it was built with and refuses to open with
 * another (`EMBEDDING_SPACE_MISMATCH`): vectors of two spaces cannot be compared.
 */

import type { EmbeddingSpace } from '../providers/embedder.js';

export const COLLECTIONS = ['memory', 'history', 'artifacts', 'artifact_chunks'] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

/**
 * Which physical collection a logical one is bound to: `memory reindex` builds generation n + 1
 * beside the live generation n and switches (sql/010). Absent means generation 0.
 */
export type Generations = Readonly<Partial<Record<CollectionName, number>>>;

/** Generation 0 keeps the plain name, so indexes built before generations existed stay live. */
export function physicalName(name: CollectionName, generation: number | undefined): string {
  return generation === undefined || generation === 0 ? name : `${name}_g${generation}`;
}

export type Scalar = string | number | boolean;
export type VectorMetadata = Record<string, Scalar>;

export interface VectorRecord {
  id: string;
  embedding: number[];
  document: string;
  metadata: VectorMetadata;
}

export interface StoredVector {
  id: string;
  document: string | undefined;
  metadata: VectorMetadata;
  embedding?: number[];
}

/** One nearest record: its id and cosine distance (0 = same direction, 2 = opposite). */
export interface VectorNeighbour {
  id: string;
  distance: number;
}

/**
 * A condition on one metadata field: equal to a value, different from it, or a numeric range
 * (either bound optional, both inclusive).
 */
export type FieldCondition =
  | Scalar
  | { readonly $ne: Scalar }
  | { readonly $gte?: number; readonly $lte?: number };

/**
 * Every condition must hold; fields mapped to `undefined` are ignored. Equality is exact (a
 * number never equals a string); `$ne` also matches records without the field; a range matches
 * numbers only.
 */
export type VectorFilter = Readonly<Record<string, FieldCondition | undefined>>;

export interface VectorIndex {
  /** Where the index lives, for messages (e.g. `chroma at http://127.0.0.1:8000`). */
  readonly description: string;
  /** The embedding space its vectors are of. */
  readonly space: EmbeddingSpace;
  /** The generation each collection is bound to. */
  readonly generations: Generations;
  /**
   * The same index bound to other generations and embedding space (nothing is opened until
   * used): how a reindex writes new collections while this one keeps serving.
   */
  at(generations: Generations, space: EmbeddingSpace): VectorIndex;
  /**
   * The embedding space the bound collection of `name` records, without checking it; undefined
   * when absent (pgvector: also when empty, since an empty table takes the configured space).
   */
  storedSpace(name: CollectionName): Promise<EmbeddingSpace | undefined>;
  /** Removes the bound collection of `name` with everything in it (no error when absent). */
  drop(name: CollectionName): Promise<void>;
  /** Throws when the index does not answer. */
  heartbeat(): Promise<void>;
  /** Opens (creating when missing) every collection and verifies its embedding space. */
  open(): Promise<void>;
  /** Writes records; an existing id gets the new vector and text, and its metadata merged with the new. */
  upsert(name: CollectionName, records: readonly VectorRecord[]): Promise<void>;
  get(
    name: CollectionName,
    options: {
      ids?: string[];
      filter?: VectorFilter;
      limit?: number;
      includeEmbeddings?: boolean;
      includeDocuments?: boolean;
    },
  ): Promise<StoredVector[]>;
  /**
   * The `limit` nearest records, ids and distances only. Search resolves the ids in Postgres,
   * which holds every text; and Chroma reads a record's metadata field by field, so returning
   * the 15 fields of an artifact record doubled the time of a query (docs/benchmarks.md).
   */
  query(
    name: CollectionName,
    embedding: number[],
    options: { limit: number; filter?: VectorFilter },
  ): Promise<VectorNeighbour[]>;
  delete(name: CollectionName, options: { ids?: string[]; filter?: VectorFilter }): Promise<void>;
  /** Ids of the records matching `filter` (all when absent), `limit` at a time from `offset`. */
  listIds(
    name: CollectionName,
    options?: { filter?: VectorFilter; limit?: number; offset?: number },
  ): Promise<string[]>;
  count(name: CollectionName): Promise<number>;
}

/** The conditions of a filter as [field, condition] pairs, without the undefined ones. */
export function filterEntries(filter: VectorFilter | undefined): Array<[string, FieldCondition]> {
  if (filter === undefined) return [];
  return Object.entries(filter).filter((entry): entry is [string, FieldCondition] => entry[1] !== undefined);
}

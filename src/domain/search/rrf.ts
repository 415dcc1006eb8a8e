/**
 * Reciprocal-rank fusion (Cormack, Clarke and Büttcher, 2009): a key's fused score is the sum,
 * over the ranked lists that hold it, of weight / (k + rank). Ranks, not scores, are fused, so
 * cosine similarities and BM25 scores need no calibration against each other; k (RRF_CONSTANT)
 * flattens the difference between the first ranks. The product's hybrid search and the retrieval
 * benchmark both fuse with this function, so the benchmark measures the product's fusion.
 */

/** One ranked list: keys best first (a key listed twice counts at its first rank). */
export interface RankedList {
  readonly name: string;
  readonly keys: readonly string[];
  /** How much one vote of this list counts (default 1). */
  readonly weight?: number;
}

export interface Fused {
  key: string;
  score: number;
  /** The rank (1 = best) of the key in each list that holds it, by list name. */
  ranks: Record<string, number>;
}

/** Fuses the lists; best first, ties broken by key (code-unit order) so equal input gives equal order. */
export function fuseRanks(lists: readonly RankedList[], k: number): Fused[] {
  const fused = new Map<string, Fused>();
  for (const list of lists) {
    const weight = list.weight ?? 1;
    list.keys.forEach((key, index) => {
      const entry = fused.get(key) ?? { key, score: 0, ranks: {} };
      if (entry.ranks[list.name] !== undefined) return;
      entry.ranks[list.name] = index + 1;
      entry.score += weight / (k + index + 1);
      fused.set(key, entry);
    });
  }
  return [...fused.values()].sort(
    (a, b) => b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

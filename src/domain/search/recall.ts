/**
 * The fusion of memory_search and history_search: BM25 over the rows in Postgres and the
 * vectors of the index, fused by rrf.ts, with the tuning measured on conversations
 * (bench/conversations.ts, docs/benchmarks.md).
 */
import { type Fused, fuseRanks, type RankedList } from './rrf.js';

export interface RecallTuning {
  /** RRF constant of this fusion. */
  readonly k: number;
  /** Weight of one vote of the vector channel (BM25's counts 1). */
  readonly vectorWeight: number;
  /**
   * The vector channel votes only when BM25 finds fewer candidates than this (Infinity: always).
   * On conversations the offline hashed embedder alone ranks evidence well below BM25, and a
   * vote from it mostly pushes BM25's good candidates down; where BM25 finds little (a
   * paraphrase, a question in other words), vectors are all there is.
   */
  readonly vectorGate: number;
  /**
   * Weight of the neighbours list: the turns just before and after each BM25 hit, at that hit's
   * rank (0: no such list). An answer often sits in the turn after the one that shares the
   * question's words.
   */
  readonly neighbourWeight: number;
}

/**
 * Chosen on the tuning conversations of bench/conversations.ts (locomo-26, -30, -41) out of a
 * grid of 260 (k, vector weight, vector gate, neighbour weight), and checked on the held-out
 * ones (-42, -43). R@5 on the tuning / held-out conversations: plain BM25 0.530 / 0.513, our
 * BM25 alone 0.546 / 0.529, plain RRF k 60 of BM25 and vectors 0.431 / 0.442, this tuning
 * 0.592 / 0.578 (docs/benchmarks.md). The vectors vote only when BM25 finds fewer than 10
 * turns: whenever they voted beside a BM25 list of dozens, recall dropped (weight 0.1 always:
 * 0.580 on the tuning set), yet a paraphrase that shares no word with its turn has only them.
 * The neighbours list counts 0.75: the evidence of a question is often the reply to the turn
 * that shares its words.
 */
export const RECALL_TUNING: RecallTuning = {
  k: 5,
  vectorWeight: 0.1,
  vectorGate: 10,
  neighbourWeight: 0.75,
};

/** The ranked lists of one search; keys are row ids. */
export interface RecallLists {
  lexical: readonly string[];
  vectors: readonly string[];
  /** For each lexical hit, in order, the ids of its neighbours (history only). */
  neighbours?: ReadonlyArray<readonly string[]>;
}

/** Fuses the channels of one search by the tuning; best first. */
export function fuseRecall(lists: RecallLists, tuning: RecallTuning = RECALL_TUNING): Fused[] {
  const ranked: RankedList[] = [{ name: 'lexical', keys: lists.lexical }];
  if (lists.lexical.length < tuning.vectorGate && tuning.vectorWeight > 0) {
    ranked.push({ name: 'vectors', keys: lists.vectors, weight: tuning.vectorWeight });
  }
  if (tuning.neighbourWeight > 0 && lists.neighbours !== undefined) {
    // One list in which each neighbour takes the rank of the hit it sits next to.
    ranked.push({ name: 'neighbours', keys: lists.neighbours.flat(), weight: tuning.neighbourWeight });
  }
  return fuseRanks(ranked, tuning.k);
}

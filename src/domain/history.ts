/**
 * Conversation turns: rows of `conversation_turn` in Postgres, the source of truth, and their
 * vectors in the index's `history` collection under `{conversation_id}_turn_{turn_index}`.
 * Appending a turn index again replaces it, so a client retrying after a lost answer does not
 * duplicate the turn. Writes go to Postgres first, then to the index; when the index fails, the
 * row is put back as it was.
 */
import { ValidationError } from '../errors.js';
import { type EmbeddingSpace, embeddingMetadata } from '../providers/embedder.js';
import {
  lexicalTurns,
  recentTurns,
  restoreTurn,
  type TurnFilters,
  type TurnRow,
  turnsById,
  upsertTurn,
} from '../store/turns.js';
import { embeddableText } from '../text/embeddable.js';
import type { VectorFilter, VectorRecord } from '../vectors/index.js';
import { round } from './scores.js';
import { lexicalQuery } from './search/lexical-query.js';
import { fuseRecall, RECALL_TUNING, type RecallLists, type RecallTuning } from './search/recall.js';
import type { Services } from './services.js';

export const ROLES = ['user', 'assistant', 'system'] as const;

/** The largest turn_index: the column is a Postgres `integer`. */
export const MAX_TURN_INDEX = 2_147_483_647;
export type Role = (typeof ROLES)[number];

export interface Turn {
  turn_id: string;
  conversation_id: string;
  role: Role;
  speaker: string | null;
  turn_index: number;
  content: string;
  ts: string;
}

function toTurn(row: TurnRow): Turn {
  return {
    turn_id: row.turn_id,
    conversation_id: row.conversation_id,
    role: row.role as Role,
    speaker: row.speaker,
    turn_index: row.turn_index,
    content: row.content,
    ts: row.ts.toISOString(),
  };
}

export function turnId(conversationId: string, turnIndex: number): string {
  return `${conversationId}_turn_${turnIndex}`;
}

/** The index record of a turn (append, reindex and import write the same). */
export function turnVectorRecord(row: TurnRow, embedding: number[], space: EmbeddingSpace): VectorRecord {
  return {
    id: row.turn_id,
    embedding,
    document: row.content,
    metadata: {
      conversation_id: row.conversation_id,
      role: row.role,
      turn_index: row.turn_index,
      ts: row.ts.toISOString(),
      ts_epoch: row.ts.getTime() / 1000,
      ...(row.speaker !== null ? { speaker: row.speaker } : {}),
      ...embeddingMetadata(space),
    },
  };
}

export async function appendTurn(
  services: Services,
  input: {
    conversation_id: string;
    role: Role;
    content: string;
    turn_index: number;
    ts?: string | undefined;
    speaker?: string | undefined;
  },
): Promise<Turn & { replaced: boolean }> {
  const [embedding] = await services.embedder.embed([embeddableText(input.content)], 'document');
  const row: TurnRow = {
    turn_id: turnId(input.conversation_id, input.turn_index),
    conversation_id: input.conversation_id,
    turn_index: input.turn_index,
    role: input.role,
    speaker: input.speaker ?? null,
    content: input.content,
    ts: input.ts === undefined ? new Date() : new Date(input.ts),
  };
  const previous = await upsertTurn(services.sql, row);
  try {
    await services.vectors.upsert('history', [turnVectorRecord(row, embedding!, services.embedder.space)]);
  } catch (error) {
    await restoreTurn(services.sql, row, previous);
    throw error;
  }
  return { ...toTurn(row), replaced: previous !== undefined };
}

/** The most recent `limit` turns of a conversation, oldest first. */
export async function getHistory(
  services: Services,
  input: { conversation_id: string; limit: number },
): Promise<{ conversation_id: string; turns: Turn[]; total: number }> {
  const { turns, total } = await recentTurns(services.sql, input.conversation_id, input.limit);
  return { conversation_id: input.conversation_id, turns: turns.map(toTurn), total };
}

export interface HistorySearchInput {
  query: string;
  conversation_id?: string | undefined;
  role?: Role | undefined;
  speaker?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit: number;
}

export type TurnHit = Omit<Turn, 'turn_id'> & { score: number; channels: Record<string, number> };

function turnFilters(input: HistorySearchInput): TurnFilters {
  const filters: TurnFilters = {
    conversationId: input.conversation_id,
    role: input.role,
    speaker: input.speaker,
    since: input.since === undefined ? undefined : new Date(input.since),
    until: input.until === undefined ? undefined : new Date(input.until),
  };
  if (filters.since && filters.until && filters.since > filters.until) {
    throw new ValidationError('until', 'must not be before since');
  }
  return filters;
}

/** How many candidates each channel gives the fusion. */
function channelDepth(limit: number): number {
  return Math.max(limit * 5, 50);
}

/**
 * The ranked lists of history_search before fusion: BM25 hits (filtered in Postgres), vector
 * hits (filtered by what every index record carries, conversation and role; the rest is checked
 * after fusion) and each BM25 hit's neighbouring turns. Exported for the benchmark, which fuses
 * the same lists under several tunings.
 *
 * With `tuning`, the index is asked only when the vectors would vote (BM25 found fewer turns
 * than the gate): a filtered query of the index costs more than BM25 itself at 100k turns
 * (docs/benchmarks.md), and it is skipped wherever its answer would be thrown away. Without
 * `tuning` (the benchmark), both channels always run, in parallel.
 */
export async function historyChannels(
  services: Services,
  input: HistorySearchInput,
  tuning?: RecallTuning,
): Promise<RecallLists> {
  const filters = turnFilters(input);
  const depth = channelDepth(input.limit);
  const vectorFilter: VectorFilter = { conversation_id: input.conversation_id, role: input.role };
  const vectorQuery = () =>
    services.embedder.embed([input.query], 'query').then(([embedding]) =>
      services.vectors.query('history', embedding!, {
        limit: depth,
        ...(input.conversation_id !== undefined || input.role !== undefined ? { filter: vectorFilter } : {}),
      }),
    );
  const lexicalQueryRun = lexicalTurns(services.sql, lexicalQuery(input.query), { limit: depth, filters });
  const [lexical, vectorHits] =
    tuning === undefined
      ? await Promise.all([lexicalQueryRun, vectorQuery()])
      : await lexicalQueryRun.then(
          async (hits) =>
            [
              hits,
              hits.length < tuning.vectorGate && tuning.vectorWeight > 0 ? await vectorQuery() : [],
            ] as const,
        );
  return {
    lexical: lexical.map((hit) => hit.id),
    vectors: vectorHits.map((hit) => hit.id),
    neighbours: lexical.map((hit) => {
      const at = hit.id.lastIndexOf('_turn_');
      const conversation = hit.id.slice(0, at);
      const index = Number(hit.id.slice(at + '_turn_'.length));
      return [turnId(conversation, index - 1), turnId(conversation, index + 1)];
    }),
  };
}

/**
 * Hybrid search over turns: BM25 in Postgres and the turn vectors, fused (search/recall.ts).
 * Every fused candidate is checked against Postgres and the filters: stale or filtered-out index
 * records, and neighbours that do not exist, drop out, so turns copied from older stores (whose
 * index records lack speaker and time) are still filtered right.
 */
export async function searchHistory(
  services: Services,
  input: HistorySearchInput,
  tuning: RecallTuning = RECALL_TUNING,
): Promise<TurnHit[]> {
  const filters = turnFilters(input);
  const fused = fuseRecall(await historyChannels(services, input, tuning), tuning);
  const candidates = fused.slice(0, channelDepth(input.limit)).map((entry) => entry.key);
  const rows = new Map((await turnsById(services.sql, candidates, filters)).map((row) => [row.turn_id, row]));
  return fused
    .filter((entry) => rows.has(entry.key))
    .slice(0, input.limit)
    .map((entry) => {
      const { turn_id: _, ...turn } = toTurn(rows.get(entry.key)!);
      return { ...turn, score: round(entry.score, 6), channels: entry.ranks };
    });
}

/**
 * Small memories (preferences, facts, project notes, decisions): rows of `memory` in Postgres,
 * the source of truth, and their vectors in the index's `memory` collection under the same id.
 * A write goes to Postgres first and then to the index; when the index fails, the Postgres
 * write is undone, so neither holds a memory the other lacks.
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../errors.js';
import { type EmbeddingSpace, embeddingMetadata } from '../providers/embedder.js';
import {
  deleteMemoryRow,
  insertMemory,
  lexicalMemories,
  listMemoryRows,
  type MemoryRow,
  memoriesById,
} from '../store/memories.js';
import { countTokens } from '../text/cl100k.js';
import { embeddableText } from '../text/embeddable.js';
import type { VectorRecord } from '../vectors/index.js';
import { round } from './scores.js';
import { lexicalQuery } from './search/lexical-query.js';
import { fuseRecall, RECALL_TUNING, type RecallTuning } from './search/recall.js';
import type { Services } from './services.js';

export const MEMORY_TYPES = ['preference', 'fact', 'project', 'decision'] as const;
export type MemoryType = (typeof MEMORY_TYPES)[number];

export interface Memory {
  memory_id: string;
  content: string;
  type: MemoryType;
  confidence: number;
  ts: string;
  conversation_id: string | null;
}

export function toMemory(row: MemoryRow): Memory {
  return {
    memory_id: row.memory_id,
    content: row.content,
    type: row.type as MemoryType,
    confidence: row.confidence,
    ts: row.ts.toISOString(),
    conversation_id: row.conversation_id,
  };
}

/** The index record of a memory (store, reindex and import write the same). */
export function memoryVectorRecord(
  row: Pick<MemoryRow, 'memory_id' | 'content' | 'type' | 'confidence' | 'conversation_id' | 'ts'>,
  embedding: number[],
  space: EmbeddingSpace,
): VectorRecord {
  return {
    id: row.memory_id,
    embedding,
    document: row.content,
    metadata: {
      type: row.type,
      confidence: row.confidence,
      ts: row.ts.toISOString(),
      ts_epoch: row.ts.getTime() / 1000,
      ...(row.conversation_id !== null ? { conversation_id: row.conversation_id } : {}),
      ...embeddingMetadata(space),
      token_count: countTokens(row.content),
    },
  };
}

export async function storeMemory(
  services: Services,
  input: { content: string; type: MemoryType; confidence: number; conversation_id?: string | undefined },
): Promise<Memory> {
  const [embedding] = await services.embedder.embed([embeddableText(input.content)], 'document');
  const row = {
    memory_id: `mem_${randomBytes(6).toString('hex')}`,
    content: input.content,
    type: input.type,
    confidence: input.confidence,
    conversation_id: input.conversation_id ?? null,
    ts: new Date(),
  };
  await insertMemory(services.sql, row);
  try {
    await services.vectors.upsert('memory', [memoryVectorRecord(row, embedding!, services.embedder.space)]);
  } catch (error) {
    await deleteMemoryRow(services.sql, row.memory_id);
    throw error;
  }
  return toMemory({ ...row, tags: [], metadata: {} });
}

/**
 * Hybrid: BM25 over memory text in Postgres and the memory vectors, fused (search/recall.ts).
 * An exact identifier ("INC-4471") that the embedding blurs is found by its words; a paraphrase
 * by its vector. Vector hits are checked against Postgres, so a record the index still holds
 * for a deleted memory never comes back.
 */
export async function searchMemories(
  services: Services,
  input: { query: string; limit: number; min_confidence: number },
  tuning: RecallTuning = RECALL_TUNING,
): Promise<Array<Memory & { score: number; channels: Record<string, number> }>> {
  const depth = Math.max(input.limit * 5, 50);
  const lexical = await lexicalMemories(services.sql, lexicalQuery(input.query), {
    limit: depth,
    minConfidence: input.min_confidence,
  });
  // The index is asked only where its vectors vote (search/recall.ts: BM25 found few memories).
  const vectorHits =
    lexical.length < tuning.vectorGate && tuning.vectorWeight > 0
      ? await services.vectors.query('memory', (await services.embedder.embed([input.query], 'query'))[0]!, {
          limit: depth,
          ...(input.min_confidence > 0 ? { filter: { confidence: { $gte: input.min_confidence } } } : {}),
        })
      : [];
  const fused = fuseRecall(
    { lexical: lexical.map((hit) => hit.id), vectors: vectorHits.map((hit) => hit.id) },
    tuning,
  );
  const rows = new Map(
    (
      await memoriesById(
        services.sql,
        fused.slice(0, depth).map((entry) => entry.key),
        { minConfidence: input.min_confidence },
      )
    ).map((row) => [row.memory_id, row]),
  );
  return fused
    .filter((entry) => rows.has(entry.key))
    .slice(0, input.limit)
    .map((entry) => ({
      ...toMemory(rows.get(entry.key)!),
      score: round(entry.score, 6),
      channels: entry.ranks,
    }));
}

/** Newest first. */
export async function listMemories(
  services: Services,
  input: { type?: MemoryType | undefined; limit: number },
): Promise<{ memories: Memory[]; total: number }> {
  const { rows, total } = await listMemoryRows(services.sql, input);
  return { memories: rows.map(toMemory), total };
}

export async function deleteMemory(services: Services, memoryId: string): Promise<{ deleted: string }> {
  const removed = await deleteMemoryRow(services.sql, memoryId);
  if (removed === undefined) throw new NotFoundError('memory', memoryId);
  try {
    await services.vectors.delete('memory', { ids: [memoryId] });
  } catch (error) {
    await insertMemory(services.sql, removed);
    throw error;
  }
  return { deleted: memoryId };
}

/**
 * Small memories (preferences, facts, project notes, decisions), stored in the Chroma `memory`
 * collection with their vector.
 */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../errors.js';
import { embeddingMetadata } from '../providers/embedder.js';
import { countTokens } from '../text/cl100k.js';
import { embeddableText } from '../text/embeddable.js';
import type { StoredVector } from '../vectors/index.js';
import { round } from './scores.js';
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

function toMemory(record: StoredVector): Memory {
  const m = record.metadata;
  return {
    memory_id: record.id,
    content: record.document ?? '',
    type: m.type as MemoryType,
    confidence: Number(m.confidence),
    ts: String(m.ts),
    conversation_id: typeof m.conversation_id === 'string' ? m.conversation_id : null,
  };
}

export async function storeMemory(
  services: Services,
  input: { content: string; type: MemoryType; confidence: number; conversation_id?: string | undefined },
): Promise<Memory> {
  const [embedding] = await services.embedder.embed([embeddableText(input.content)], 'document');
  const id = `mem_${randomBytes(6).toString('hex')}`;
  const ts = new Date().toISOString();
  await services.vectors.upsert('memory', [
    {
      id,
      embedding: embedding!,
      document: input.content,
      metadata: {
        type: input.type,
        confidence: input.confidence,
        ts,
        ts_epoch: Date.now() / 1000,
        ...(input.conversation_id !== undefined ? { conversation_id: input.conversation_id } : {}),
        ...embeddingMetadata(services.embedder.space),
        token_count: countTokens(input.content),
      },
    },
  ]);
  return {
    memory_id: id,
    content: input.content,
    type: input.type,
    confidence: input.confidence,
    ts,
    conversation_id: input.conversation_id ?? null,
  };
}

export async function searchMemories(
  services: Services,
  input: { query: string; limit: number; min_confidence: number },
): Promise<Array<Memory & { score: number }>> {
  const [embedding] = await services.embedder.embed([input.query], 'query');
  const hits = await services.vectors.query('memory', embedding!, {
    limit: input.limit,
    ...(input.min_confidence > 0 ? { filter: { confidence: { $gte: input.min_confidence } } } : {}),
  });
  return hits.map((hit) => ({ ...toMemory(hit), score: round(1 - hit.distance) }));
}

/** Newest first. */
export async function listMemories(
  services: Services,
  input: { type?: MemoryType | undefined; limit: number },
): Promise<{ memories: Memory[]; total: number }> {
  const records = await services.vectors.get('memory', input.type ? { filter: { type: input.type } } : {});
  const memories = records.map(toMemory).sort((a, b) => b.ts.localeCompare(a.ts));
  return { memories: memories.slice(0, input.limit), total: memories.length };
}

export async function deleteMemory(services: Services, memoryId: string): Promise<{ deleted: string }> {
  const [existing] = await services.vectors.get('memory', { ids: [memoryId], includeDocuments: false });
  if (existing === undefined) throw new NotFoundError('memory', memoryId);
  await services.vectors.delete('memory', { ids: [memoryId] });
  return { deleted: memoryId };
}

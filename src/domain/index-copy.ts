/**
 * Stores written before sql/006 kept memories and conversation turns in the vector index alone.
 * At start, each of the two collections is copied once into its Postgres table (rows already
 * there are kept), and `vector_copy` records that it was done and how many rows came over. The
 * copy is idempotent: two processes starting together insert each row once.
 */
import { taggedLogger } from '../log.js';
import { insertMemories, type NewMemory } from '../store/memories.js';
import { insertTurns, type NewTurn } from '../store/turns.js';
import { type CopiedCollection, markCopied, wasCopied } from '../store/vector-copy.js';
import type { StoredVector } from '../vectors/index.js';
import type { Services } from './services.js';

const logger = taggedLogger('migrate');
const PAGE = 500;

function asDate(value: unknown): Date {
  const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

function memoryOf(record: StoredVector): NewMemory {
  const m = record.metadata;
  return {
    memory_id: record.id,
    content: record.document ?? '',
    type: String(m.type),
    confidence: Number(m.confidence),
    conversation_id: typeof m.conversation_id === 'string' ? m.conversation_id : null,
    ts: asDate(m.ts),
  };
}

function turnOf(record: StoredVector): NewTurn {
  const m = record.metadata;
  return {
    conversation_id: String(m.conversation_id),
    turn_index: Number(m.turn_index),
    role: String(m.role),
    speaker: typeof m.speaker === 'string' ? m.speaker : null,
    content: record.document ?? '',
    ts: asDate(m.ts),
  };
}

async function copyCollection(services: Services, collection: CopiedCollection): Promise<number | undefined> {
  if (await wasCopied(services.sql, collection)) return undefined;
  let copied = 0;
  for (let offset = 0; ; offset += PAGE) {
    const ids = await services.vectors.listIds(collection, { limit: PAGE, offset });
    if (ids.length === 0) break;
    const records = await services.vectors.get(collection, { ids });
    copied +=
      collection === 'memory'
        ? await insertMemories(services.sql, records.map(memoryOf))
        : await insertTurns(services.sql, records.map(turnOf));
    if (ids.length < PAGE) break;
  }
  await markCopied(services.sql, collection, copied);
  return copied;
}

/** Copies index-only memories and turns into Postgres, once per store; returns the counts copied now. */
export async function copyIndexOnlyRecords(
  services: Services,
): Promise<{ memories?: number; turns?: number }> {
  const memories = await copyCollection(services, 'memory');
  const turns = await copyCollection(services, 'history');
  if (memories !== undefined || turns !== undefined) {
    logger.info(
      `Copied ${memories ?? 0} memories and ${turns ?? 0} conversation turns from the vector index into Postgres`,
    );
  }
  return { ...(memories !== undefined ? { memories } : {}), ...(turns !== undefined ? { turns } : {}) };
}

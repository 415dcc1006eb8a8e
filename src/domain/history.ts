/**
 * Conversation turns in the Chroma `history` collection, one record per
 * `{conversation_id}_turn_{turn_index}`. Appending a turn index again replaces it, so a client
 * retrying after a lost answer does not duplicate the turn.
 */
import { embeddingMetadata } from '../providers/embedder.js';
import { embeddableText } from '../text/embeddable.js';
import type { Services } from './services.js';

export const ROLES = ['user', 'assistant', 'system'] as const;
export type Role = (typeof ROLES)[number];

export interface Turn {
  turn_id: string;
  conversation_id: string;
  role: Role;
  turn_index: number;
  content: string;
  ts: string;
}

export async function appendTurn(
  services: Services,
  input: { conversation_id: string; role: Role; content: string; turn_index: number },
): Promise<Turn & { replaced: boolean }> {
  const id = `${input.conversation_id}_turn_${input.turn_index}`;
  const [existing] = await services.vectors.get('history', { ids: [id], includeDocuments: false });
  const [embedding] = await services.embedder.embed([embeddableText(input.content)], 'document');
  const ts = new Date().toISOString();
  await services.vectors.upsert('history', [
    {
      id,
      embedding: embedding!,
      document: input.content,
      metadata: {
        conversation_id: input.conversation_id,
        role: input.role,
        turn_index: input.turn_index,
        ts,
        ...embeddingMetadata(services.embedder.space),
      },
    },
  ]);
  return { turn_id: id, ...input, ts, replaced: existing !== undefined };
}

/** The most recent `limit` turns of a conversation, oldest first. */
export async function getHistory(
  services: Services,
  input: { conversation_id: string; limit: number },
): Promise<{ conversation_id: string; turns: Turn[]; total: number }> {
  const records = await services.vectors.get('history', {
    filter: { conversation_id: input.conversation_id },
  });
  const turns = records
    .map((record) => ({
      turn_id: record.id,
      conversation_id: input.conversation_id,
      role: record.metadata.role as Role,
      turn_index: Number(record.metadata.turn_index),
      content: record.document ?? '',
      ts: String(record.metadata.ts),
    }))
    .sort((a, b) => a.turn_index - b.turn_index);
  return { conversation_id: input.conversation_id, turns: turns.slice(-input.limit), total: turns.length };
}

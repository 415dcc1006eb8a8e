/** Conversation turns (`conversation_turn`, sql/006): the source of truth for history. */
import type { Sql } from './connect.js';
import { type LexicalQuery, lexicalSearchRows, type RowHit } from './lexical.js';

export interface TurnRow {
  turn_id: string;
  conversation_id: string;
  turn_index: number;
  role: string;
  speaker: string | null;
  content: string;
  ts: Date;
}

export type NewTurn = Omit<TurnRow, 'turn_id'>;

/** Which turns a search may return; every field optional. */
export interface TurnFilters {
  conversationId?: string | undefined;
  role?: string | undefined;
  speaker?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** Inserts or replaces the turn at (conversation_id, turn_index); returns the row it replaced. */
export async function upsertTurn(sql: Sql, turn: NewTurn): Promise<TurnRow | undefined> {
  return sql.begin(async (tx) => {
    const [previous] = await tx<TurnRow[]>`
      select turn_id, conversation_id, turn_index, role, speaker, content, ts from conversation_turn
      where conversation_id = ${turn.conversation_id} and turn_index = ${turn.turn_index}
      for update`;
    await tx`
      insert into conversation_turn (conversation_id, turn_index, role, speaker, content, ts)
      values (${turn.conversation_id}, ${turn.turn_index}, ${turn.role}, ${turn.speaker}, ${turn.content}, ${turn.ts})
      on conflict (conversation_id, turn_index) do update
      set role = excluded.role, speaker = excluded.speaker, content = excluded.content, ts = excluded.ts,
          written_at = now()`;
    return previous;
  });
}

/** Puts a turn back as it was (`previous`) or removes it (undefined): the undo of `upsertTurn`. */
export async function restoreTurn(
  sql: Sql,
  key: { conversation_id: string; turn_index: number },
  previous: TurnRow | undefined,
): Promise<void> {
  if (previous === undefined) {
    await sql`delete from conversation_turn
              where conversation_id = ${key.conversation_id} and turn_index = ${key.turn_index}`;
    return;
  }
  await upsertTurn(sql, previous);
}

/** Many turns in one statement; turns already present are left as they are. Returns how many were inserted. */
export async function insertTurns(sql: Sql, turns: readonly NewTurn[]): Promise<number> {
  if (turns.length === 0) return 0;
  const result = await sql`
    insert into conversation_turn (conversation_id, turn_index, role, speaker, content, ts)
    select conversation_id, turn_index, role, speaker, content, ts
    from jsonb_to_recordset(${sql.json(turns.map((t) => ({ ...t, ts: t.ts.toISOString() })) as never)})
      as r(conversation_id text, turn_index int, role text, speaker text, content text, ts timestamptz)
    on conflict (conversation_id, turn_index) do nothing`;
  return result.count;
}

/**
 * The newest `limit` turns of a conversation, oldest first, and how many it has. The turns are
 * read backwards from the end of the primary key (conversation_id, turn_index); the count is an
 * index-only scan of that one conversation.
 */
export async function recentTurns(
  sql: Sql,
  conversationId: string,
  limit: number,
): Promise<{ turns: TurnRow[]; total: number }> {
  const [turns, [count]] = await Promise.all([
    sql<TurnRow[]>`
      select turn_id, conversation_id, turn_index, role, speaker, content, ts from (
        select * from conversation_turn where conversation_id = ${conversationId}
        order by turn_index desc limit ${limit}
      ) recent
      order by turn_index`,
    sql<{ total: number }[]>`
      select count(*)::int as total from conversation_turn where conversation_id = ${conversationId}`,
  ]);
  return { turns, total: count?.total ?? 0 };
}

function filterCondition(sql: Sql, filters: TurnFilters) {
  return sql`true
    ${filters.conversationId === undefined ? sql`` : sql`and d.conversation_id = ${filters.conversationId}`}
    ${filters.role === undefined ? sql`` : sql`and d.role = ${filters.role}`}
    ${filters.speaker === undefined ? sql`` : sql`and lower(d.speaker) = lower(${filters.speaker})`}
    ${filters.since === undefined ? sql`` : sql`and d.ts >= ${filters.since}`}
    ${filters.until === undefined ? sql`` : sql`and d.ts <= ${filters.until}`}`;
}

/** These turns by turn_id, where they exist and pass the filters. */
export async function turnsById(
  sql: Sql,
  ids: readonly string[],
  filters: TurnFilters = {},
): Promise<TurnRow[]> {
  if (ids.length === 0) return [];
  // conversation_turn_id_idx
  return sql<TurnRow[]>`
    select d.turn_id, d.conversation_id, d.turn_index, d.role, d.speaker, d.content, d.ts from conversation_turn d
    where d.turn_id = any(${ids as string[]}::text[]) and ${filterCondition(sql, filters)}`;
}

/** BM25 over turn content (store/lexical.ts), among the turns that pass the filters. */
export async function lexicalTurns(
  sql: Sql,
  query: LexicalQuery,
  options: { limit: number; filters?: TurnFilters },
): Promise<RowHit[]> {
  return lexicalSearchRows(sql, 'conversation_turn', query, {
    limit: options.limit,
    keep: filterCondition(sql, options.filters ?? {}),
  });
}

/** Semantic events and their evidence: the worker's write and the event tools' reads. */

import type { AnchoredEvent } from '../domain/extraction/types.js';
import type { Sql, Tx } from './connect.js';

/**
 * One evidence quote. `start_char`/`end_char` index the whole text of the event's revision
 * (`content.slice(start_char, end_char) === quote`, chunked or not); `chunk_id` names the chunk
 * the quote was found in (null when the revision is not chunked).
 */
export interface EvidenceView {
  evidence_id: string;
  chunk_id: string | null;
  start_char: number;
  end_char: number;
  quote: string;
}

export interface EventView {
  event_id: string;
  /** The artifact the event comes from: its artifact_id (for artifact_get) and artifact_uid. */
  artifact_id: string;
  artifact_uid: string;
  revision_id: string;
  /** Whether `revision_id` is the artifact's latest revision (false: a superseded revision's event). */
  is_latest: boolean;
  category: string;
  event_time: string | null;
  narrative: string;
  subject: { type: string; ref: string };
  actors: Array<{ ref: string; role: string }>;
  confidence: number;
  extraction_run_id: string | null;
  created_at: string;
  evidence?: EvidenceView[];
}

/**
 * Replaces the events of a revision with a new set, inside the caller's transaction: the old set
 * stays visible until the new one commits. Returns the number of events written.
 */
export async function replaceRevisionEvents(
  tx: Tx,
  artifactUid: string,
  revisionId: string,
  jobId: string,
  events: readonly AnchoredEvent[],
): Promise<number> {
  // The revision first: inserting events share-locks it anyway (each event takes its is_latest
  // from it, sql/005), and an ingest making it superseded locks it before updating its events.
  // Locked after the delete below, the two could each wait for the other.
  await tx`
    select 1 from artifact_revision
    where artifact_uid = ${artifactUid} and revision_id = ${revisionId}
    for share`;
  await tx`delete from semantic_event where artifact_uid = ${artifactUid} and revision_id = ${revisionId}`;
  if (events.length === 0) return 0;
  const inserted = await tx<Array<{ event_id: string }>>`
    insert into semantic_event ${tx(
      events.map((event) => ({
        artifact_uid: artifactUid,
        revision_id: revisionId,
        category: event.category,
        event_time: event.event_time === null ? null : new Date(event.event_time),
        narrative: event.narrative,
        subject_json: tx.json(event.subject),
        actors_json: tx.json(event.actors),
        confidence: event.confidence,
        extraction_run_id: jobId,
      })),
    )}
    returning event_id`;
  const evidence = events.flatMap((event, i) =>
    event.evidence.map((item) => ({
      event_id: inserted[i]!.event_id,
      artifact_uid: artifactUid,
      revision_id: revisionId,
      chunk_id: item.chunkId,
      start_char: item.startChar,
      end_char: item.endChar,
      quote: item.quote,
    })),
  );
  for (let start = 0; start < evidence.length; start += 1000) {
    await tx`insert into event_evidence ${tx(evidence.slice(start, start + 1000))}`;
  }
  return inserted.length;
}

/** A semantic_event row (its is_latest kept equal to its revision's) with the revision's artifact_id. */
interface EventRow {
  event_id: string;
  artifact_id: string;
  artifact_uid: string;
  revision_id: string;
  is_latest: boolean;
  category: string;
  event_time: Date | null;
  narrative: string;
  subject_json: { type: string; ref: string };
  actors_json: Array<{ ref: string; role: string }>;
  confidence: number;
  extraction_run_id: string | null;
  created_at: Date;
}

/**
 * The artifact_id of an event's revision, by the revision's primary key. A subquery in the select
 * list rather than a join: it runs for the rows returned only (after the sort and limit), where a
 * join let the planner hash every revision for a search that returns twenty events.
 */
function artifactIdOfEvent(sql: Sql) {
  return sql`(select r.artifact_id from artifact_revision r
    where r.artifact_uid = e.artifact_uid and r.revision_id = e.revision_id) as artifact_id`;
}

function toView(row: EventRow): EventView {
  return {
    event_id: row.event_id,
    artifact_id: row.artifact_id,
    artifact_uid: row.artifact_uid,
    revision_id: row.revision_id,
    is_latest: row.is_latest,
    category: row.category,
    event_time: row.event_time?.toISOString() ?? null,
    narrative: row.narrative,
    subject: row.subject_json,
    actors: row.actors_json,
    confidence: Math.round(row.confidence * 1000) / 1000,
    extraction_run_id: row.extraction_run_id,
    created_at: row.created_at.toISOString(),
  };
}

/** Attaches every event's evidence (in source order) with one query. */
export async function withEvidence(sql: Sql, events: EventView[]): Promise<EventView[]> {
  if (events.length === 0) return events;
  const rows = await sql<Array<EvidenceView & { event_id: string }>>`
    select event_id, evidence_id, chunk_id, start_char, end_char, quote
    from event_evidence
    where event_id = any(${events.map((e) => e.event_id)})
    order by start_char, end_char`;
  const byEvent = new Map<string, EvidenceView[]>();
  for (const { event_id, ...evidence } of rows) {
    const list = byEvent.get(event_id) ?? [];
    list.push(evidence);
    byEvent.set(event_id, list);
  }
  for (const event of events) event.evidence = byEvent.get(event.event_id) ?? [];
  return events;
}

export async function getEvent(sql: Sql, eventId: string): Promise<EventView | undefined> {
  const [row] = await sql<EventRow[]>`
    select e.*, ${artifactIdOfEvent(sql)} from semantic_event e where e.event_id = ${eventId}`;
  if (row === undefined) return undefined;
  const [view] = await withEvidence(sql, [toView(row)]);
  return view;
}

export async function listRevisionEvents(
  sql: Sql,
  artifactUid: string,
  revisionId: string,
): Promise<EventView[]> {
  // semantic_event_revision_idx
  const rows = await sql<EventRow[]>`
    select e.*, ${artifactIdOfEvent(sql)}
    from semantic_event e
    where e.artifact_uid = ${artifactUid} and e.revision_id = ${revisionId}
    order by e.event_time nulls last, e.created_at, e.event_id`;
  return rows.map(toView);
}

export interface EventSearch {
  query?: string | undefined;
  category?: string | undefined;
  timeFrom?: Date | undefined;
  timeTo?: Date | undefined;
  artifactUid?: string | undefined;
  /** Also events of revisions that a newer revision of their artifact replaced (default: latest only). */
  includeSuperseded?: boolean | undefined;
  limit: number;
}

/**
 * Turns a natural-language query into prefix terms over English stems. Stems of one word family
 * differ ("decision" → decis, "decided" → decid), so each stem is matched as a prefix that drops
 * its last letter (decis → deci:*, which also matches decid). Stop words vanish on the way.
 */
export async function queryTerms(sql: Sql, query: string): Promise<string[]> {
  const rows = await sql<Array<{ lexeme: string }>>`
    select lexeme from unnest(to_tsvector('english', ${query})) order by positions[1]`;
  return rows
    .map((row) => row.lexeme)
    .filter((lexeme) => /^[\p{L}\p{N}]+$/u.test(lexeme))
    .map((lexeme) => (lexeme.length <= 4 ? lexeme : lexeme.slice(0, Math.max(4, lexeme.length - 1))));
}

/**
 * Filtered event search, newest first. With a query, every term must match (prefix); when that
 * finds nothing, any term may match, best-ranked first, and the answer says so (`match`).
 * Only events of each artifact's latest revision count, unless `includeSuperseded`; every event
 * says whether its revision is the latest.
 */
export async function searchEvents(
  sql: Sql,
  search: EventSearch,
  options: {
    /**
     * Stop counting after cap + 1 matches (`total` = cap + 1 then means "more than cap"): an
     * exact count of a term found in 40 % of 100k events costs 70 ms, a capped one 2 ms. The
     * tool counts exactly; docs/benchmarks.md measures both.
     */
    totalCap?: number;
  } = {},
): Promise<{ events: EventView[]; total: number; match: 'all_terms' | 'any_term' | 'none' }> {
  const terms = search.query === undefined ? [] : await queryTerms(sql, search.query);
  const run = async (mode: 'all_terms' | 'any_term' | 'none') => {
    // Passed as a tsquery value, not parsed per row with to_tsquery(): under a generic plan the
    // parse ran once per candidate row (52 ms against 7 ms at 10k events).
    const tsquery = terms.map((term) => `${term}:*`).join(mode === 'all_terms' ? ' & ' : ' | ');
    const where = () => sql`
      ${mode === 'none' ? sql`true` : sql`e.narrative_tsv @@ ${tsquery}::tsquery`}
      ${search.category !== undefined ? sql`and e.category = ${search.category}` : sql``}
      ${search.timeFrom !== undefined ? sql`and e.event_time >= ${search.timeFrom}` : sql``}
      ${search.timeTo !== undefined ? sql`and e.event_time <= ${search.timeTo}` : sql``}
      ${search.artifactUid !== undefined ? sql`and e.artifact_uid = ${search.artifactUid}` : sql``}
      ${search.includeSuperseded === true ? sql`` : sql`and e.is_latest`}`;
    // semantic_event_narrative_idx serves the text filter; semantic_event_time_idx the order.
    const order =
      mode === 'any_term'
        ? sql`ts_rank_cd(e.narrative_tsv, ${tsquery}::tsquery) desc, e.event_time desc nulls last, e.created_at desc`
        : sql`e.event_time desc nulls last, e.created_at desc`;
    // The total is its own uncorrelated subquery: `count(*) over ()` read and buffered every
    // matching row before the LIMIT (116 ms against 7 ms unfiltered at 100k events).
    // e.is_latest (sql/005) is in the indexes that serve counts, which stay index-only scans.
    const total =
      options.totalCap === undefined
        ? sql`(select count(*)::int from semantic_event e where ${where()})`
        : sql`(select count(*)::int from (
                select 1 from semantic_event e where ${where()} limit ${options.totalCap + 1}) capped)`;
    const rows = await sql<Array<EventRow & { total: number }>>`
      select e.*, ${artifactIdOfEvent(sql)}, ${total} as total
      from semantic_event e
      where ${where()}
      order by ${order}
      limit ${search.limit}`;
    return { events: rows.map(toView), total: rows[0]?.total ?? 0 };
  };
  if (search.query !== undefined && terms.length === 0) return { events: [], total: 0, match: 'none' };
  if (terms.length === 0) return { ...(await run('none')), match: 'none' };
  const all = await run('all_terms');
  if (all.total > 0 || terms.length === 1) return { ...all, match: 'all_terms' };
  return { ...(await run('any_term')), match: 'any_term' };
}

/**
 * Events of latest revisions matching any term of the query, best-ranked first: the events
 * channel of hybrid search (a ranked list for fusion, not a filter).
 */
export async function rankEventsForQuery(sql: Sql, query: string, limit: number): Promise<EventView[]> {
  const terms = await queryTerms(sql, query);
  if (terms.length === 0) return [];
  const tsquery = terms.map((term) => `${term}:*`).join(' | ');
  const rows = await sql<EventRow[]>`
    select e.*, ${artifactIdOfEvent(sql)}
    from semantic_event e
    where e.is_latest and e.narrative_tsv @@ ${tsquery}::tsquery
    order by ts_rank_cd(e.narrative_tsv, ${tsquery}::tsquery) desc, e.event_time desc nulls last
    limit ${limit}`;
  return rows.map(toView);
}

/**
 * `memory export`: every record users stored, as JSON Lines (lines.ts), streamed page by page
 * in a stable order (by primary key), so that memory stays flat with the size of the store and two
 * exports of the same store are identical apart from the header's time.
 */
import type { Sql } from '../../store/connect.js';
import { eventsPage, jobsPage, memoriesPage, revisionsPage, turnsPage } from '../../store/transfer.js';
import { EXPORT_FORMAT, EXPORT_VERSION, type RecordType } from './lines.js';

const PAGE = 200;

/** Where lines go: resolves once the line may be followed by another (back-pressure). */
export type LineSink = (line: string) => Promise<void>;

export type ExportCounts = Record<RecordType, number>;

const iso = (date: Date | null) => date?.toISOString() ?? null;

export async function exportStore(
  sql: Sql,
  write: LineSink,
  options: { now?: Date; onProgress?: (counts: ExportCounts) => void } = {},
): Promise<ExportCounts> {
  const counts: ExportCounts = { memory: 0, turn: 0, revision: 0, event: 0, job: 0 };
  const emit = async (type: RecordType, record: Record<string, unknown>) => {
    await write(`${JSON.stringify({ type, ...record })}\n`);
    counts[type]++;
  };
  await write(
    `${JSON.stringify({
      type: 'header',
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exported_at: (options.now ?? new Date()).toISOString(),
    })}\n`,
  );

  for (let after = ''; ; ) {
    const rows = await memoriesPage(sql, after, PAGE);
    if (rows.length === 0) break;
    for (const row of rows) {
      await emit('memory', {
        memory_id: row.memory_id,
        content: row.content,
        memory_type: row.type,
        confidence: row.confidence,
        conversation_id: row.conversation_id,
        tags: row.tags,
        metadata: row.metadata,
        ts: iso(row.ts),
      });
    }
    after = rows[rows.length - 1]!.memory_id;
    options.onProgress?.(counts);
  }

  for (let after: { conversation_id: string; turn_index: number } | undefined; ; ) {
    const rows = await turnsPage(sql, after, PAGE);
    if (rows.length === 0) break;
    for (const row of rows) {
      await emit('turn', {
        conversation_id: row.conversation_id,
        turn_index: row.turn_index,
        role: row.role,
        speaker: row.speaker,
        content: row.content,
        ts: iso(row.ts),
      });
    }
    after = rows[rows.length - 1]!;
    options.onProgress?.(counts);
  }

  for (let after: { artifact_uid: string; revision_id: string } | undefined; ; ) {
    // Revisions carry their whole text: fewer per page keeps a page of long documents small.
    const rows = await revisionsPage(sql, after, 50);
    if (rows.length === 0) break;
    for (const row of rows) {
      await emit('revision', {
        artifact_uid: row.artifact_uid,
        revision_id: row.revision_id,
        artifact_id: row.artifact_id,
        artifact_type: row.artifact_type,
        source_system: row.source_system,
        source_id: row.source_id,
        source_url: row.source_url,
        source_ts: iso(row.source_ts),
        title: row.title,
        author: row.author,
        participants: row.participants,
        content_hash: row.content_hash,
        token_count: row.token_count,
        is_chunked: row.is_chunked,
        chunk_count: row.chunk_count,
        sensitivity: row.sensitivity,
        visibility_scope: row.visibility_scope,
        retention_policy: row.retention_policy,
        is_latest: row.is_latest,
        ingested_at: iso(row.ingested_at),
        content: row.content,
        chunks: row.chunks,
      });
    }
    after = rows[rows.length - 1]!;
    options.onProgress?.(counts);
  }

  for (let after = ''; ; ) {
    const rows = await eventsPage(sql, after, PAGE);
    if (rows.length === 0) break;
    for (const row of rows) {
      await emit('event', {
        event_id: row.event_id,
        artifact_uid: row.artifact_uid,
        revision_id: row.revision_id,
        category: row.category,
        event_time: iso(row.event_time),
        narrative: row.narrative,
        subject: row.subject,
        actors: row.actors,
        confidence: row.confidence,
        extraction_run_id: row.extraction_run_id,
        created_at: iso(row.created_at),
        evidence: row.evidence.map((piece) => ({ ...piece, created_at: iso(piece.created_at) })),
      });
    }
    after = rows[rows.length - 1]!.event_id;
    options.onProgress?.(counts);
  }

  for (let after = ''; ; ) {
    const rows = await jobsPage(sql, after, PAGE);
    if (rows.length === 0) break;
    for (const row of rows) {
      await emit('job', {
        job_id: row.job_id,
        job_type: row.job_type,
        artifact_uid: row.artifact_uid,
        revision_id: row.revision_id,
        status: row.status,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        next_run_at: iso(row.next_run_at),
        locked_at: iso(row.locked_at),
        locked_by: row.locked_by,
        last_error_code: row.last_error_code,
        last_error_message: row.last_error_message,
        created_at: iso(row.created_at),
        updated_at: iso(row.updated_at),
      });
    }
    after = rows[rows.length - 1]!.job_id;
    options.onProgress?.(counts);
  }
  return counts;
}

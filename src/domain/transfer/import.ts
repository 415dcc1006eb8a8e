/**
 * `memory import FILE`: the records of an export (lines.ts), written into an empty or a
 * populated store.
 *
 * - Every line is validated first (a pass over the whole file); one bad line, and nothing is
 *   written: the error names the line and the field.
 * - Each record is written on its own: a revision with its text and chunks in one transaction, an
 *   event with its evidence in one, a batch of memories or turns in one statement. Vectors are
 *   computed and written a batch of records at a time. Records already
 *   stored (same id) are left as they are, so importing twice is importing once.
 * - Embeddings are computed again with the configured embedder and written to the index after
 *   the record's rows; if the index write fails, the rows are removed again. Should the process
 *   die in between, the row is there without its vector, which `memory reindex --check` reports
 *   and `--repair` fixes.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Embedder, EmbeddingSpace } from '../../providers/embedder.js';
import type { Sql } from '../../store/connect.js';
import type { MemoryRow } from '../../store/memories.js';
import {
  deleteImportedMemories,
  deleteImportedTurns,
  type ExportedRevision,
  importEvent,
  importJob,
  importMemories,
  importRevision,
  importTurns,
  undoImportedRevision,
} from '../../store/transfer.js';
import type { TurnRow } from '../../store/turns.js';
import { embeddableText } from '../../text/embeddable.js';
import type { CollectionName, VectorIndex, VectorRecord } from '../../vectors/index.js';
import { artifactVectorRecords } from '../artifact-records.js';
import { turnVectorRecord } from '../history.js';
import { memoryVectorRecord } from '../memories.js';
import { LineError, type ParsedLine, parseHeader, parseLine, type RecordType } from './lines.js';

export interface ImportDeps {
  sql: Sql;
  vectors: VectorIndex;
  embedder: Embedder;
}

export interface ImportReport {
  /** Records in the file, by type. */
  read: Record<RecordType, number>;
  /** Records written (the rest were already stored). */
  written: Record<RecordType, number>;
  dryRun: boolean;
}

const BATCH = 64;

async function* lines(path: string): AsyncGenerator<{ text: string; line: number }> {
  const reader = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  for await (const text of reader) {
    line++;
    yield { text, line };
  }
}

async function* records(path: string): AsyncGenerator<ParsedLine & { line: number }> {
  let sawHeader = false;
  for await (const { text, line } of lines(path)) {
    if (!sawHeader) {
      parseHeader(text);
      sawHeader = true;
      continue;
    }
    if (text.trim() === '') continue;
    yield { ...parseLine(text, line), line };
  }
  if (!sawHeader) throw new LineError(1, '(line)', 'the file is empty: expected the export header');
}

/** Validates every line (throws the first `LineError`), then, unless `dryRun`, imports. */
export async function importFile(
  deps: ImportDeps,
  path: string,
  options: { dryRun?: boolean; onProgress?: (report: ImportReport) => void } = {},
): Promise<ImportReport> {
  const empty = () => ({ memory: 0, turn: 0, revision: 0, event: 0, job: 0 });
  const report: ImportReport = { read: empty(), written: empty(), dryRun: options.dryRun === true };
  for await (const record of records(path)) report.read[record.type]++;
  if (options.dryRun) return report;

  let memories: MemoryRow[] = [];
  let turns: TurnRow[] = [];
  let revisions: ExportedRevision[] = [];
  const flush = async () => {
    report.written.memory += await writeMemories(deps, memories);
    report.written.turn += await writeTurns(deps, turns);
    report.written.revision += await writeRevisions(deps, revisions);
    memories = [];
    turns = [];
    revisions = [];
    options.onProgress?.(report);
  };
  let seen = 0;
  for await (const record of records(path)) {
    if (record.type === 'memory') {
      const { type: _type, memory_type, ...row } = record.value;
      memories.push({ ...row, type: memory_type });
      if (memories.length >= BATCH) await flush();
      continue;
    }
    if (record.type === 'turn') {
      const { type: _type, ...row } = record.value;
      turns.push({ ...row, turn_id: `${row.conversation_id}_turn_${row.turn_index}` });
      if (turns.length >= BATCH) await flush();
      continue;
    }
    if (record.type === 'revision') {
      const { type: _type, ...revision } = record.value;
      revisions.push(revision);
      // A revision of an artifact already in the batch waits for the next one: each batch
      // indexes at most one latest revision per artifact.
      if (
        revisions.length >= BATCH ||
        revisions.some((r) => r !== revision && r.artifact_uid === revision.artifact_uid)
      ) {
        revisions.pop();
        await flush();
        revisions.push(revision);
      }
      continue;
    }
    if (memories.length > 0 || turns.length > 0 || revisions.length > 0) await flush();
    if (record.type === 'event') {
      const { type: _type, ...event } = record.value;
      if (await importEvent(deps.sql, event)) report.written.event++;
    } else {
      const { type: _type, ...job } = record.value;
      if (await importJob(deps.sql, job)) report.written.job++;
    }
    if (++seen % 100 === 0) options.onProgress?.(report);
  }
  await flush();
  return report;
}

/**
 * Rows of one kind inserted where absent (their ids come back), then the fresh ones embedded and
 * indexed together; if that fails, the rows inserted here are removed again.
 */
async function writeIndexed<Row extends { content: string }>(
  deps: ImportDeps,
  rows: readonly Row[],
  kind: {
    insert(sql: Sql, rows: readonly Row[]): Promise<Set<string>>;
    remove(sql: Sql, ids: string[]): Promise<void>;
    idOf(row: Row): string;
    collection: CollectionName;
    record(row: Row, embedding: number[], space: EmbeddingSpace): VectorRecord;
  },
): Promise<number> {
  const inserted = await kind.insert(deps.sql, rows);
  const fresh = rows.filter((row) => inserted.has(kind.idOf(row)));
  if (fresh.length === 0) return 0;
  try {
    const vectors = await deps.embedder.embed(
      fresh.map((row) => embeddableText(row.content)),
      'document',
    );
    await deps.vectors.upsert(
      kind.collection,
      fresh.map((row, i) => kind.record(row, vectors[i]!, deps.embedder.space)),
    );
  } catch (error) {
    await kind.remove(deps.sql, [...inserted]);
    throw error;
  }
  return fresh.length;
}

const writeMemories = (deps: ImportDeps, rows: readonly MemoryRow[]) =>
  writeIndexed(deps, rows, {
    insert: importMemories,
    remove: deleteImportedMemories,
    idOf: (row) => row.memory_id,
    collection: 'memory',
    record: memoryVectorRecord,
  });

const writeTurns = (deps: ImportDeps, rows: readonly TurnRow[]) =>
  writeIndexed<TurnRow>(deps, rows, {
    insert: importTurns,
    remove: deleteImportedTurns,
    idOf: (row) => row.turn_id,
    collection: 'history',
    record: turnVectorRecord,
  });

/**
 * Revisions one transaction each (importRevision), then the latest ones embedded and indexed
 * together: one embedding call and one index write per batch instead of per revision. If the
 * index write fails, every revision of the batch inserted here is removed again.
 */
async function writeRevisions(deps: ImportDeps, revisions: readonly ExportedRevision[]): Promise<number> {
  const inserted: Array<{ revision: ExportedRevision; previousLatest: string | undefined }> = [];
  try {
    for (const revision of revisions) {
      const text = (chunk: { start_char: number; end_char: number }) =>
        revision.content.slice(chunk.start_char, chunk.end_char);
      const result = await importRevision(deps.sql, revision, text);
      if (result.inserted) inserted.push({ revision, previousLatest: result.previousLatest });
    }
    const latest = inserted.filter(({ revision }) => revision.is_latest);
    const pieces = latest.map(({ revision }) =>
      revision.chunks.map((chunk) => ({
        ...chunk,
        text: revision.content.slice(chunk.start_char, chunk.end_char),
      })),
    );
    const embeddings = await deps.embedder.embed(
      pieces.flat().map((chunk) => chunk.text),
      'document',
    );
    const artifacts: VectorRecord[] = [];
    const chunkRecords: VectorRecord[] = [];
    let at = 0;
    latest.forEach(({ revision }, i) => {
      const chunks = pieces[i]!;
      const records = artifactVectorRecords({
        revision,
        content: revision.content,
        chunks,
        embeddings: embeddings.slice(at, at + chunks.length),
        space: deps.embedder.space,
        ingestedAt: revision.ingested_at,
      });
      at += chunks.length;
      artifacts.push(records.artifactRecord);
      chunkRecords.push(...records.chunkRecords);
    });
    await deps.vectors.upsert('artifact_chunks', chunkRecords);
    await deps.vectors.upsert('artifacts', artifacts);
    for (const { revision, previousLatest } of latest) {
      if (previousLatest === undefined) continue;
      await deps.vectors.delete('artifact_chunks', {
        filter: { artifact_id: revision.artifact_id, revision_id: { $ne: revision.revision_id } },
      });
    }
  } catch (error) {
    for (const { revision, previousLatest } of inserted.reverse()) {
      await undoImportedRevision(deps.sql, revision, previousLatest);
    }
    throw error;
  }
  return inserted.length;
}

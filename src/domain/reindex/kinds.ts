/**
 * What the vector index holds, one kind at a time. A kind knows its collections, how to rebuild
 * them from its source in resumable batches, and how to compare the index with the source
 * (orphans, missing records, records of another embedding space). `memory reindex`, its
 * `--check` and `--repair`, and the orphan sweep are the same few loops over these kinds.
 *
 * Every kind is rebuilt from Postgres: latest revisions with their text and chunks, memories,
 * conversation turns.
 */
import { type Embedder, type EmbeddingSpace, embeddingMetadata } from '../../providers/embedder.js';
import type { Sql } from '../../store/connect.js';
import {
  type IndexableRevision,
  latestRevisionIdsByArtifactId,
  latestRevisionIdsByChunkId,
  latestRevisionsAfter,
  latestRevisionsOf,
  memoriesAfter,
  turnsAfter,
} from '../../store/index-sources.js';
import { type MemoryRow, memoriesById } from '../../store/memories.js';
import { type TurnRow, turnsById } from '../../store/turns.js';
import { embeddableText } from '../../text/embeddable.js';
import type { CollectionName, StoredVector, VectorIndex, VectorRecord } from '../../vectors/index.js';
import { artifactVectorRecords } from '../artifact-records.js';
import { turnVectorRecord } from '../history.js';
import { memoryVectorRecord } from '../memories.js';

export const KIND_NAMES = ['memories', 'history', 'artifacts'] as const;
export type KindName = (typeof KIND_NAMES)[number];

/** What a kind runs against. */
export interface KindContext {
  sql: Sql;
  embedder: Embedder;
  /** The live index (the source of kinds kept in the index alone). */
  source: VectorIndex;
}

/** What a comparison of the index with its source found, by collection. */
export interface Finding {
  collection: CollectionName;
  /** Records with no source row (ids). */
  orphans: string[];
  /** Source items without their records, or whose records are of an older revision (item keys). */
  missing: string[];
  /** Records of another embedding space (ids). */
  otherSpace: string[];
  /** Records scanned. */
  scanned: number;
}

export interface IndexKind {
  readonly name: KindName;
  readonly collections: readonly CollectionName[];
  /**
   * Writes the records of up to `limit` source items after `cursor` ('' = from the start) into
   * `target`; answers the cursor to resume from and how many items were written, or undefined
   * when nothing was left.
   */
  rebuildBatch(
    context: KindContext,
    target: VectorIndex,
    cursor: string,
    limit: number,
  ): Promise<{ cursor: string; items: number } | undefined>;
  /**
   * Compares `index` with the source. `olderThan`: only records written before it count as
   * orphans (a record of an ingest in flight is not one yet).
   */
  check(
    context: KindContext,
    index: VectorIndex,
    options?: { olderThan?: Date; orphansOnly?: boolean },
  ): Promise<Finding[]>;
  /** Writes again the records of these items (keys from `missing` or ids from `otherSpace`). */
  rewrite(context: KindContext, index: VectorIndex, keys: readonly string[]): Promise<number>;
}

const PAGE = 500;

function sameSpace(record: StoredVector, space: EmbeddingSpace): boolean {
  const expected = embeddingMetadata(space);
  return (
    record.metadata.embedding_provider === expected.embedding_provider &&
    record.metadata.embedding_model === expected.embedding_model &&
    record.metadata.embedding_dimensions === expected.embedding_dimensions
  );
}

function writtenBefore(record: StoredVector, olderThan: Date | undefined): boolean {
  if (olderThan === undefined) return true;
  const at = Date.parse(String(record.metadata.ingested_at ?? record.metadata.ts ?? ''));
  // A record without a time cannot be young: count it.
  return Number.isNaN(at) || at < olderThan.getTime();
}

/** Every record of a collection, a page at a time (ids by offset, then their metadata). */
async function* scan(index: VectorIndex, name: CollectionName): AsyncGenerator<StoredVector[]> {
  for (let offset = 0; ; offset += PAGE) {
    const ids = await index.listIds(name, { limit: PAGE, offset });
    if (ids.length === 0) return;
    yield await index.get(name, { ids, includeDocuments: false });
    if (ids.length < PAGE) return;
  }
}

async function writeRevisions(
  embedder: Embedder,
  index: VectorIndex,
  items: readonly IndexableRevision[],
): Promise<void> {
  if (items.length === 0) return;
  const texts = items.flatMap((item) => item.chunks.map((chunk) => chunk.text));
  const vectors = await embedder.embed(texts, 'document');
  const artifacts: VectorRecord[] = [];
  const chunks: VectorRecord[] = [];
  let at = 0;
  for (const item of items) {
    const embeddings = vectors.slice(at, at + item.chunks.length);
    at += item.chunks.length;
    const { artifactRecord, chunkRecords } = artifactVectorRecords({
      revision: item.revision,
      content: item.content,
      chunks: item.chunks,
      embeddings,
      space: embedder.space,
      ingestedAt: item.revision.ingested_at,
    });
    artifacts.push(artifactRecord);
    chunks.push(...chunkRecords);
  }
  // Chunks first: an artifact record is what marks an artifact as indexed.
  await index.upsert('artifact_chunks', chunks);
  await index.upsert('artifacts', artifacts);
}

export const artifactsKind: IndexKind = {
  name: 'artifacts',
  collections: ['artifacts', 'artifact_chunks'],

  async rebuildBatch(context, target, cursor, limit) {
    const items = await latestRevisionsAfter(context.sql, cursor, limit);
    if (items.length === 0) return undefined;
    await writeRevisions(context.embedder, target, items);
    return { cursor: items[items.length - 1]!.revision.artifact_uid, items: items.length };
  },

  async check(context, index, options = {}) {
    const findings: Finding[] = [];
    // Orphans and records of another space, collection by collection.
    for (const name of ['artifacts', 'artifact_chunks'] as const) {
      const finding: Finding = { collection: name, orphans: [], missing: [], otherSpace: [], scanned: 0 };
      for await (const page of scan(index, name)) {
        finding.scanned += page.length;
        const ids = page.map((record) => record.id);
        const latest =
          name === 'artifacts'
            ? await latestRevisionIdsByArtifactId(context.sql, ids)
            : await latestRevisionIdsByChunkId(context.sql, ids);
        for (const record of page) {
          const revision = latest.get(record.id);
          if (revision === undefined) {
            if (writtenBefore(record, options.olderThan)) finding.orphans.push(record.id);
          } else if (!sameSpace(record, index.space)) {
            finding.otherSpace.push(String(record.metadata.artifact_id ?? record.id));
          }
        }
      }
      findings.push(finding);
    }
    if (options.orphansOnly) return findings;
    // Source rows whose records are absent or of an older revision.
    const [artifacts, chunks] = findings as [Finding, Finding];
    for (let cursor = ''; ; ) {
      const items = await latestRevisionsAfter(context.sql, cursor, PAGE);
      if (items.length === 0) break;
      cursor = items[items.length - 1]!.revision.artifact_uid;
      const records = await index.get('artifacts', {
        ids: items.map((item) => item.revision.artifact_id),
        includeDocuments: false,
      });
      const byId = new Map(records.map((record) => [record.id, record]));
      const chunkIds = items.flatMap((item) =>
        item.revision.is_chunked ? item.chunks.map((c) => c.chunk_id) : [],
      );
      const chunkRecords = new Map<string, StoredVector>();
      for (let start = 0; start < chunkIds.length; start += PAGE) {
        const page = await index.get('artifact_chunks', {
          ids: chunkIds.slice(start, start + PAGE),
          includeDocuments: false,
        });
        for (const record of page) chunkRecords.set(record.id, record);
      }
      for (const { revision, chunks: pieces } of items) {
        const record = byId.get(revision.artifact_id);
        if (record?.metadata.revision_id !== revision.revision_id)
          artifacts.missing.push(revision.artifact_id);
        if (
          revision.is_chunked &&
          pieces.some(
            (piece) => chunkRecords.get(piece.chunk_id)?.metadata.revision_id !== revision.revision_id,
          )
        ) {
          chunks.missing.push(revision.artifact_id);
        }
      }
    }
    return findings;
  },

  async rewrite(context, index, keys) {
    const unique = [...new Set(keys)];
    let written = 0;
    for (let start = 0; start < unique.length; start += 100) {
      const items = await latestRevisionsOf(context.sql, unique.slice(start, start + 100));
      await writeRevisions(context.embedder, index, items);
      written += items.length;
    }
    return written;
  },
};

/**
 * A kind whose rows are one record each (memories, conversation turns): rebuilt and checked
 * from its Postgres table, read in keyset order.
 */
function rowKind<Row extends { content: string; ts: Date }>(spec: {
  name: KindName;
  collection: CollectionName;
  after(sql: Sql, cursor: string, limit: number): Promise<Row[]>;
  byId(sql: Sql, ids: readonly string[]): Promise<Row[]>;
  id(row: Row): string;
  record(row: Row, embedding: number[], space: EmbeddingSpace): VectorRecord;
}): IndexKind {
  const { collection } = spec;
  async function write(embedder: Embedder, target: VectorIndex, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    const vectors = await embedder.embed(
      rows.map((row) => embeddableText(row.content)),
      'document',
    );
    await target.upsert(
      collection,
      rows.map((row, i) => spec.record(row, vectors[i]!, embedder.space)),
    );
  }
  return {
    name: spec.name,
    collections: [collection],
    async rebuildBatch(context, target, cursor, limit) {
      const rows = await spec.after(context.sql, cursor, limit);
      if (rows.length === 0) return undefined;
      await write(context.embedder, target, rows);
      return { cursor: spec.id(rows[rows.length - 1]!), items: rows.length };
    },
    async check(context, index, options = {}) {
      const finding: Finding = { collection, orphans: [], missing: [], otherSpace: [], scanned: 0 };
      for await (const page of scan(index, collection)) {
        finding.scanned += page.length;
        const rows = await spec.byId(
          context.sql,
          page.map((r) => r.id),
        );
        const known = new Set(rows.map(spec.id));
        for (const record of page) {
          if (!known.has(record.id)) {
            if (writtenBefore(record, options.olderThan)) finding.orphans.push(record.id);
          } else if (!sameSpace(record, index.space)) finding.otherSpace.push(record.id);
        }
      }
      if (options.orphansOnly) return [finding];
      for (let cursor = ''; ; ) {
        const rows = await spec.after(context.sql, cursor, PAGE);
        if (rows.length === 0) break;
        cursor = spec.id(rows[rows.length - 1]!);
        const present = new Set(
          (await index.get(collection, { ids: rows.map(spec.id), includeDocuments: false })).map((r) => r.id),
        );
        for (const row of rows) if (!present.has(spec.id(row))) finding.missing.push(spec.id(row));
      }
      return [finding];
    },
    async rewrite(context, index, keys) {
      let written = 0;
      const unique = [...new Set(keys)];
      for (let start = 0; start < unique.length; start += PAGE) {
        const rows = await spec.byId(context.sql, unique.slice(start, start + PAGE));
        await write(context.embedder, index, rows);
        written += rows.length;
      }
      return written;
    },
  };
}

export const memoriesKind = rowKind<MemoryRow>({
  name: 'memories',
  collection: 'memory',
  after: memoriesAfter,
  byId: (sql, ids) => memoriesById(sql, ids),
  id: (row) => row.memory_id,
  record: memoryVectorRecord,
});

export const historyKind = rowKind<TurnRow>({
  name: 'history',
  collection: 'history',
  after: turnsAfter,
  byId: (sql, ids) => turnsById(sql, ids),
  id: (row) => row.turn_id,
  record: turnVectorRecord,
});

export const KINDS: Readonly<Record<KindName, IndexKind>> = {
  memories: memoriesKind,
  history: historyKind,
  artifacts: artifactsKind,
};

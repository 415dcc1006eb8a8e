/**
 * What the vector index holds, one kind at a time. A kind knows its collections, how to rebuild
 * them from its source in resumable batches, and how to compare the index with the source
 * (orphans, missing records, records of another embedding space). `memory reindex`, its
 * `--check` and `--repair`, and the orphan sweep are the same few loops over these kinds.
 *
 * Artifacts are rebuilt from Postgres (latest revisions with their text and chunks). Memories
 * and conversation turns are still kept in the index alone, so their source is the collection
 * being replaced: their documents are embedded again in the new space.
 */
import { type Embedder, type EmbeddingSpace, embeddingMetadata } from '../../providers/embedder.js';
import type { Sql } from '../../store/connect.js';
import {
  type IndexableRevision,
  latestRevisionIdsByArtifactId,
  latestRevisionIdsByChunkId,
  latestRevisionsAfter,
  latestRevisionsOf,
} from '../../store/index-sources.js';
import { embeddableText } from '../../text/embeddable.js';
import type { CollectionName, StoredVector, VectorIndex, VectorRecord } from '../../vectors/index.js';
import { artifactVectorRecords } from '../artifact-records.js';

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
 * A kind kept in the index alone (memories, conversation turns): rebuilt and repaired by
 * embedding each record's own document again. It has no orphans: there is no row to miss.
 */
function indexOnlyKind(name: KindName, collection: CollectionName): IndexKind {
  async function copy(
    embedder: Embedder,
    target: VectorIndex,
    records: readonly StoredVector[],
  ): Promise<void> {
    if (records.length === 0) return;
    const vectors = await embedder.embed(
      records.map((record) => embeddableText(record.document ?? '')),
      'document',
    );
    await target.upsert(
      collection,
      records.map((record, i) => ({
        id: record.id,
        embedding: vectors[i]!,
        document: record.document ?? '',
        metadata: { ...record.metadata, ...embeddingMetadata(embedder.space) },
      })),
    );
  }
  return {
    name,
    collections: [collection],
    async rebuildBatch(context, target, cursor, limit) {
      const offset = cursor === '' ? 0 : Number(cursor);
      const ids = await context.source.listIds(collection, { limit, offset });
      if (ids.length === 0) return undefined;
      await copy(context.embedder, target, await context.source.get(collection, { ids }));
      return { cursor: String(offset + ids.length), items: ids.length };
    },
    async check(context, index) {
      const finding: Finding = { collection, orphans: [], missing: [], otherSpace: [], scanned: 0 };
      const comparing = index !== context.source;
      for await (const page of scan(index, collection)) {
        finding.scanned += page.length;
        for (const record of page) if (!sameSpace(record, index.space)) finding.otherSpace.push(record.id);
      }
      // A new generation is compared with the live one it copies: what was written there since.
      if (comparing) {
        for await (const page of scan(context.source, collection)) {
          const present = new Set(
            (await index.get(collection, { ids: page.map((r) => r.id), includeDocuments: false })).map(
              (r) => r.id,
            ),
          );
          for (const record of page) if (!present.has(record.id)) finding.missing.push(record.id);
        }
      }
      return [finding];
    },
    async rewrite(context, index, keys) {
      let written = 0;
      for (let start = 0; start < keys.length; start += PAGE) {
        const ids = keys.slice(start, start + PAGE);
        const fromSource = await context.source.get(collection, { ids });
        const found = new Set(fromSource.map((r) => r.id));
        // Records of another space in the index itself are re-embedded from their own document.
        const own =
          found.size === ids.length
            ? []
            : await index.get(collection, { ids: ids.filter((id) => !found.has(id)) });
        await copy(context.embedder, index, [...fromSource, ...own]);
        written += fromSource.length + own.length;
      }
      return written;
    },
  };
}

export const memoriesKind = indexOnlyKind('memories', 'memory');
export const historyKind = indexOnlyKind('history', 'history');

export const KINDS: Readonly<Record<KindName, IndexKind>> = {
  memories: memoriesKind,
  history: historyKind,
  artifacts: artifactsKind,
};

/**
 * The vector index on a Chroma server (the scaled-out deployment). Every collection is cosine,
 * carries no embedding function (we always send vectors) and records the embedding space it was
 * built with; opening it with another space is refused, because vectors of two spaces cannot be
 * compared.
 */
import { ChromaClient, ChromaConnectionError, type Collection, type Metadata, type Where } from 'chromadb';
import { AppError, describeError, networkErrorCode } from '../errors.js';
import { type EmbeddingSpace, embeddingMetadata } from '../providers/embedder.js';
import {
  COLLECTIONS,
  type CollectionName,
  filterEntries,
  type Generations,
  physicalName,
  type VectorFilter,
  type VectorIndex,
  type VectorMetadata,
} from './index.js';

/** Our filter as Chroma's `where`: none, one condition, or `$and` of several. */
export function chromaWhere(filter: VectorFilter | undefined): Where | undefined {
  const conditions: Where[] = [];
  for (const [field, condition] of filterEntries(filter)) {
    if (typeof condition !== 'object') conditions.push({ [field]: condition });
    else if ('$ne' in condition) conditions.push({ [field]: { $ne: condition.$ne } });
    else {
      if (condition.$gte !== undefined) conditions.push({ [field]: { $gte: condition.$gte } });
      if (condition.$lte !== undefined) conditions.push({ [field]: { $lte: condition.$lte } });
    }
  }
  if (conditions.length === 0) return undefined;
  if (conditions.length === 1) return conditions[0];
  return { $and: conditions };
}

/** Maps client errors to our codes: an unreachable server is transient, the rest is not. */
export function chromaError(error: unknown, action: string, url: string): AppError {
  if (error instanceof AppError) return error;
  if (
    error instanceof ChromaConnectionError ||
    (error instanceof TypeError && /fetch failed/.test(error.message))
  ) {
    // The client's own message is a paragraph about browsers and CORS; say what matters.
    const reason = networkErrorCode(error) !== undefined ? describeError(error) : 'connection failed';
    return new AppError(
      'CHROMA_CONNECTION_ERROR',
      `Chroma is not reachable at ${url} (${reason}) while trying to ${action}`,
      {
        cause: error,
        transient: true,
      },
    );
  }
  return new AppError('CHROMA_ERROR', `Chroma failed to ${action}: ${describeError(error)}`, {
    cause: error,
  });
}

/**
 * A read of a collection racing Chroma's first writes of its vector segment to disk can fail with
 * "Error creating hnsw segment reader: Nothing found on disk" (the collection is fresh, its
 * segment not yet persisted; seen under concurrent ingest and search). The same read a moment
 * later succeeds, so reads retry that error, and only that one, a few times with growing pauses
 * (at most about 1.6 s in all); any other error, or the last attempt's, is thrown as it is.
 */
const FRESH_SEGMENT = /Nothing found on disk/;
export const FRESH_SEGMENT_RETRY_DELAYS_MS: readonly number[] = [25, 50, 100, 200, 400, 800];

export async function retryFreshSegment<T>(
  read: () => Promise<T>,
  delaysMs: readonly number[] = FRESH_SEGMENT_RETRY_DELAYS_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      const delay = delaysMs[attempt];
      if (delay === undefined || !(error instanceof Error) || !FRESH_SEGMENT.test(error.message)) throw error;
      await new Promise((resolveDelay) => setTimeout(resolveDelay, delay));
    }
  }
}

export function createChromaIndex(options: {
  url: string;
  space: EmbeddingSpace;
  generations?: Generations;
}): VectorIndex {
  const generations = options.generations ?? {};
  const physical = (name: CollectionName) => physicalName(name, generations[name]);
  const parsed = new URL(options.url);
  const client = new ChromaClient({
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)),
    ssl: parsed.protocol === 'https:',
  });
  const collections = new Map<CollectionName, Promise<Collection>>();
  const where = (filter: VectorFilter | undefined): { where?: Where } => {
    const translated = chromaWhere(filter);
    return translated === undefined ? {} : { where: translated };
  };
  let maxBatch: Promise<number> | undefined;

  async function openCollection(name: CollectionName): Promise<Collection> {
    const expected: VectorMetadata = embeddingMetadata(options.space);
    const collection = await client.getOrCreateCollection({
      name: physical(name),
      embeddingFunction: null,
      configuration: { hnsw: { space: 'cosine' } },
      metadata: expected,
    });
    const actual = collection.metadata ?? {};
    const differs = Object.keys(expected).filter((key) => actual[key] !== expected[key]);
    if (differs.length > 0) {
      const was = `${String(actual.embedding_provider)}/${String(actual.embedding_model)} (${String(actual.embedding_dimensions)} dimensions)`;
      const now = `${options.space.provider}/${options.space.model} (${options.space.dimensions} dimensions)`;
      throw new AppError(
        'EMBEDDING_SPACE_MISMATCH',
        `Chroma collection "${physical(name)}" holds vectors of ${was} but this server embeds with ${now}. ` +
          'Vectors of two embedding spaces cannot be mixed. Either restore the previous embedding settings ' +
          '(EMBEDDING_PROVIDER, OPENAI_EMBED_MODEL, OPENAI_EMBED_DIMS, OPENAI_API_KEY/OPENAI_BASE_URL), or rebuild ' +
          'the index in the new space with `memory reindex` (run with the new settings; it re-embeds from ' +
          'Postgres beside the live index and switches when done).',
        { details: { collection: name, stored: actual, configured: expected } },
      );
    }
    return collection;
  }

  function collection(name: CollectionName): Promise<Collection> {
    let pending = collections.get(name);
    if (pending === undefined) {
      pending = openCollection(name).catch((error: unknown) => {
        collections.delete(name);
        throw chromaError(error, `open collection "${name}"`, options.url);
      });
      collections.set(name, pending);
    }
    return pending;
  }

  async function batchSize(): Promise<number> {
    maxBatch ??= client.getMaxBatchSize().catch((error: unknown) => {
      maxBatch = undefined;
      throw error;
    });
    return maxBatch;
  }

  return {
    description: `chroma at ${options.url}`,
    space: options.space,
    generations,
    at(next, space) {
      return createChromaIndex({ url: options.url, space, generations: next });
    },
    async storedSpace(name) {
      let metadata: Metadata | undefined;
      try {
        metadata = (await client.getCollection({ name: physical(name) })).metadata;
      } catch (error) {
        if (/not found|does not exist|could not be found/i.test(describeError(error))) return undefined;
        throw chromaError(error, `read collection "${physical(name)}"`, options.url);
      }
      const provider = metadata?.embedding_provider;
      const model = metadata?.embedding_model;
      const dimensions = metadata?.embedding_dimensions;
      if (
        (provider !== 'openai' && provider !== 'local') ||
        typeof model !== 'string' ||
        typeof dimensions !== 'number'
      ) {
        return undefined;
      }
      return { provider, model, dimensions };
    },
    async drop(name) {
      collections.delete(name);
      try {
        await client.deleteCollection({ name: physical(name) });
      } catch (error) {
        if (/not found|does not exist|could not be found/i.test(describeError(error))) return;
        throw chromaError(error, `drop collection "${physical(name)}"`, options.url);
      }
    },
    async heartbeat() {
      try {
        await client.heartbeat();
      } catch (error) {
        throw chromaError(error, 'answer its heartbeat', options.url);
      }
    },
    async open() {
      await Promise.all(COLLECTIONS.map((name) => collection(name)));
    },
    async upsert(name, records) {
      if (records.length === 0) return;
      try {
        const target = await collection(name);
        const size = await batchSize();
        for (let start = 0; start < records.length; start += size) {
          const batch = records.slice(start, start + size);
          await target.upsert({
            ids: batch.map((r) => r.id),
            embeddings: batch.map((r) => r.embedding),
            documents: batch.map((r) => r.document),
            metadatas: batch.map((r) => r.metadata as Metadata),
          });
        }
      } catch (error) {
        throw chromaError(error, `write to "${name}"`, options.url);
      }
    },
    async get(name, query) {
      try {
        const target = await collection(name);
        const include: Array<'documents' | 'metadatas' | 'embeddings'> = ['metadatas'];
        if (query.includeDocuments !== false) include.push('documents');
        if (query.includeEmbeddings) include.push('embeddings');
        const result = await retryFreshSegment(() =>
          target.get({
            ...(query.ids ? { ids: query.ids } : {}),
            ...where(query.filter),
            ...(query.limit !== undefined ? { limit: query.limit } : {}),
            include,
          }),
        );
        return result.ids.map((id, i) => ({
          id,
          document: result.documents[i] ?? undefined,
          metadata: (result.metadatas[i] ?? {}) as VectorMetadata,
          ...(query.includeEmbeddings ? { embedding: result.embeddings[i] } : {}),
        }));
      } catch (error) {
        throw chromaError(error, `read from "${name}"`, options.url);
      }
    },
    async query(name, embedding, query) {
      try {
        const target = await collection(name);
        const result = await retryFreshSegment(() =>
          target.query({
            queryEmbeddings: [embedding],
            nResults: query.limit,
            ...where(query.filter),
            include: ['distances'],
          }),
        );
        const ids = result.ids[0] ?? [];
        return ids.map((id, i) => ({ id, distance: result.distances[0]?.[i] ?? 2 }));
      } catch (error) {
        throw chromaError(error, `search "${name}"`, options.url);
      }
    },
    async delete(name, query) {
      if (query.ids !== undefined && query.ids.length === 0) return;
      try {
        const target = await collection(name);
        await target.delete({
          ...(query.ids ? { ids: query.ids } : {}),
          ...where(query.filter),
        });
      } catch (error) {
        throw chromaError(error, `delete from "${name}"`, options.url);
      }
    },
    async listIds(name, query = {}) {
      try {
        const target = await collection(name);
        const result = await retryFreshSegment(() =>
          target.get({
            ...where(query.filter),
            ...(query.limit !== undefined ? { limit: query.limit } : {}),
            ...(query.offset !== undefined ? { offset: query.offset } : {}),
            include: [],
          }),
        );
        return result.ids;
      } catch (error) {
        throw chromaError(error, `list the ids of "${name}"`, options.url);
      }
    },
    async count(name) {
      try {
        const target = await collection(name);
        return await retryFreshSegment(() => target.count());
      } catch (error) {
        throw chromaError(error, `count "${name}"`, options.url);
      }
    },
  };
}

/**
 * The composition root of the serving process: a Postgres pool (migrated), the embedder and the
 * vector index, as the `Services` every domain function runs against.
 */
import type { Config } from '../config.js';
import { copyIndexOnlyRecords } from '../domain/index-copy.js';
import { activeGenerations } from '../domain/reindex/rebuild.js';
import type { Services } from '../domain/services.js';
import { chromaUrl } from '../embedded/runtime.js';
import type { Embedder, EmbeddingSpace } from '../providers/embedder.js';
import { createEmbedder } from '../providers/embedders.js';
import {
  createLocalEmbedder,
  LOCAL_EMBEDDING_DIMENSIONS,
  LOCAL_EMBEDDING_MODEL,
} from '../providers/local-embedder.js';
import { connect, type Sql } from '../store/connect.js';
import { migrate } from '../store/migrate.js';
import { listGenerations } from '../store/vector-generations.js';
import { createChromaIndex } from '../vectors/chroma.js';

/** Where the database and the vector index are. */
export interface ServiceUrls {
  databaseUrl: string;
  chromaUrl: string;
  /** Pool size (1 for the embedded database, which serves one session). */
  poolSize?: number;
}

/** The configured external services, or undefined when either must be embedded. */
export function externalServiceUrls(config: Config): ServiceUrls | undefined {
  if (config.databaseUrl === undefined || config.chroma.host === undefined) return undefined;
  return { databaseUrl: config.databaseUrl, chromaUrl: chromaUrl(config.chroma.host, config.chroma.port) };
}

/** Connects to Postgres and the vector index, migrates, and checks the index's embedding space. */
export async function createServices(
  config: Config,
  urls: ServiceUrls,
  jobQueued?: () => void,
): Promise<Services & { close(): Promise<void> }> {
  const sql: Sql = connect(urls.databaseUrl, {
    max: urls.poolSize ?? 10,
    applicationName: 'memory-serve',
  });
  try {
    await migrate(sql);
    const embedder = createEmbedder(config);
    // The collections a reindex made active (generation 0, the plain names, before any).
    const generations = activeGenerations(await listGenerations(sql));
    const vectors = createChromaIndex({ url: urls.chromaUrl, space: embedder.space, generations });
    await vectors.open();
    // Stores written before sql/006 held memories and turns in the index alone.
    await copyIndexOnlyRecords({ config, sql, vectors, embedder });
    return {
      config,
      sql,
      vectors,
      embedder,
      ...(jobQueued ? { jobQueued } : {}),
      close: () => sql.end({ timeout: 5 }),
    };
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}

/**
 * An embedder of `space` built from this configuration, for a server following a reindex into
 * another space: the local embedder, or the configured OpenAI-compatible endpoint with that model
 * and size. Undefined when the configuration cannot embed in it.
 */
export function embedderFor(config: Config, space: EmbeddingSpace): Embedder | undefined {
  if (space.provider === 'local') {
    return space.model === LOCAL_EMBEDDING_MODEL && space.dimensions === LOCAL_EMBEDDING_DIMENSIONS
      ? createLocalEmbedder()
      : undefined;
  }
  if (config.openai.apiKey === undefined && config.openai.baseUrl === undefined) return undefined;
  return createEmbedder({
    ...config,
    embeddingProvider: 'openai',
    openai: { ...config.openai, embedModel: space.model, embedDims: space.dimensions },
  });
}

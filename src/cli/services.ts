/**
 * The composition root of the serving process: a Postgres pool (migrated), the embedder and the
 * vector index, as the `Services` every domain function runs against.
 */
import type { Config } from '../config.js';
import { copyIndexOnlyRecords } from '../domain/index-copy.js';
import { activeGenerations } from '../domain/reindex/rebuild.js';
import type { Services } from '../domain/services.js';
import { chromaUrl } from '../embedded/runtime.js';
import { taggedLogger } from '../log.js';
import type { Embedder, EmbeddingSpace } from '../providers/embedder.js';
import { createEmbedder } from '../providers/embedders.js';
import {
  createLocalEmbedder,
  LOCAL_EMBEDDING_DIMENSIONS,
  LOCAL_EMBEDDING_MODEL,
} from '../providers/local-embedder.js';
import { Startup } from '../startup.js';
import { connect, type Sql } from '../store/connect.js';
import { migrate } from '../store/migrate.js';
import { listGenerations } from '../store/vector-generations.js';
import type { VectorIndex } from '../vectors/index.js';
import { createPgvectorIndex } from '../vectors/pgvector.js';

/** Where the database and the vector index are. */
export interface ServiceUrls {
  databaseUrl: string;
  /** The Chroma server; undefined keeps the vectors in the database itself (pgvector). */
  chromaUrl?: string | undefined;
  /** Pool size (1 for the embedded database, which serves one session). */
  poolSize?: number | undefined;
}

/** Where the vectors are for this configuration: Chroma when CHROMA_HOST is set, else Postgres. */
export function configuredChromaUrl(config: Config): string | undefined {
  return config.chroma.host === undefined ? undefined : chromaUrl(config.chroma.host, config.chroma.port);
}

/** The configured external database, or undefined when it must be embedded. */
export function externalServiceUrls(config: Config): ServiceUrls | undefined {
  if (config.databaseUrl === undefined) return undefined;
  return { databaseUrl: config.databaseUrl, chromaUrl: configuredChromaUrl(config) };
}

export type ServingServices = Services & {
  /** True when the vector tables were made by this start (pgvector only). */
  readonly vectorsCreated: boolean;
  close(): Promise<void>;
};

/**
 * Connects to Postgres and the vector index, migrates, and checks the index's embedding space,
 * waiting for either while it is unreachable (`startup`, STARTUP_TIMEOUT_SECONDS).
 */
export async function createServices(
  config: Config,
  urls: ServiceUrls,
  jobQueued?: () => void,
  startup: Startup = new Startup(config.startupTimeoutSeconds, taggedLogger('server')),
): Promise<ServingServices> {
  const sql: Sql = connect(urls.databaseUrl, {
    max: urls.poolSize ?? 10,
    applicationName: 'memory-serve',
  });
  try {
    await startup.waitFor('postgres', 'Start PostgreSQL or fix EVENTS_DB_DSN.', () => migrate(sql));
    const embedder = createEmbedder(config);
    // The collections a reindex made active (generation 0, the plain names, before any).
    const generations = activeGenerations(await listGenerations(sql));
    let vectors: VectorIndex;
    let created = () => false;
    if (urls.chromaUrl !== undefined) {
      // Imported only here: the embedded mode never loads the Chroma client.
      const { createChromaIndex } = await import('../vectors/chroma.js');
      vectors = createChromaIndex({ url: urls.chromaUrl, space: embedder.space, generations });
    } else {
      const index = createPgvectorIndex({
        sql,
        space: embedder.space,
        description: urls.poolSize === 1 ? 'pgvector in the embedded PGlite' : 'pgvector in Postgres',
        generations,
      });
      vectors = index;
      created = () => index.created;
    }
    const index = vectors;
    await (urls.chromaUrl !== undefined
      ? startup.waitFor('chroma', 'Start Chroma or fix CHROMA_HOST and CHROMA_PORT.', () => index.open())
      : index.open());
    // Stores written before sql/006 held memories and turns in the index alone.
    await copyIndexOnlyRecords({ config, sql, vectors, embedder });
    return {
      config,
      sql,
      vectors,
      embedder,
      vectorsCreated: created(),
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

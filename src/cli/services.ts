/**
 * The composition root of the serving process: a Postgres pool (migrated), the embedder and the
 * vector index, as the `Services` every domain function runs against.
 */
import type { Config } from '../config.js';
import type { Services } from '../domain/services.js';
import { chromaUrl } from '../embedded/runtime.js';
import { taggedLogger } from '../log.js';
import { createEmbedder } from '../providers/embedders.js';
import { Startup } from '../startup.js';
import { connect, type Sql } from '../store/connect.js';
import { migrate } from '../store/migrate.js';
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

/**
 * Connects to Postgres and the vector index, migrates, and checks the index's embedding space,
 * waiting for either while it is unreachable (`startup`, STARTUP_TIMEOUT_SECONDS).
 */
export async function createServices(
  config: Config,
  urls: ServiceUrls,
  jobQueued?: () => void,
  startup: Startup = new Startup(config.startupTimeoutSeconds, taggedLogger('server')),
): Promise<Services & { close(): Promise<void> }> {
  const sql: Sql = connect(urls.databaseUrl, {
    max: urls.poolSize ?? 10,
    applicationName: 'memory-serve',
  });
  try {
    await startup.waitFor('postgres', 'Start PostgreSQL or fix EVENTS_DB_DSN.', () => migrate(sql));
    const embedder = createEmbedder(config);
    const vectors = createChromaIndex({ url: urls.chromaUrl, space: embedder.space });
    await startup.waitFor('chroma', 'Start Chroma or fix CHROMA_HOST and CHROMA_PORT.', () => vectors.open());
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

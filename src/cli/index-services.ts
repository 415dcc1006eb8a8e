/**
 * What `memory reindex`, `memory export` and `memory import` run against: Postgres and the live
 * vector index, external or embedded. With EVENTS_DB_DSN set it is used as it is (with Chroma when
 * CHROMA_HOST is set, else pgvector in that database); otherwise a running embedded server's
 * database (runtime.json) is used beside it, or, when none runs, the embedded database is started
 * for the duration of the command.
 */
import type { Config } from '../config.js';
import { activeGenerations } from '../domain/reindex/rebuild.js';
import { readRuntime } from '../embedded/runtime.js';
import { startEmbedded } from '../embedded/start.js';
import type { Embedder } from '../providers/embedder.js';
import { createEmbedder } from '../providers/embedders.js';
import { connect, type Sql } from '../store/connect.js';
import { migrate } from '../store/migrate.js';
import { listGenerations } from '../store/vector-generations.js';
import { createChromaIndex } from '../vectors/chroma.js';
import { COLLECTIONS, type VectorIndex } from '../vectors/index.js';
import { createPgvectorIndex } from '../vectors/pgvector.js';
import { externalServiceUrls, type ServiceUrls } from './services.js';

export interface IndexServices {
  config: Config;
  sql: Sql;
  /** The configured embedder (the space a reindex builds in). */
  embedder: Embedder;
  /** The live index: the active collections, in the space they were built with. */
  live: VectorIndex;
  embedded: boolean;
  close(): Promise<void>;
}

export async function openIndexServices(config: Config, applicationName: string): Promise<IndexServices> {
  const stops: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    let urls: ServiceUrls | undefined = externalServiceUrls(config);
    let embedded = false;
    if (urls === undefined) {
      embedded = true;
      const runtime = readRuntime(config);
      if (runtime?.databaseUrl !== undefined) {
        // A running embedded server: its database, as one more session.
        urls = { databaseUrl: runtime.databaseUrl, poolSize: 1 };
      } else {
        const started = await startEmbedded(config);
        stops.push(started.stop);
        urls = { databaseUrl: started.databaseUrl, poolSize: 1 };
      }
    }
    const sql = connect(urls.databaseUrl, { max: urls.poolSize ?? 4, applicationName });
    stops.push(() => sql.end({ timeout: 5 }));
    await migrate(sql);
    const embedder = createEmbedder(config);
    const generations = activeGenerations(await listGenerations(sql));
    const probe: VectorIndex =
      urls.chromaUrl !== undefined
        ? createChromaIndex({ url: urls.chromaUrl, space: embedder.space, generations })
        : createPgvectorIndex({ sql, space: embedder.space, generations });
    // The live collections' own space (they may predate a change of the embedding settings).
    let space = embedder.space;
    for (const name of COLLECTIONS) {
      const stored = await probe.storedSpace(name);
      if (stored !== undefined) {
        space = stored;
        break;
      }
    }
    const live = probe.at(generations, space);
    return { config, sql, embedder, live, embedded, close };
  } catch (error) {
    await close();
    throw error;
  }
}

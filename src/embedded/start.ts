/**
 * The embedded default: with no EVENTS_DB_DSN, `memory serve` brings its own Postgres (PGlite,
 * served on a loopback port by its socket server inside this process, so postgres.js runs the same
 * code as against a real server), with its data under MEMORY_DATA_DIR. Without CHROMA_HOST the
 * vectors live in that database too (pgvector), so the whole server is one process.
 *
 * Data folders from before kept their vectors in an embedded Chroma (`chroma/`); that folder is
 * no longer read: the vectors are rebuilt from Postgres on the first start (cli/serve.ts).
 *
 * One data folder, one server: a lock file names the running process, and a second instance
 * refuses at once instead of corrupting data (PGlite is single-process).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { AppError, describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { openPglite } from './pglite.js';
import { isAlive, type RuntimeInfo, runtimeFile } from './runtime.js';

const logger = taggedLogger('embedded');

export interface EmbeddedServices {
  databaseUrl: string;
  /** Records where the MCP endpoint listens, for `memory check` and for people. */
  announce(mcpUrl: string): void;
  stop(): Promise<void>;
}

/** Takes the data folder's lock or throws naming the process that holds it. */
function acquireLock(dir: string): () => void {
  const path = join(dir, 'serve.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: { pid?: number; startedAt?: string } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as typeof holder;
      } catch {
        // A lock being written this very moment reads as empty: treat it as held.
        holder = { pid: -1 };
      }
      if (
        holder.pid !== undefined &&
        holder.pid !== process.pid &&
        (holder.pid === -1 || isAlive(holder.pid))
      ) {
        throw new AppError(
          'CONFLICT',
          `another memory server (pid ${holder.pid}${holder.startedAt ? `, started ${holder.startedAt}` : ''}) is using ${dir}; ` +
            'stop it first, or set MEMORY_DATA_DIR to another folder',
        );
      }
      // The holder died without cleaning up: the lock is stale.
      rmSync(path, { force: true });
    }
  }
  throw new AppError('CONFLICT', `could not lock ${dir}`);
}

export async function startEmbedded(config: Config): Promise<EmbeddedServices> {
  const dir = config.dataDir;
  let release: () => void;
  try {
    mkdirSync(dir, { recursive: true });
    release = acquireLock(dir);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError(
      'STARTUP_FAILED',
      `cannot use the data folder ${dir} (${describeError(error)}): set MEMORY_DATA_DIR to a folder this user can write`,
      { cause: error },
    );
  }
  const stops: Array<() => Promise<void>> = [];
  const info: RuntimeInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  const writeRuntime = () => writeFileSync(runtimeFile(config), `${JSON.stringify(info, null, 2)}\n`);

  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(runtimeFile(config), { force: true });
    release();
  };

  try {
    const database = await startEmbeddedPostgres(join(dir, 'pg'));
    stops.push(database.stop);
    info.databaseUrl = database.url;
    writeRuntime();
    logger.info(`Data in ${dir}`, { data_dir: dir, postgres: 'PGlite', vectors: 'pgvector' });
    return {
      databaseUrl: database.url,
      announce(mcpUrl) {
        info.mcpUrl = mcpUrl;
        writeRuntime();
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export async function startEmbeddedPostgres(path: string): Promise<{ url: string; stop(): Promise<void> }> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await openPglite(path);
  // Our pool uses one connection (PGlite is one session: two connections would interleave their
  // transactions). A few more are accepted so `memory check` can look in while we run.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 4 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

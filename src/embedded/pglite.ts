/**
 * The embedded Postgres (PGlite) and the template its first start is made from.
 *
 * A new PGlite database runs initdb inside WebAssembly: about 8 s on our 2-core machines, and the
 * memory initdb touched stays resident (760 MB instead of 190 MB). `npm run build` therefore
 * makes an empty cluster once and saves it as a tarball next to the compiled code; a first start
 * unpacks it in about 1.5 s. Without the tarball (or for another PGlite version) the first start
 * falls back to initdb.
 *
 * PGlite's default shared_buffers (128 MB) is sized for a server; one user's memory server
 * needs far less, and the setting decides most of the resident memory (315 MB vs 191 MB).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PGlite } from '@electric-sql/pglite';

export const PGLITE_SETTINGS = ['shared_buffers = 16MB', 'wal_buffers = 1MB', 'max_connections = 10'];

/** dist/src/embedded → dist/pglite-template.tar.gz */
const TEMPLATE = fileURLToPath(new URL('../../pglite-template.tar.gz', import.meta.url));
const STAMP = `${TEMPLATE}.json`;

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@electric-sql/pglite');
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

function templateIsCurrent(): boolean {
  if (!existsSync(TEMPLATE) || !existsSync(STAMP)) return false;
  const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as { pglite?: string; settings?: string[] };
  return (
    stamp.pglite === pgliteVersion() && JSON.stringify(stamp.settings) === JSON.stringify(PGLITE_SETTINGS)
  );
}

/** Makes the template tarball unless a current one exists. Returns whether one was made. */
export async function buildPgliteTemplate(): Promise<boolean> {
  if (templateIsCurrent()) return false;
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create({ postgresqlconf: PGLITE_SETTINGS });
  try {
    const blob = await db.dumpDataDir('gzip');
    mkdirSync(dirname(TEMPLATE), { recursive: true });
    writeFileSync(TEMPLATE, Buffer.from(await blob.arrayBuffer()));
    writeFileSync(STAMP, JSON.stringify({ pglite: pgliteVersion(), settings: PGLITE_SETTINGS }));
  } finally {
    await db.close();
  }
  return true;
}

/** Creates the cluster in the empty folder `path` from the template, in this process. */
async function unpackTemplate(path: string): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create({
    dataDir: path,
    postgresqlconf: PGLITE_SETTINGS,
    loadDataDir: new Blob([readFileSync(TEMPLATE)]),
  });
  await db.close();
}

/**
 * Opens (creating when empty) the embedded database in `path`, with pgvector loaded (the embedded
 * vector index, vectors/pgvector.ts). A new cluster is unpacked by a
 * short-lived child process: what unpacking touches (130 MB) then leaves with it instead of
 * staying resident in the server for its whole life.
 */
export async function openPglite(path: string): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(path, { recursive: true });
  if (readdirSync(path).length === 0 && templateIsCurrent()) {
    await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--unpack', path]);
  }
  const { vector } = await import('@electric-sql/pglite-pgvector');
  return PGlite.create({ dataDir: path, postgresqlconf: PGLITE_SETTINGS, extensions: { vector } });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const unpackInto = process.argv[2] === '--unpack' ? process.argv[3] : undefined;
  if (unpackInto !== undefined) await unpackTemplate(unpackInto);
  else {
    const made = await buildPgliteTemplate();
    process.stdout.write(made ? `wrote ${TEMPLATE}\n` : `${TEMPLATE} is current\n`);
  }
}

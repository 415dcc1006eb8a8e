/**
 * The embedded Postgres (PGlite) and the template its first start is made from.
 *
 * A new PGlite database runs initdb inside WebAssembly: about 8 s on our 2-core machines, and the
 * memory initdb touched stays resident (760 MB instead of 190 MB). `npm run build` therefore
 * makes a cluster once, migrated and with the vector tables of the offline embedder, and saves it as a tarball next to the
 * compiled code (the package ships it). A first start writes its files into the data folder with
 * plain Node (gunzip and tar), without booting a second PGlite to load it: that boot, in a child
 * process to keep its memory out of the server, was most of a first start (and the migrations
 * another 20%). Without a current tarball (another PGlite version, other settings or migrations)
 * the first start falls back to initdb.
 *
 * PGlite's default shared_buffers (128 MB) is sized for a server; one user's memory server
 * needs far less, and the setting decides most of the resident memory (315 MB vs 191 MB).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
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

/** dist/src/embedded → sql/ (the migrations the template carries). */
const MIGRATIONS = fileURLToPath(new URL('../../../sql/', import.meta.url));

/** A digest of the migration files: a template made with other migrations is not current. */
function migrationsDigest(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS)
    .filter((file) => file.endsWith('.sql'))
    .sort()) {
    hash.update(name).update(readFileSync(join(MIGRATIONS, name)));
  }
  return hash.digest('hex');
}

interface Stamp {
  pglite?: string;
  settings?: string[];
  migrations?: string;
}

function currentStamp(): Stamp {
  return { pglite: pgliteVersion(), settings: PGLITE_SETTINGS, migrations: migrationsDigest() };
}

function templateIsCurrent(): boolean {
  if (!existsSync(TEMPLATE) || !existsSync(STAMP)) return false;
  const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as Stamp;
  return JSON.stringify(stamp) === JSON.stringify(currentStamp());
}

/** Makes the template tarball unless a current one exists. Returns whether one was made. */
export async function buildPgliteTemplate(): Promise<boolean> {
  if (templateIsCurrent()) return false;
  const { PGlite } = await import('@electric-sql/pglite');
  const { vector } = await import('@electric-sql/pglite-pgvector');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const { connect } = await import('../store/connect.js');
  const { migrate } = await import('../store/migrate.js');
  const db = await PGlite.create({ postgresqlconf: PGLITE_SETTINGS, extensions: { vector } });
  try {
    await db.exec('create extension if not exists vector');
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
    await server.start();
    const sql = connect(`postgres://postgres@${server.getServerConn()}/postgres`, { max: 1 });
    try {
      await migrate(sql);
      // The vector tables of the offline embedder, the default: a first start without an OpenAI
      // key then creates nothing (another embedding space makes its own tables over these empty ones).
      const { loadConfig } = await import('../config.js');
      const { createEmbedder } = await import('../providers/embedders.js');
      const { createPgvectorIndex } = await import('../vectors/pgvector.js');
      await createPgvectorIndex({ sql, space: createEmbedder(loadConfig({})).space }).open();
    } finally {
      await sql.end({ timeout: 5 });
      await server.stop();
    }
    await db.exec('checkpoint');
    const blob = await db.dumpDataDir('gzip');
    mkdirSync(dirname(TEMPLATE), { recursive: true });
    writeFileSync(TEMPLATE, Buffer.from(await blob.arrayBuffer()));
    writeFileSync(STAMP, JSON.stringify(currentStamp()));
  } finally {
    await db.close();
  }
  return true;
}

/**
 * Writes the template's files into the empty folder `path` (a tar archive, gzipped). Asynchronous,
 * so that MCP requests arriving meanwhile (`initialize`) are answered.
 */
async function extractTemplate(path: string): Promise<void> {
  const archive = await promisify(gunzip)(await readFile(TEMPLATE));
  const text = (start: number, length: number) =>
    archive.toString('utf8', start, start + length).replace(/\0.*$/s, '');
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const name = text(offset, 100);
    if (name === '') break; // the two empty blocks that end the archive
    const prefix =
      archive.toString('utf8', offset + 257, offset + 263) === 'ustar\0' ? text(offset + 345, 155) : '';
    const size = Number.parseInt(text(offset + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(archive[offset + 156] ?? 0);
    const relative = `${prefix}${prefix === '' ? '' : '/'}${name}`.replace(/^\/+/, '');
    const target = join(path, relative);
    if (!target.startsWith(path) || relative.split('/').includes('..')) {
      throw new Error(`the PGlite template holds an unexpected path: ${relative}`);
    }
    offset += 512;
    if (type === '5') await mkdir(target, { recursive: true });
    else if (type === '0' || type === '\0') {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, archive.subarray(offset, offset + size), { mode: 0o600 });
    }
    offset += Math.ceil(size / 512) * 512;
  }
}

/**
 * Opens (creating when empty) the embedded database in `path`, with pgvector loaded (the embedded
 * vector index, vectors/pgvector.ts). A new cluster is written from the template when there is a
 * current one.
 */
export async function openPglite(path: string): Promise<PGlite> {
  const { PGlite } = await import('@electric-sql/pglite');
  mkdirSync(path, { recursive: true });
  if (readdirSync(path).length === 0 && templateIsCurrent()) await extractTemplate(path);
  const { vector } = await import('@electric-sql/pglite-pgvector');
  return PGlite.create({ dataDir: path, postgresqlconf: PGLITE_SETTINGS, extensions: { vector } });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const made = await buildPgliteTemplate();
  process.stdout.write(made ? `wrote ${TEMPLATE}\n` : `${TEMPLATE} is current\n`);
}

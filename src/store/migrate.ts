/**
 * Schema migrations: `sql/NNN_name.sql`, applied in order, once each, each in its own transaction
 * with its row in `schema_migrations`.
 *
 * Concurrency: every transaction first takes the same transaction-scoped advisory lock, then
 * re-reads what is applied. Four `memory migrate` processes started together therefore apply each
 * file exactly once and all exit 0. A session-level lock held across the whole run would also
 * work, but postgres.js pools connections and a session lock must be released on the connection
 * that took it; a transaction lock is released by COMMIT or ROLLBACK wherever it ran.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from './connect.js';

/** The `sql/` folder shipped with the package (dist/src/store → ../../../sql). */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'sql');

/** Arbitrary constant shared by every migrating process: "memory" in ASCII. */
const MIGRATION_LOCK_KEY = 0x6d656d6f7279;

export interface MigrationFile {
  name: string;
  checksum: string;
  sql: string;
}

export interface MigrationStatus {
  name: string;
  state: 'applied' | 'pending' | 'changed';
  appliedAt?: Date;
}

export class MigrationError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

/** Lists `NNN_name.sql` files in order. */
export function readMigrations(dir = MIGRATIONS_DIR): MigrationFile[] {
  return readdirSync(dir)
    .filter((name) => /^\d{3}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

async function ensureMigrationsTable(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`
      create table if not exists schema_migrations (
        name text primary key,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
  });
}

/**
 * Applies every pending migration. Returns the names applied by this call (empty when the
 * database was current). A failing file is rolled back and reported as a `MigrationError`
 * naming it; files before it stay applied.
 */
export async function migrate(sql: Sql, files = readMigrations()): Promise<string[]> {
  await ensureMigrationsTable(sql);
  const applied: string[] = [];
  for (const file of files) {
    const didApply = await sql
      .begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
        const [done] = await tx`select 1 from schema_migrations where name = ${file.name}`;
        if (done) return false;
        // The file is our own schema text, not input: unsafe() is how postgres.js runs a
        // multi-statement script through the simple query protocol.
        await tx.unsafe(file.sql);
        await tx`insert into schema_migrations (name, checksum) values (${file.name}, ${file.checksum})`;
        return true;
      })
      .catch((error: unknown) => {
        const detail = error instanceof Error ? error.message : String(error);
        const code = (error as { code?: string }).code;
        throw new MigrationError(
          file.name,
          `migration ${file.name} failed and was rolled back: ${detail}${code ? ` (SQLSTATE ${code})` : ''}`,
          { cause: error },
        );
      });
    if (didApply) applied.push(file.name);
  }
  return applied;
}

/** Which files are applied, pending, or applied with different content than shipped. */
export async function migrationStatus(sql: Sql, files = readMigrations()): Promise<MigrationStatus[]> {
  const [exists] = await sql`select to_regclass('schema_migrations') is not null as present`;
  const rows: Array<{ name: string; checksum: string; applied_at: Date }> = exists?.present
    ? await sql`select name, checksum, applied_at from schema_migrations`
    : [];
  const byName = new Map(rows.map((row) => [row.name, row]));
  return files.map((file) => {
    const row = byName.get(file.name);
    if (row === undefined) return { name: file.name, state: 'pending' };
    return {
      name: file.name,
      state: row.checksum === file.checksum ? 'applied' : 'changed',
      appliedAt: row.applied_at,
    };
  });
}

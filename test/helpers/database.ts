/**
 * A fresh, migrated database per test file, cloned from a template. Migrating takes a few hundred
 * milliseconds; `CREATE DATABASE ... TEMPLATE` takes tens, so the template is built once per
 * schema version (its name carries a hash of the migrations) and reused across runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Sql } from '../../src/store/connect.js';
import { migrate, readMigrations } from '../../src/store/migrate.js';

export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Serialises template creation and cloning across test processes. */
const TEMPLATE_LOCK = 0x74706c;

function templateName(): string {
  const hash = createHash('sha256');
  for (const file of readMigrations()) hash.update(file.name).update(file.checksum);
  return `memory_tpl_${hash.digest('hex').slice(0, 12)}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** Creates an empty database (no schema), for migration tests. */
export async function createEmptyDatabase(
  prefix = 'memory_test',
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const admin = connect(ADMIN_URL, { max: 1 });
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return { name, url: databaseUrl(name), drop: () => dropDatabase(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = connect(ADMIN_URL, { max: 1 });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end();
  }
}

/** A migrated database of its own; `drop()` it in `after`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = connect(ADMIN_URL, { max: 1 });
  const template = templateName();
  const name = `memory_test_${randomBytes(6).toString('hex')}`;
  // CREATE DATABASE cannot run in a transaction, so the lock is a session lock on one
  // reserved connection.
  const conn = await admin.reserve();
  try {
    await conn`select pg_advisory_lock(${TEMPLATE_LOCK})`;
    const [exists] = await conn`select 1 from pg_database where datname = ${template}`;
    if (!exists) await conn.unsafe(`create database "${template}"`);
    // Always brought up to date: a run interrupted while migrating left it half-done.
    const templateSql = connect(databaseUrl(template), { max: 1 });
    try {
      await migrate(templateSql);
    } finally {
      await templateSql.end();
    }
    await conn.unsafe(`create database "${name}" template "${template}"`);
  } finally {
    await conn`select pg_advisory_unlock(${TEMPLATE_LOCK})`.catch(() => {});
    conn.release();
    await admin.end();
  }
  const url = databaseUrl(name);
  const sql = connect(url, { max: 4 });
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      await dropDatabase(name);
    },
  };
}

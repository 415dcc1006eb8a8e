import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { connect } from '../src/store/connect.js';
import { MigrationError, migrate, migrationStatus, readMigrations } from '../src/store/migrate.js';
import { runCli } from './helpers/cli.js';
import { createEmptyDatabase } from './helpers/database.js';

const EXPECTED_COLUMNS: Record<string, string[]> = {
  artifact_revision: [
    'artifact_uid',
    'revision_id',
    'artifact_id',
    'artifact_type',
    'source_system',
    'source_id',
    'source_ts',
    'content_hash',
    'token_count',
    'is_chunked',
    'chunk_count',
    'sensitivity',
    'visibility_scope',
    'retention_policy',
    'is_latest',
    'ingested_at',
  ],
  event_jobs: [
    'job_id',
    'job_type',
    'artifact_uid',
    'revision_id',
    'status',
    'attempts',
    'max_attempts',
    'next_run_at',
    'locked_at',
    'locked_by',
    'last_error_code',
    'last_error_message',
    'created_at',
    'updated_at',
  ],
  semantic_event: [
    'event_id',
    'artifact_uid',
    'revision_id',
    'category',
    'event_time',
    'narrative',
    'subject_json',
    'actors_json',
    'confidence',
    'extraction_run_id',
    'created_at',
  ],
  event_evidence: [
    'evidence_id',
    'event_id',
    'artifact_uid',
    'revision_id',
    'chunk_id',
    'start_char',
    'end_char',
    'quote',
    'created_at',
  ],
  worker_heartbeat: ['worker_id', 'started_at', 'last_seen_at', 'jobs_done', 'jobs_failed'],
  artifact_content: ['artifact_uid', 'revision_id', 'content'],
  artifact_chunk: [
    'artifact_uid',
    'revision_id',
    'chunk_index',
    'chunk_id',
    'start_char',
    'end_char',
    'text',
  ],
};

describe('memory migrate', () => {
  const databases: Array<{ drop(): Promise<void> }> = [];
  after(async () => {
    for (const db of databases) await db.drop();
  });

  test('creates the contract tables with their columns, and a second run changes nothing', async () => {
    const db = await createEmptyDatabase();
    databases.push(db);
    const first = await runCli(['migrate'], { EVENTS_DB_DSN: db.url });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /Applied 001_artifact_revision\.sql/);

    const sql = connect(db.url, { max: 1 });
    try {
      for (const [table, columns] of Object.entries(EXPECTED_COLUMNS)) {
        const rows =
          await sql`select column_name from information_schema.columns where table_name = ${table}`;
        const present = new Set(rows.map((row) => row.column_name as string));
        for (const column of columns) assert.ok(present.has(column), `${table}.${column} exists`);
      }
      const before = await sql`select name, applied_at from schema_migrations order by name`;
      assert.equal(before.length, readMigrations().length);

      const second = await runCli(['migrate'], { EVENTS_DB_DSN: db.url });
      assert.equal(second.code, 0);
      assert.match(second.stderr, /up to date/);
      const afterRows = await sql`select name, applied_at from schema_migrations order by name`;
      assert.deepEqual(afterRows, before);

      const status = await runCli(['migrate', '--status'], { EVENTS_DB_DSN: db.url });
      assert.equal(status.code, 0);
      assert.match(status.stdout, /^applied +001_artifact_revision\.sql/m);
    } finally {
      await sql.end();
    }
  });

  test('four concurrent runs on an empty database all exit 0 and apply each file once', async () => {
    const db = await createEmptyDatabase();
    databases.push(db);
    const runs = await Promise.all([1, 2, 3, 4].map(() => runCli(['migrate'], { EVENTS_DB_DSN: db.url })));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const appliedLines = runs.flatMap((run) => run.stderr.match(/Applied \d{3}_\w+\.sql/g) ?? []);
    assert.deepEqual(
      appliedLines.sort(),
      readMigrations()
        .map((file) => `Applied ${file.name}`)
        .sort(),
    );
    const sql = connect(db.url, { max: 1 });
    const [row] = await sql`select count(*)::int as n from schema_migrations`;
    await sql.end();
    assert.equal(row?.n, readMigrations().length);
  });

  test('a failing file rolls back, names the file and the Postgres error, keeps earlier files', async () => {
    const db = await createEmptyDatabase();
    databases.push(db);
    const sql = connect(db.url, { max: 1 });
    try {
      const files = [
        { name: '001_ok.sql', checksum: 'a', sql: 'create table ok_table (id int);' },
        {
          name: '002_broken.sql',
          checksum: 'b',
          sql: 'create table half_done (id int); select * from no_such_table;',
        },
      ];
      await assert.rejects(
        migrate(sql, files),
        (error: unknown) =>
          error instanceof MigrationError &&
          error.file === '002_broken.sql' &&
          /no_such_table/.test(error.message) &&
          /42P01/.test(error.message),
      );
      const [tables] = await sql`
        select to_regclass('ok_table') is not null as ok, to_regclass('half_done') is not null as half`;
      assert.equal(tables?.ok, true);
      assert.equal(tables?.half, false, 'the failing file left nothing behind');
      const status = await migrationStatus(sql, files);
      assert.deepEqual(
        status.map((s) => [s.name, s.state]),
        [
          ['001_ok.sql', 'applied'],
          ['002_broken.sql', 'pending'],
        ],
      );
    } finally {
      await sql.end();
    }
  });

  test('an unreachable database is one readable line and exit 1', async () => {
    const result = await runCli(['migrate'], { EVENTS_DB_DSN: 'postgres://postgres:secret@127.0.0.1:1/x' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /connection refused 127\.0\.0\.1:1/);
    assert.doesNotMatch(result.stderr, /secret/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('without EVENTS_DB_DSN it says what is expected and exits 2', async () => {
    const result = await runCli(['migrate'], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /EVENTS_DB_DSN is not set/);
  });
});

/**
 * Batch claims: one statement claims as many due jobs as a worker has free slots, never more,
 * in due order; every job of a batch keeps its lease while it runs. An in-process worker runs
 * against a real Postgres with an extractor that holds each job until the test lets it go, so
 * that which slots are free is known at every step.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import type { Extractor } from '../src/domain/extraction/types.js';
import { connect, type Sql, WORKER_SESSION } from '../src/store/connect.js';
import { claimJobs, type JobRow } from '../src/store/jobs.js';
import { startWorker, type Worker, workerPoolSize } from '../src/worker/worker.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { eventually, SLOW_MS } from './helpers/worker.js';

let serial = 0;
/** The name each test gave a job, by its artifact_uid. */
const jobNames = new Map<string, string>();
const nameOf = (artifactUid: string) => jobNames.get(artifactUid) ?? artifactUid;

/**
 * Queues one extraction job per name, each on a revision of its own, due in the order given
 * (`due` seconds from now for all of them; `status` PROCESSING needs `lockedBy`).
 */
async function addJobs(
  sql: Sql,
  names: readonly string[],
  options: {
    due?: number;
    status?: 'PENDING' | 'PROCESSING';
    lockedBy?: string;
    lockedSecondsAgo?: number;
  } = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (const name of names) {
    serial++;
    const hex = serial.toString(16).padStart(16, '0');
    const uid = `uid_${hex}`;
    const rev = `rev_${hex}`;
    jobNames.set(uid, name);
    await sql`
      insert into artifact_revision (artifact_uid, revision_id, artifact_id, artifact_type, source_system,
                                     source_id, content_hash, token_count, is_chunked, chunk_count)
      values (${uid}, ${rev}, ${`art_${hex}`}, 'note', 'test', ${name}, ${`hash_${hex}`}, 8, false, 0)`;
    await sql`
      insert into artifact_content (artifact_uid, revision_id, content)
      values (${uid}, ${rev}, ${`Note ${name}: the team decided to ship.`})`;
    const [row] = await sql<Array<{ job_id: string }>>`
      insert into event_jobs (artifact_uid, revision_id, status, attempts, next_run_at, created_at,
                              locked_by, locked_at)
      values (${uid}, ${rev}, ${options.status ?? 'PENDING'}, ${options.status === 'PROCESSING' ? 1 : 0},
              now() + make_interval(secs => ${options.due ?? 0}) - make_interval(secs => ${1000 - serial}),
              now() - make_interval(secs => ${1000 - serial}),
              ${options.lockedBy ?? null},
              case when ${options.lockedBy ?? null}::text is null then null
                   else now() - make_interval(secs => ${options.lockedSecondsAgo ?? 0}) end)
      returning job_id`;
    ids.push(row!.job_id);
  }
  return ids;
}

/** An extractor that holds every job until `release` lets it go; it finds no events. */
function heldExtractor() {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const extractor: Extractor = {
    name: 'rules',
    async extract(input) {
      const name = nameOf(input.artifactUid);
      started.push(name);
      await new Promise<void>((resolveGate) => gates.set(name, resolveGate));
      return [];
    },
  };
  return {
    extractor,
    started,
    release(...names: string[]) {
      for (const name of names) gates.get(name)!();
    },
  };
}

/** The pool of a worker, which records how many jobs each of its claim statements took. */
function countingClaims(sql: Sql, claims: number[]): Sql {
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const query = Reflect.apply(target, thisArg, args) as Promise<unknown[]>;
      const strings = args[0];
      if (Array.isArray(strings) && strings.join('').includes('for update skip locked')) {
        query.then(
          (rows) => claims.push(rows.length),
          () => {},
        );
      }
      return query;
    },
  });
}

describe('batch claims', () => {
  let db: TestDatabase;
  let sql: Sql;
  let worker: Worker | undefined;
  before(async () => {
    db = await createTestDatabase();
    sql = connect(db.url, { max: workerPoolSize(3), settings: WORKER_SESSION });
  });
  afterEach(async () => {
    await worker?.stop(0);
    worker = undefined;
    await db.sql`delete from artifact_revision`;
  });
  after(async () => {
    await sql?.end({ timeout: 2 });
    await db?.drop();
  });

  const jobsByName = async () => {
    const rows = await db.sql<Array<JobRow & { name: string }>>`
      select j.*, r.source_id as name from event_jobs j join artifact_revision r using (artifact_uid, revision_id)`;
    return new Map(rows.map((row) => [row.name, row]));
  };
  const heldBy = async (workerId: string) => {
    const rows = await db.sql<Array<{ name: string }>>`
      select r.source_id as name from event_jobs j join artifact_revision r using (artifact_uid, revision_id)
      where j.status = 'PROCESSING' and j.locked_by = ${workerId} order by r.source_id`;
    return rows.map((row) => row.name);
  };
  const config = (workerId: string, env: Record<string, string> = {}) =>
    loadConfig({
      EVENTS_DB_DSN: db.url,
      WORKER_ID: workerId,
      WORKER_CONCURRENCY: '3',
      POLL_INTERVAL_MS: '50',
      JOB_LEASE_SECONDS: '30',
      EVENT_EXTRACTOR: 'rules',
      EMBEDDING_PROVIDER: 'local',
      LOG_LEVEL: 'WARN',
      ...env,
    });

  test('claimJobs takes at most its limit: expired leases first, then due jobs in order, skipping locked rows', async () => {
    const [locked] = await addJobs(db.sql, ['p0']);
    await addJobs(db.sql, ['p1', 'p2', 'p3', 'p4']);
    await addJobs(db.sql, ['later'], { due: 3600 });
    await addJobs(db.sql, ['expired'], { status: 'PROCESSING', lockedBy: 'dead', lockedSecondsAgo: 3600 });
    await addJobs(db.sql, ['alive'], { status: 'PROCESSING', lockedBy: 'alive', lockedSecondsAgo: 1 });
    // Another transaction holds p0 (the oldest due job): SKIP LOCKED passes it by.
    const other = await db.sql.reserve();
    try {
      await other`begin`;
      await other`select 1 from event_jobs where job_id = ${locked!} for update`;

      assert.deepEqual(await claimJobs(sql, 'w', 30, 0), []);
      const first = await claimJobs(sql, 'w', 30, 3);
      assert.deepEqual(
        first.map((claim) => nameOf(claim.job.artifact_uid)),
        ['expired', 'p1', 'p2'],
      );
      assert.deepEqual(
        first.map((claim) => claim.job.attempts),
        [2, 1, 1],
      );
      assert.ok(first.every((claim) => claim.revision?.content.startsWith('Note ')));
      // One statement: one claim time for the whole batch.
      assert.equal(new Set(first.map((claim) => claim.job.locked_at!.getTime())).size, 1);
      assert.deepEqual(await heldBy('w'), ['expired', 'p1', 'p2']);

      const rest = await claimJobs(sql, 'w', 30, 10);
      assert.deepEqual(
        rest.map((claim) => nameOf(claim.job.artifact_uid)),
        ['p3', 'p4'],
        'neither the job due later, nor the live lease, nor the locked row',
      );
      await other`commit`;
    } finally {
      other.release();
    }
    const last = await claimJobs(sql, 'w', 30, 10);
    assert.deepEqual(
      last.map((claim) => nameOf(claim.job.artifact_uid)),
      ['p0'],
    );
    const jobs = await jobsByName();
    assert.equal(jobs.get('later')?.status, 'PENDING');
    assert.equal(jobs.get('alive')?.locked_by, 'alive');
  });

  test('a worker claims for its free slots only: 3 slots, 8 due jobs → claims of 3, 1, 2, 2, in due order', async () => {
    const names = ['j0', 'j1', 'j2', 'j3', 'j4', 'j5', 'j6', 'j7'];
    await addJobs(db.sql, names);
    const held = heldExtractor();
    const claims: number[] = [];
    let mostHeld = 0;
    const extractor: Extractor = {
      name: 'rules',
      async extract(input) {
        const extracted = held.extractor.extract(input);
        // Every claimed job starts at once: none waits in the worker without a slot.
        mostHeld = Math.max(mostHeld, (await heldBy('w-slots')).length);
        return extracted;
      },
    };
    worker = startWorker({
      config: config('w-slots'),
      sql: countingClaims(sql, claims),
      extractor,
      listen: false,
    });
    // At least n: a worker that claimed more than its free slots fails the assertions that follow.
    const startedCount = (n: number) =>
      eventually(async () => (held.started.length >= n ? true : undefined), SLOW_MS, `${n} jobs started`);

    await startedCount(3);
    assert.deepEqual(claims, [3], 'one statement filled the three free slots');
    assert.deepEqual(held.started, ['j0', 'j1', 'j2']);
    assert.deepEqual(await heldBy('w-slots'), ['j0', 'j1', 'j2']);

    held.release('j0');
    await startedCount(4);
    assert.deepEqual(claims, [3, 1], 'one free slot, one job, though five were due');
    assert.deepEqual(await heldBy('w-slots'), ['j1', 'j2', 'j3']);

    held.release('j1', 'j2');
    await startedCount(6);
    assert.deepEqual(claims, [3, 1, 2]);
    assert.deepEqual(await heldBy('w-slots'), ['j3', 'j4', 'j5']);

    held.release('j3', 'j4', 'j5');
    await startedCount(8);
    assert.deepEqual(claims.slice(0, 4), [3, 1, 2, 2], 'three free slots, the last two jobs');
    held.release('j6', 'j7');
    await eventually(
      async () =>
        [...(await jobsByName()).values()].every((job) => job.status === 'DONE') ? true : undefined,
      SLOW_MS,
      'every job DONE',
    );
    assert.deepEqual(held.started, names, 'due order, each job once');
    assert.ok(
      claims.slice(4).every((n) => n === 0),
      `nothing more was due: ${claims.join(',')}`,
    );
    assert.ok(mostHeld <= 3, `held ${mostHeld} jobs with 3 slots`);
    const jobs = await jobsByName();
    for (const name of names) {
      assert.equal(jobs.get(name)?.locked_by, 'w-slots');
      assert.equal(jobs.get(name)?.attempts, 1);
    }
  });

  test('every job of a batch keeps its lease while it runs, past the lease time', async () => {
    await addJobs(db.sql, ['b0', 'b1', 'b2']);
    const held = heldExtractor();
    const claims: number[] = [];
    // A 3 s lease: the heartbeat extends every job in hand every second.
    worker = startWorker({
      config: config('w-lease', { JOB_LEASE_SECONDS: '3' }),
      sql: countingClaims(sql, claims),
      extractor: held.extractor,
      listen: false,
    });
    await eventually(
      async () => (held.started.length === 3 ? true : undefined),
      SLOW_MS,
      'three jobs started',
    );
    assert.equal(claims[0], 3, 'the three jobs came in one claim');
    const claimedAt = new Map(
      [...(await jobsByName())].map(([name, job]) => [name, job.locked_at!.getTime()]),
    );

    // Wait, on Postgres's clock, until more than a lease has passed since the claim: a job whose
    // lease had not been extended would be claimable by anyone now.
    const earliest = Math.min(...claimedAt.values());
    await eventually(
      async () => {
        const [row] = await db.sql<Array<{ now: Date }>>`select now()`;
        return row!.now.getTime() - earliest > 4000 ? true : undefined;
      },
      SLOW_MS,
      'more than a lease since the claim',
    );
    const jobs = await jobsByName();
    for (const name of ['b0', 'b1', 'b2']) {
      const job = jobs.get(name)!;
      assert.equal(job.status, 'PROCESSING', name);
      assert.equal(job.locked_by, 'w-lease', name);
      assert.ok(job.locked_at!.getTime() > claimedAt.get(name)!, `${name}'s lease was extended`);
    }
    assert.deepEqual(await claimJobs(db.sql, 'thief', 3, 3), [], 'no lease of the batch expired');

    held.release('b0', 'b1', 'b2');
    await eventually(
      async () =>
        [...(await jobsByName()).values()].every((job) => job.status === 'DONE') ? true : undefined,
      SLOW_MS,
      'every job DONE',
    );
    for (const job of (await jobsByName()).values()) assert.equal(job.attempts, 1, 'never claimed again');
  });
});

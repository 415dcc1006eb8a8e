import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ingestArtifact } from '../src/domain/ingest.js';
import {
  claimJobs,
  extendLeases,
  JOB_CHANNEL,
  type JobRow,
  recordFailure,
  releaseJobs,
} from '../src/store/jobs.js';
import { within } from './helpers/cli.js';
import { type ChatRequestBody, type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { eventually, SLOW_MS, spawnWorker, type WorkerProcess } from './helpers/worker.js';

/** The text the model was asked about: every message of the request, joined. */
function promptText(body: ChatRequestBody): string {
  return body.messages.map((m) => m.content).join('\n');
}

/** A scripted model: one Decision per "we decided to ..." sentence it is shown, quoting it verbatim. */
function decisionModel(body: ChatRequestBody): string {
  const text = promptText(body);
  const sentences = [...new Set(text.match(/[^.\n]*\bdecided to [^.\n]*\./g) ?? [])];
  return JSON.stringify({
    events: sentences.map((sentence) => ({
      category: 'Decision',
      narrative: `The team ${sentence.trim().replace(/^We /, '').replace(/\.$/, '')}.`,
      event_time: null,
      subject: { type: 'project', ref: 'pricing' },
      actors: [{ ref: 'Alice', role: 'owner' }],
      confidence: 0.9,
      evidence: [
        { quote: sentence.trim(), chunk_index: Number(/chunk[_ ]index\D{0,5}(\d+)/i.exec(text)?.[1] ?? 0) },
      ],
    })),
  });
}

const note = (sourceId: string, content: string) => ({
  artifact_type: 'note',
  source_system: 'manual',
  source_id: sourceId,
  content,
  sensitivity: 'normal',
  visibility_scope: 'me',
  retention_policy: 'forever',
});

describe('memory work: jobs, events and evidence', () => {
  let t: TestServer;
  let fake: FakeOpenAI;
  let workers: WorkerProcess[] = [];
  let workerEnv: Record<string, string>;

  before(async () => {
    fake = await startFakeOpenAI();
    fake.onChat(decisionModel);
    t = await startTestServer();
    workerEnv = {
      EVENTS_DB_DSN: t.db.url,
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-worker-secret',
      EVENT_EXTRACTOR: 'llm',
      EMBEDDING_PROVIDER: 'local',
      OPENAI_MAX_RETRIES: '0',
      OPENAI_TIMEOUT: '2',
      POLL_INTERVAL_MS: '100',
      JOB_LEASE_SECONDS: '3',
    };
  });
  afterEach(async () => {
    for (const worker of workers) await worker.kill();
    workers = [];
    // Nothing of one test reaches the next: no queued fault, no request still held by a `delay`
    // or a `hang`, no job left active for the next test's worker to claim first.
    fake.reset();
    fake.onChat(decisionModel);
    await fake.idle();
    await t.db.sql`
      update event_jobs set status = 'FAILED', locked_at = null, locked_by = null,
        last_error_code = 'LEFT_BY_AN_EARLIER_TEST'
      where status in ('PENDING', 'PROCESSING')`;
  });
  after(async () => {
    try {
      await t?.stop();
    } finally {
      await fake?.close();
    }
  });

  /** Spawns a worker and waits until it is up: start-up time does not eat the deadlines below. */
  const start = async (id: string, env: Record<string, string> = {}, args: string[] = []) => {
    const worker = spawnWorker(id, { ...workerEnv, ...env }, args);
    workers.push(worker);
    await worker.started();
    return worker;
  };
  const job = async (jobId: string) => {
    const [row] = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = ${jobId}`;
    return row!;
  };
  const claimed = (jobId: string) =>
    eventually(async () => ((await job(jobId)).status === 'PROCESSING' ? true : undefined), SLOW_MS, 'claim');
  const waitStatus = (jobId: string, statuses: string[], what = statuses.join('/')) =>
    eventually(
      async () => {
        const row = await job(jobId);
        return statuses.includes(row.status) ? row : undefined;
      },
      SLOW_MS,
      `job ${jobId} ${what}`,
    );

  test('a note with one decision: PENDING → DONE, event_search finds it, quotes match the text', async () => {
    const content =
      'Pricing sync, March 3.\nWe decided to adopt freemium pricing for the starter plan. Bob will draft the page.';
    const ingest = await t.call('artifact_ingest', { ...note('n-1', content), ts: '2025-03-03T10:00:00Z' });
    assert.equal(ingest.data.job_status, 'PENDING');
    await start('w-basic');
    const done = await waitStatus(String(ingest.data.job_id), ['DONE']);
    assert.equal(done.locked_by, 'w-basic');
    assert.equal(done.attempts, 1);

    const found = await t.call('event_search', { query: 'decision about pricing' });
    assert.equal(found.isError, false, JSON.stringify(found.data));
    const events = found.data.events as Array<{
      event_id: string;
      category: string;
      narrative: string;
      evidence: Array<{ chunk_id: string | null; start_char: number; end_char: number; quote: string }>;
    }>;
    assert.equal(events.length, 1);
    assert.equal(events[0]?.category, 'Decision');
    assert.match(events[0]!.narrative, /freemium pricing/);
    for (const evidence of events[0]!.evidence) {
      assert.equal(evidence.chunk_id, null);
      assert.equal(content.slice(evidence.start_char, evidence.end_char), evidence.quote);
    }
    assert.deepEqual(found.data.filters_applied, { query: 'decision about pricing' });

    const one = await t.call('event_get', { event_id: events[0]!.event_id });
    assert.equal((one.data.event as { evidence: unknown[] }).evidence.length, 1);
    const status = await t.call('job_status', { artifact_uid: ingest.data.artifact_uid });
    assert.equal((status.data.job as { status: string }).status, 'DONE');
    const filtered = await t.call('event_search', { category: 'Commitment' });
    assert.equal(filtered.data.total, 0);
  });

  test('a document over 1,200 tokens: events carry chunk_id and offsets into the whole text', async () => {
    const filler = (i: number) =>
      `Paragraph ${i} covers routine status updates about onboarding, hiring and the offsite agenda.`;
    const parts = Array.from({ length: 150 }, (_, i) => filler(i));
    parts.splice(120, 0, 'We decided to move the launch to the second week of June.');
    const content = parts.join('\n');
    const ingest = await t.call('artifact_ingest', { ...note('long-1', content), artifact_type: 'doc' });
    assert.equal(ingest.data.is_chunked, true);
    await start('w-long');
    await waitStatus(String(ingest.data.job_id), ['DONE']);
    const list = await t.call('event_list_for_revision', {
      artifact_uid: ingest.data.artifact_uid,
      include_evidence: true,
    });
    const events = list.data.events as Array<{
      evidence: Array<{ chunk_id: string; start_char: number; end_char: number; quote: string }>;
    }>;
    assert.ok(events.length >= 1, JSON.stringify(list.data));
    const chunks = await t.db.sql<Array<{ chunk_id: string; start_char: number; end_char: number }>>`
      select chunk_id, start_char, end_char from artifact_chunk
      where artifact_uid = ${String(ingest.data.artifact_uid)}`;
    const byId = new Map(chunks.map((c) => [c.chunk_id, c]));
    for (const event of events) {
      for (const evidence of event.evidence) {
        assert.match(evidence.chunk_id, /::chunk::\d{3}::/);
        const chunk = byId.get(evidence.chunk_id);
        assert.ok(chunk !== undefined);
        assert.equal(content.slice(evidence.start_char, evidence.end_char), evidence.quote);
        assert.ok(chunk.start_char <= evidence.start_char && evidence.end_char <= chunk.end_char);
      }
    }
  });

  test('re-ingest is unchanged with the same events; a new revision keeps the old events readable', async () => {
    const v1 = 'We decided to hire two engineers in Q3.';
    const first = await t.call('artifact_ingest', note('rev-1', v1));
    await start('w-rev');
    await waitStatus(String(first.data.job_id), ['DONE']);
    const before = await t.call('event_list_for_revision', {
      artifact_uid: first.data.artifact_uid,
      include_evidence: true,
    });

    const again = await t.call('artifact_ingest', note('rev-1', v1));
    assert.equal(again.data.status, 'unchanged');
    assert.equal(again.data.job_id, first.data.job_id);
    const jobs = await t.db
      .sql`select count(*)::int as n from event_jobs where artifact_uid = ${String(first.data.artifact_uid)}`;
    assert.equal(jobs[0]?.n, 1);
    const same = await t.call('event_list_for_revision', {
      artifact_uid: first.data.artifact_uid,
      include_evidence: true,
    });
    assert.deepEqual(same.data.events, before.data.events);

    const v2 = 'Budget update.\nWe decided to hire three engineers in Q3 instead of two.';
    const second = await t.call('artifact_ingest', note('rev-1', v2));
    assert.equal(second.data.status, 'new_revision');
    await waitStatus(String(second.data.job_id), ['DONE']);
    const latest = await t.call('event_list_for_revision', {
      artifact_uid: first.data.artifact_uid,
      include_evidence: true,
    });
    assert.equal(latest.data.revision_id, second.data.revision_id);
    const latestEvidence = (
      latest.data.events as Array<{
        evidence: Array<{ start_char: number; end_char: number; quote: string }>;
      }>
    )[0]!.evidence[0]!;
    assert.equal(v2.slice(latestEvidence.start_char, latestEvidence.end_char), latestEvidence.quote);

    const old = await t.call('event_list_for_revision', {
      artifact_uid: first.data.artifact_uid,
      revision_id: first.data.revision_id,
      include_evidence: true,
    });
    assert.equal(old.data.is_latest, false);
    const superseded = (events: unknown) =>
      (events as Array<Record<string, unknown>>).map((event) => ({ ...event, is_latest: false })) as unknown;
    assert.deepEqual(
      old.data.events,
      superseded(before.data.events),
      'the old revision keeps its own events, now flagged superseded',
    );
    for (const event of old.data.events as Array<{
      evidence: Array<{ start_char: number; end_char: number; quote: string }>;
    }>) {
      for (const e of event.evidence) assert.equal(v1.slice(e.start_char, e.end_char), e.quote);
    }
  });

  test('a quote the model invents is dropped, and an event left without evidence with it', async () => {
    fake.onChat(() =>
      JSON.stringify({
        events: [
          {
            category: 'Decision',
            narrative: 'The team decided to buy a yacht.',
            event_time: null,
            subject: { type: 'object', ref: 'yacht' },
            actors: [],
            confidence: 0.9,
            evidence: [{ quote: 'we decided to buy a yacht', chunk_index: 0 }],
          },
          {
            category: 'Commitment',
            narrative: 'Dana will send the slides.',
            event_time: null,
            subject: { type: 'object', ref: 'slides' },
            actors: [{ ref: 'Dana', role: 'owner' }],
            confidence: 0.8,
            evidence: [
              { quote: 'dana   WILL send the slides', chunk_index: 0 },
              { quote: 'and also a made-up sentence', chunk_index: 0 },
            ],
          },
        ],
      }),
    );
    try {
      const content = 'Weekly sync.\nDana will send the slides on Monday.';
      const ingest = await t.call('artifact_ingest', note('invented', content));
      const worker = await start('w-invent');
      await waitStatus(String(ingest.data.job_id), ['DONE']);
      const list = await t.call('event_list_for_revision', {
        artifact_uid: ingest.data.artifact_uid,
        include_evidence: true,
      });
      const events = list.data.events as Array<{
        category: string;
        evidence: Array<{ quote: string; start_char: number; end_char: number }>;
      }>;
      assert.deepEqual(
        events.map((e) => e.category),
        ['Commitment'],
      );
      assert.equal(events[0]!.evidence.length, 1);
      assert.equal(events[0]!.evidence[0]!.quote, 'Dana will send the slides');
      assert.equal(
        content.slice(events[0]!.evidence[0]!.start_char, events[0]!.evidence[0]!.end_char),
        'Dana will send the slides',
      );
      await worker.waitForOutput(/dropped_evidence.{0,4}2/);
      assert.match(worker.output(), /dropped_events.{0,4}1/);
    } finally {
      fake.onChat(decisionModel);
    }
  });

  test('LLM faults: transient → PENDING with code and backoff; permanent → FAILED; nothing written; force re-extract succeeds', async () => {
    const ingest = await t.call(
      'artifact_ingest',
      note('faults', 'We decided to rename the product to Nimbus.'),
    );
    const jobId = String(ingest.data.job_id);
    const uid = String(ingest.data.artifact_uid);
    const countEvents = async () =>
      (await t.db.sql`select count(*)::int as n from semantic_event where artifact_uid = ${uid}`)[0]
        ?.n as number;
    /** Makes a PENDING job due now instead of after its backoff (the backoff itself is asserted first). */
    const makeDue = () => t.db.sql`update event_jobs set next_run_at = now() where job_id = ${jobId}`;

    const expectations: Array<[Parameters<FakeOpenAI['queue']>[1], string, number]> = [
      [{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, 'OPENAI_RATE_LIMIT', 30],
      [{ kind: 'status', status: 500 }, 'OPENAI_SERVER_ERROR', 60],
      [{ kind: 'delay', ms: 3000 }, 'OPENAI_TIMEOUT', 120],
      [{ kind: 'content', content: 'this is not JSON' }, 'INVALID_JSON_SCHEMA', 240],
    ];
    // Bound to this job's text: no other request can take them.
    const mine = 'rename the product to Nimbus';
    for (const [fault] of expectations) fake.queueFor('chat', mine, fault);
    const worker = await start('w-faults', { EVENT_MAX_ATTEMPTS: '5' });
    for (const [index, [, code, delay]] of expectations.entries()) {
      const row = await eventually(
        async () => {
          const r = await job(jobId);
          return r.status === 'PENDING' && r.attempts === index + 1 ? r : undefined;
        },
        SLOW_MS,
        `attempt ${index + 1} to fail with ${code}`,
      );
      assert.equal(row.last_error_code, code);
      const waitSeconds = (row.next_run_at.getTime() - row.updated_at.getTime()) / 1000;
      assert.ok(
        Math.abs(waitSeconds - delay) < 2,
        `backoff after attempt ${index + 1}: ${waitSeconds} s, expected ${delay}`,
      );
      assert.equal(row.locked_by, null);
      assert.equal(await countEvents(), 0, 'no events written on failure');
      await makeDue();
    }
    // Fifth attempt fails too: attempts are used up.
    fake.queueFor('chat', mine, { kind: 'status', status: 503 });
    const failed = await waitStatus(jobId, ['FAILED']);
    assert.deepEqual(fake.pending('chat'), [], 'every fault was taken by this job');
    assert.equal(failed.attempts, 5);
    assert.equal(failed.last_error_code, 'MAX_ATTEMPTS_EXCEEDED');
    assert.match(failed.last_error_message ?? '', /OPENAI_SERVER_ERROR/);
    assert.equal(await countEvents(), 0);

    // Not forced: a FAILED job is not active, so it is re-queued; it succeeds now.
    const again = await t.call('event_reextract', { artifact_uid: uid, force: true });
    assert.equal((again.data as { action: string }).action, 'requeued');
    const done = await waitStatus(jobId, ['DONE']);
    assert.equal(done.attempts, 1);
    assert.equal(await countEvents(), 1);
    assert.doesNotMatch(worker.output(), /sk-worker-secret/);
  });

  test('a bad key (401) ends FAILED at once; an active job is left alone unless forced', async () => {
    const ingest = await t.call('artifact_ingest', note('auth', 'We decided to drop the legacy API.'));
    const jobId = String(ingest.data.job_id);
    const left = await t.call('event_reextract', { artifact_uid: ingest.data.artifact_uid });
    assert.equal((left.data as { action: string }).action, 'left_active');
    fake.queueFor('chat', 'drop the legacy API', {
      kind: 'status',
      status: 401,
      message: 'Incorrect API key provided',
    });
    await start('w-auth');
    const failed = await waitStatus(jobId, ['FAILED', 'DONE']);
    assert.equal(failed.status, 'FAILED', `the 401 was not taken by this job: ${JSON.stringify(failed)}`);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.last_error_code, 'OPENAI_AUTH_ERROR');
    assert.deepEqual(fake.pending('chat'), []);
  });

  test('200 jobs, 4 worker processes: every job DONE, each extracted exactly once, by one worker', async () => {
    const before = fake.count('chat');
    const jobIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      const result = await ingestArtifact(
        t.server.services,
        note(`bulk-${i}`, `Item ${i}: we decided to ship feature ${i}.`),
      );
      jobIds.push(result.job_id!);
    }
    // The backlog is held back until all four workers are up: start-up takes 1 to 13 s, and a
    // worker up seconds before the others could drain the whole backlog alone.
    await t.db
      .sql`update event_jobs set next_run_at = now() + interval '1 hour' where job_id = any(${jobIds})`;
    const ids = ['w-a', 'w-b', 'w-c', 'w-d'];
    // Nothing here fails or dies: a lease and a model timeout far longer than this file's short
    // ones keep a busy machine (16 jobs in flight on 2 cores) from turning a slow beat into a retry.
    const patient = { JOB_LEASE_SECONDS: '120', OPENAI_TIMEOUT: '120' };
    await Promise.all(ids.map((id) => start(id, patient)));
    await t.db.sql`update event_jobs set next_run_at = now() where job_id = any(${jobIds})`;
    await eventually(
      async () => {
        const [row] = await t.db
          .sql`select count(*)::int as n from event_jobs where job_id = any(${jobIds}) and status = 'DONE'`;
        return row?.n === 200 ? true : undefined;
      },
      3 * SLOW_MS,
      '200 jobs DONE',
    );
    const calls = fake.requests.slice(before).filter((r) => r.path === 'chat');
    assert.equal(calls.length, 200, 'one model call per job');
    const perItem = new Map<string, number>();
    for (const call of calls) {
      const item = /Item (\d+):/.exec(promptText(call.body as unknown as ChatRequestBody))?.[1] ?? '?';
      perItem.set(item, (perItem.get(item) ?? 0) + 1);
    }
    assert.equal(perItem.size, 200);
    assert.ok(
      [...perItem.values()].every((n) => n === 1),
      'no job extracted twice',
    );
    const rows = await t.db.sql`
      select locked_by, attempts, count(*)::int as n from event_jobs where job_id = any(${jobIds})
      group by locked_by, attempts`;
    for (const row of rows) {
      assert.ok(ids.includes(row.locked_by as string), `locked by ${row.locked_by}`);
      assert.equal(row.attempts, 1);
    }
    assert.ok(rows.length >= 2, 'work was shared between workers');
    const [events] = await t.db.sql`
      select count(*)::int as n from semantic_event e join event_jobs j on j.job_id = e.extraction_run_id
      where j.job_id = any(${jobIds})`;
    assert.equal(events?.n, 200);
  });

  test('kill -9 in the middle of a job: another worker finishes it after the lease; one event set', async () => {
    const ingest = await t.call(
      'artifact_ingest',
      note('kill', 'We decided to freeze the schema until May.'),
    );
    const jobId = String(ingest.data.job_id);
    fake.queueFor('chat', 'freeze the schema', { kind: 'hang' });
    const doomed = await start('w-doomed');
    await claimed(jobId);
    await eventually(async () =>
      fake.requests.some((r) => r.path === 'chat' && JSON.stringify(r.body).includes('freeze the schema'))
        ? true
        : undefined,
    );
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    await start('w-rescuer');
    const done = await waitStatus(jobId, ['DONE']);
    assert.equal(done.locked_by, 'w-rescuer');
    assert.equal(done.attempts, 2);
    fake.releaseHung();
    const [row] = await t.db
      .sql`select count(*)::int as n from semantic_event where artifact_uid = ${String(ingest.data.artifact_uid)}`;
    assert.equal(row?.n, 1);
  });

  test('SIGTERM during a job: the worker exits 0 and the job ends DONE or back to PENDING', async () => {
    const ingest = await t.call('artifact_ingest', note('sigterm', 'We decided to archive the old wiki.'));
    const jobId = String(ingest.data.job_id);
    fake.queueFor('chat', 'archive the old wiki', { kind: 'delay', ms: 800 });
    const worker = await start('w-term');
    await claimed(jobId);
    worker.child.kill('SIGTERM');
    const exit = await within(worker.exited, SLOW_MS, 'the worker to exit on SIGTERM');
    assert.equal(exit.code, 0, worker.output());
    const row = await job(jobId);
    assert.ok(['DONE', 'PENDING'].includes(row.status), row.status);
    if (row.status === 'PENDING') assert.equal(row.attempts, 0, 'a released job keeps its attempts');
    const hb = await t.db.sql`select 1 from worker_heartbeat where worker_id = 'w-term'`;
    assert.equal(hb.length, 0, 'a stopped worker removes its heartbeat');
  });

  test('SIGTERM with a job that outlives the grace period: released untouched, exit 0', async () => {
    const ingest = await t.call(
      'artifact_ingest',
      note('sigterm-slow', 'We decided to rotate the on-call weekly.'),
    );
    const jobId = String(ingest.data.job_id);
    fake.queueFor('chat', 'rotate the on-call', { kind: 'hang' });
    const worker = await start('w-term-slow', { OPENAI_TIMEOUT: '30' }, ['--grace-ms', '300']);
    await claimed(jobId);
    worker.child.kill('SIGTERM');
    const exit = await within(worker.exited, SLOW_MS, 'the worker to exit on SIGTERM');
    assert.equal(exit.code, 0, worker.output());
    const row = await job(jobId);
    fake.releaseHung();
    assert.equal(row.status, 'PENDING');
    assert.equal(row.attempts, 0, 'the released attempt is not counted');
    assert.equal(row.locked_by, null);
    assert.match(worker.output(), /Released the job in hand/);
  });

  test('WORKER_CONCURRENCY=3: three jobs in flight in one process, each lease kept; SIGTERM releases all three', async () => {
    const topics = ['move the standup', 'drop the legacy API', 'hire a designer'];
    const jobIds: string[] = [];
    for (const [i, topic] of topics.entries()) {
      fake.queueFor('chat', topic, { kind: 'hang' });
      const ingest = await t.call('artifact_ingest', note(`concurrent-${i}`, `We decided to ${topic}.`));
      jobIds.push(String(ingest.data.job_id));
    }
    const worker = await start('w-concurrent', { WORKER_CONCURRENCY: '3', OPENAI_TIMEOUT: '60' }, [
      '--grace-ms',
      '300',
    ]);
    // All three are claimed by this one process and their model calls are open at the same time.
    const claimedRows = await eventually(
      async () => {
        const rows = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = any(${jobIds})`;
        return rows.every((row) => row.status === 'PROCESSING' && row.locked_by === 'w-concurrent')
          ? rows
          : undefined;
      },
      SLOW_MS,
      'three jobs PROCESSING by one worker',
    );
    await eventually(
      async () =>
        topics.every((topic) =>
          fake.requests.some((r) => r.path === 'chat' && JSON.stringify(r.body).includes(topic)),
        )
          ? true
          : undefined,
      SLOW_MS,
      'three model calls in flight',
    );
    // The heartbeat extends the lease of every job in hand (JOB_LEASE_SECONDS=3: a beat a second).
    const claimedAt = new Map(claimedRows.map((row) => [row.job_id, row.locked_at!.getTime()]));
    await eventually(
      async () => {
        const rows = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = any(${jobIds})`;
        return rows.every(
          (row) => row.status === 'PROCESSING' && row.locked_at!.getTime() > claimedAt.get(row.job_id)!,
        )
          ? true
          : undefined;
      },
      SLOW_MS,
      'every lease extended',
    );
    worker.child.kill('SIGTERM');
    const exit = await within(worker.exited, SLOW_MS, 'the worker to exit on SIGTERM');
    assert.equal(exit.code, 0, worker.output());
    fake.releaseHung();
    for (const jobId of jobIds) {
      const row = await job(jobId);
      assert.equal(row.status, 'PENDING', jobId);
      assert.equal(row.attempts, 0, 'the released attempt is not counted');
      assert.equal(row.locked_by, null);
    }
    assert.equal(worker.output().match(/Released the job in hand/g)?.length, 3, worker.output());
    const [events] = await t.db
      .sql`select count(*)::int as n from semantic_event e where e.extraction_run_id = any(${jobIds})`;
    assert.equal(events?.n, 0, 'nothing written for a released job');
  });

  test('SIGTERM releases every job claimed: the one in hand and those of a claim still in flight, never started', async () => {
    const topics = ['close the old office', 'rename the repo', 'retire the VPN', 'archive the tickets'];
    const jobIds: string[] = [];
    for (const [i, topic] of topics.entries()) {
      const ingest = await t.call('artifact_ingest', note(`term-batch-${i}`, `We decided to ${topic}.`));
      jobIds.push(String(ingest.data.job_id));
    }
    const [inHand, ...later] = jobIds as [string, ...string[]];
    // Only the first is due when the worker starts; its model call never answers.
    await t.db
      .sql`update event_jobs set next_run_at = now() + interval '1 hour' where job_id = any(${later})`;
    fake.queueFor('chat', topics[0]!, { kind: 'hang' });
    // Polling every minute: the claim below starts on the NOTIFY, after the other jobs are due.
    const worker = await start(
      'w-term-batch',
      { WORKER_CONCURRENCY: '4', OPENAI_TIMEOUT: '60', POLL_INTERVAL_MS: '60000' },
      ['--grace-ms', '300'],
    );
    await claimed(inHand);
    await eventually(
      async () =>
        fake.requests.some((r) => r.path === 'chat' && JSON.stringify(r.body).includes(topics[0]!))
          ? true
          : undefined,
      SLOW_MS,
      'the model call of the job in hand',
    );

    // The claim also reads artifact_content: while this transaction holds it, the claim waits
    // before taking any row, and stays in flight.
    const lock = await t.db.sql.reserve();
    try {
      await lock`begin`;
      await lock`lock table artifact_content in access exclusive mode`;
      await t.db.sql`
        with due as (update event_jobs set next_run_at = now() where job_id = any(${later}) returning job_id)
        select pg_notify(${JOB_CHANNEL}, job_id::text) from due`;
      await eventually(
        async () => {
          const [row] = await t.db.sql<Array<{ n: number }>>`
            select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and query like '%skip locked%'`;
          return row?.n === 1 ? true : undefined;
        },
        SLOW_MS,
        'a claim waiting for the lock',
      );
      worker.child.kill('SIGTERM');
      // After the grace period the job in hand is given back; the claim still waits.
      await waitStatus(inHand, ['PENDING'], 'released');
      await lock`commit`;
    } finally {
      lock.release();
    }
    const exit = await within(worker.exited, SLOW_MS, 'the worker to exit on SIGTERM');
    assert.equal(exit.code, 0, worker.output());
    fake.releaseHung();
    const rows = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = any(${jobIds})`;
    for (const row of rows) {
      assert.equal(row.status, 'PENDING', row.job_id);
      assert.equal(row.attempts, 0, 'the released attempt is not counted');
      assert.equal(row.locked_by, null);
    }
    assert.equal(worker.output().match(/Released the job in hand/g)?.length, 4, worker.output());
    for (const topic of topics.slice(1)) {
      assert.ok(
        !fake.requests.some((r) => r.path === 'chat' && JSON.stringify(r.body).includes(topic)),
        `the job about "${topic}" was claimed but never started`,
      );
    }
  });

  test('memory check --service worker sees a live worker', async () => {
    const { runCli } = await import('./helpers/cli.js');
    await start('w-check');
    await eventually(async () => {
      const rows = await t.db.sql`select 1 from worker_heartbeat where worker_id = 'w-check'`;
      return rows.length === 1 ? true : undefined;
    });
    const result = await runCli(['check', '--service', 'worker'], { EVENTS_DB_DSN: t.db.url });
    assert.equal(result.code, 0, result.stdout);
  });
});

describe('claim guards (a worker that lost its lease cannot write)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  test('after another worker took over an expired lease, the first worker can neither fail nor release the job', async () => {
    const result = await ingestArtifact(t.server.services, note('guard', 'We decided to guard every write.'));
    const [first] = await claimJobs(t.db.sql, 'first', 600, 1);
    assert.equal(first?.job.job_id, result.job_id);
    await t.db
      .sql`update event_jobs set locked_at = now() - interval '1 hour' where job_id = ${result.job_id}`;
    const [second] = await claimJobs(t.db.sql, 'second', 600, 1);
    assert.equal(second?.job.job_id, result.job_id);
    assert.equal(second?.job.attempts, 2);
    assert.equal(
      await recordFailure(t.db.sql, first!.job, 'first', { code: 'X', message: 'late', transient: true }),
      undefined,
    );
    assert.equal((await releaseJobs(t.db.sql, [first!.job], 'first')).size, 0);
    assert.equal((await extendLeases(t.db.sql, [first!.job], 'first')).size, 0);
    const [row] = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = ${result.job_id}`;
    assert.equal(row?.locked_by, 'second');
    assert.equal(row?.status, 'PROCESSING');
  });
});

/**
 * The promise "every answer is backed by a quote with character offsets into the source", checked
 * as a user would: through the MCP client, with real `memory work` processes (rules and llm
 * extractors), real Postgres and Chroma. Offsets index the whole revision text, events say
 * whether their revision is current, and older revisions stay readable.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { ChunkPiece } from '../src/store/chunks.js';
import type { EventView } from '../src/store/events.js';
import type { JobRow } from '../src/store/jobs.js';
import { type ChatRequestBody, type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';
import { startTestServer, type TestServer, type ToolAnswer } from './helpers/server.js';
import { eventually, spawnWorker, stopWorkers, type WorkerProcess } from './helpers/worker.js';

/** Events and chunks as the tools answer them (JSON of these shapes). */
type EventAnswer = EventView;
type ChunkAnswer = ChunkPiece;

/** The key sentences, placed deep in the transcript. */
const DECISION = 'Carol: After a long back and forth we decided to retire the legacy billing API in May.';
const COMMITMENT = 'Dan: I will send the migration guide to every enterprise customer by Friday.';
const RISK = 'Erin: There is a real risk that the data residency audit slips past the renewal date.';

/**
 * A meeting transcript of about 11,000 tokens (10+ chunks at the default 900/100 policy), with
 * emoji and CJK on the way so that UTF-16 offsets differ from code points, and the key sentences
 * at about 80 % and 90 % of the text.
 */
function transcript(keyLines: { at80: string[]; at90: string[] }): string {
  const speakers = ['Alice', 'Bob', 'Priya', 'Kenji 健二'];
  const lines: string[] = [];
  for (let i = 0; i < 560; i++) {
    const minute = String(Math.floor(i / 4)).padStart(2, '0');
    const second = String((i * 15) % 60).padStart(2, '0');
    lines.push(
      `[00:${minute}:${second}] ${speakers[i % 4]}: Slide ${i} 📊 shows the weekly numbers for region ${i % 7}, ` +
        'as on the dashboard; nothing new there.',
    );
  }
  lines.splice(504, 0, ...keyLines.at90.map((line) => `[01:58:00] ${line}`));
  lines.splice(448, 0, ...keyLines.at80.map((line) => `[01:52:00] ${line}`));
  return lines.join('\n');
}

/**
 * A scripted model for the llm extractor: prompt A (one chunk) answers what `readChunk` finds in
 * the chunk's text; prompt B (the merge of several chunks' lists, which overlap) keeps the first
 * event of each narrative, quotes untouched.
 */
function scriptedModel(readChunk: (text: string, chunkIndex: number) => unknown[]) {
  return (body: ChatRequestBody): string => {
    const user = body.messages.at(-1)?.content ?? '';
    const lists = /<<<LISTS_BEGIN>>>\n([\s\S]*)\n<<<LISTS_END>>>/.exec(user);
    if (lists !== null) {
      const payload = JSON.parse(lists[1]!) as Array<{ events: Array<{ narrative: string }> }>;
      const merged = new Map<string, unknown>();
      for (const list of payload) {
        for (const event of list.events) if (!merged.has(event.narrative)) merged.set(event.narrative, event);
      }
      return JSON.stringify({ events: [...merged.values()] });
    }
    const chunkIndex = Number(/use chunk_index (\d+)/.exec(user)?.[1]);
    const text = /<<<TEXT_BEGIN>>>\n([\s\S]*)\n<<<TEXT_END>>>/.exec(user)?.[1] ?? '';
    return JSON.stringify({ events: readChunk(text, chunkIndex) });
  };
}

function events(answer: ToolAnswer): EventAnswer[] {
  assert.equal(answer.isError, false, JSON.stringify(answer.data));
  return answer.data.events as EventAnswer[];
}

describe('evidence offsets and revisions, through MCP with real workers', () => {
  let t: TestServer;
  let fake: FakeOpenAI;
  let workers: WorkerProcess[] = [];
  let baseEnv: Record<string, string>;

  before(async () => {
    fake = await startFakeOpenAI();
    t = await startTestServer();
    baseEnv = {
      EVENTS_DB_DSN: t.db.url,
      EMBEDDING_PROVIDER: 'local',
      POLL_INTERVAL_MS: '100',
    };
  });
  afterEach(async () => {
    await stopWorkers(workers, 'SIGTERM');
    workers = [];
  });
  after(async () => {
    await t.stop();
    await fake.close();
  });

  const startWorker = (id: string, extractor: 'rules' | 'llm') => {
    const env =
      extractor === 'rules'
        ? { ...baseEnv, EVENT_EXTRACTOR: 'rules' }
        : {
            ...baseEnv,
            EVENT_EXTRACTOR: 'llm',
            OPENAI_BASE_URL: fake.url,
            OPENAI_API_KEY: 'sk-test',
            OPENAI_MAX_RETRIES: '0',
          };
    const worker = spawnWorker(id, env);
    workers.push(worker);
    return worker;
  };
  const jobDone = (jobId: unknown) =>
    eventually(
      async () => {
        const [row] = await t.db.sql<JobRow[]>`select * from event_jobs where job_id = ${String(jobId)}`;
        if (row?.status === 'FAILED')
          assert.fail(`job failed: ${row.last_error_code} ${row.last_error_message}`);
        return row?.status === 'DONE' ? row : undefined;
      },
      60_000,
      `job ${String(jobId)} DONE`,
    );
  const ingest = async (sourceId: string, content: string, artifactType = 'transcript') => {
    const answer = await t.call('artifact_ingest', {
      artifact_type: artifactType,
      source_system: 'zoom',
      source_id: sourceId,
      title: 'Platform weekly',
      participants: ['Alice', 'Bob', 'Carol', 'Dan', 'Erin'],
      ts: '2025-03-03T09:00:00Z',
      content,
    });
    assert.equal(answer.isError, false, JSON.stringify(answer.data));
    return answer.data;
  };
  const revisionText = async (artifactId: unknown, revisionId?: unknown) => {
    const got = await t.call('artifact_get', {
      artifact_id: artifactId,
      ...(revisionId !== undefined ? { revision_id: revisionId } : {}),
      include_content: true,
      include_chunks: true,
    });
    assert.equal(got.isError, false, JSON.stringify(got.data));
    return got.data as Record<string, unknown> & {
      content: string;
      chunks: ChunkAnswer[];
      is_latest: boolean;
    };
  };

  /**
   * What a user checks: every quote is the revision text at its offsets, and lies inside the chunk
   * its chunk_id names. Returns the chunk index of every quote.
   */
  const assertQuotesMatch = (
    list: EventAnswer[],
    revision: { content: string; chunks: ChunkAnswer[] },
  ): number[] => {
    const chunks = new Map(revision.chunks.map((chunk) => [chunk.chunk_id, chunk]));
    const indexes: number[] = [];
    for (const event of list) {
      assert.ok(event.evidence !== undefined && event.evidence.length > 0, event.narrative);
      for (const evidence of event.evidence) {
        assert.equal(
          revision.content.slice(evidence.start_char, evidence.end_char),
          evidence.quote,
          `quote ${JSON.stringify(evidence.quote)} at [${evidence.start_char}, ${evidence.end_char})`,
        );
        const chunk = chunks.get(String(evidence.chunk_id));
        assert.ok(chunk !== undefined, `chunk ${evidence.chunk_id} is one of the revision's chunks`);
        assert.ok(chunk.start_char <= evidence.start_char && evidence.end_char <= chunk.end_char);
        indexes.push(chunk.chunk_index);
      }
    }
    return indexes;
  };

  test('rules extractor, a transcript of 10+ chunks: every quote equals the artifact text at its offsets', async () => {
    const content = transcript({ at80: [DECISION, COMMITMENT], at90: [RISK] });
    const ingested = await ingest('standup-rules', content);
    assert.equal(ingested.is_chunked, true);
    assert.ok((ingested.num_chunks as number) >= 10, `num_chunks ${ingested.num_chunks}`);
    startWorker('w-rules', 'rules');
    await jobDone(ingested.job_id);

    const revision = await revisionText(ingested.artifact_id);
    assert.equal(revision.content, content, 'artifact_get returns the exact text');
    const listed = events(
      await t.call('event_list_for_revision', {
        artifact_uid: ingested.artifact_uid,
        include_evidence: true,
      }),
    );
    const indexes = assertQuotesMatch(listed, revision);
    const late = Math.floor((ingested.num_chunks as number) * 0.7);
    assert.ok(
      indexes.filter((index) => index >= late).length >= 3,
      `quotes from late chunks: ${indexes.join(', ')}`,
    );
    for (const phrase of [
      'retire the legacy billing API',
      'send the migration guide',
      'data residency audit',
    ]) {
      assert.ok(
        listed.some((event) => event.evidence!.some((evidence) => evidence.quote.includes(phrase))),
        `an event quotes "${phrase}"`,
      );
    }

    // The same holds for what event_search and event_get answer.
    const found = events(
      await t.call('event_search', { query: 'legacy billing API', artifact_uid: ingested.artifact_uid }),
    );
    assert.ok(found.length >= 1);
    assertQuotesMatch(found, revision);
    for (const event of found) {
      assert.equal(event.revision_id, ingested.revision_id);
      assert.equal(event.artifact_id, ingested.artifact_id);
      assert.equal(event.is_latest, true);
      const one = await t.call('event_get', { event_id: event.event_id });
      assertQuotesMatch([one.data.event as EventAnswer], revision);
    }
  });

  test('llm extractor, quotes answered from a late chunk: every quote equals the artifact text at its offsets', async () => {
    const keys = [DECISION, COMMITMENT, RISK].map((line) => line.slice(line.indexOf(': ') + 2));
    const seen: number[] = [];
    fake.onChat(
      scriptedModel((text, chunkIndex) => {
        seen.push(chunkIndex);
        const found = keys.filter((sentence) => text.includes(sentence));
        return found.map((sentence, i) => ({
          category: ['Decision', 'Commitment', 'QualityRisk'][keys.indexOf(sentence)],
          narrative: sentence,
          event_time: null,
          subject: { type: 'project', ref: 'billing' },
          actors: [],
          confidence: 0.9,
          // As models do: the first quote verbatim, the others re-spaced and re-cased.
          evidence: [
            {
              quote: i === 0 ? sentence : sentence.toLowerCase().replace(/ /g, '  '),
              chunk_index: chunkIndex,
            },
          ],
        }));
      }),
    );
    const content = transcript({ at80: [], at90: [DECISION, COMMITMENT, RISK] });
    const ingested = await ingest('standup-llm', content);
    assert.ok((ingested.num_chunks as number) >= 10, `num_chunks ${ingested.num_chunks}`);
    startWorker('w-llm', 'llm');
    await jobDone(ingested.job_id);
    assert.ok(seen.length >= 10, 'the model read every chunk');

    const revision = await revisionText(ingested.artifact_id);
    const listed = events(
      await t.call('event_list_for_revision', {
        artifact_uid: ingested.artifact_uid,
        include_evidence: true,
      }),
    );
    assert.equal(listed.length, 3, JSON.stringify(listed.map((e) => e.narrative)));
    const indexes = assertQuotesMatch(listed, revision);
    const keyChunk = revision.chunks.find((chunk) => chunk.text.includes(DECISION))!;
    assert.ok(keyChunk.chunk_index >= 8, `the key sentences are in chunk ${keyChunk.chunk_index}`);
    assert.ok(
      indexes.every((index) => index >= 8),
      indexes.join(', '),
    );
    for (const [i, key] of keys.entries()) {
      const event = listed.find((e) => e.narrative === key)!;
      assert.equal(event.evidence![0]!.quote, key, 'the source text, whatever spacing the model used');
      assert.equal(event.evidence![0]!.start_char, content.indexOf(key), `offset of key ${i}`);
    }
  });

  test('a decision changed in revision 2: current by default, superseded on request, old text and evidence exact', async () => {
    const decisionModel = scriptedModel((text, chunkIndex) => {
      const sentence = /We decided to launch the public beta in [A-Z][a-z]+/.exec(text)?.[0];
      if (sentence === undefined) return [];
      return [
        {
          category: 'Decision',
          narrative: `The team decided to launch the public beta in ${sentence.split(' ').at(-1)}.`,
          event_time: null,
          subject: { type: 'project', ref: 'public beta' },
          actors: [],
          confidence: 0.9,
          evidence: [{ quote: sentence, chunk_index: chunkIndex }],
        },
      ];
    });
    fake.onChat(decisionModel);
    const v1 = transcript({ at80: ['Carol: We decided to launch the public beta in March.'], at90: [] });
    // Revision 2 inserts text early on, so every later offset moves, and changes the decision.
    const v2 = transcript({
      at80: ['Carol: We decided to launch the public beta in May, because the audit slipped.'],
      at90: [],
    }).replace('[00:00:00] Alice:', '[00:00:00] Alice: (late joiners: see the notes in the doc 📝)');
    const first = await ingest('beta-plan', v1, 'doc');
    startWorker('w-rev', 'llm');
    await jobDone(first.job_id);
    const second = await ingest('beta-plan', v2, 'doc');
    assert.equal(second.status, 'new_revision');
    await jobDone(second.job_id);

    // Default: only the current decision.
    const current = events(await t.call('event_search', { query: 'decision about the public beta launch' }));
    assert.deepEqual(
      current.map((e) => [e.revision_id, e.is_latest]),
      [[second.revision_id, true]],
    );
    assert.match(current[0]!.narrative, /May/);
    const currentTotal = await t.call('event_search', { query: 'public beta' });
    assert.equal(currentTotal.data.total, 1);
    assert.deepEqual(currentTotal.data.filters_applied, { query: 'public beta' });

    // On request: both, each flagged.
    const both = await t.call('event_search', { query: 'public beta', include_superseded: true });
    assert.equal(both.data.total, 2);
    assert.deepEqual(both.data.filters_applied, { query: 'public beta', include_superseded: true });
    const byRevision = new Map(events(both).map((e) => [e.revision_id, e]));
    assert.equal(byRevision.get(String(second.revision_id))?.is_latest, true);
    const old = byRevision.get(String(first.revision_id))!;
    assert.equal(old.is_latest, false);
    assert.match(old.narrative, /March/);

    // The old revision's text is readable, and its evidence matches it exactly (not the new text).
    const oldRevision = await revisionText(first.artifact_id, first.revision_id);
    assert.equal(oldRevision.content, v1);
    assert.equal(oldRevision.revision_id, first.revision_id);
    assert.equal(oldRevision.is_latest, false);
    assertQuotesMatch([old], oldRevision);
    assert.equal(old.evidence![0]!.quote, 'We decided to launch the public beta in March');
    assert.notEqual(
      v2.slice(old.evidence![0]!.start_char, old.evidence![0]!.end_char),
      old.evidence![0]!.quote,
    );
    const newRevision = await revisionText(first.artifact_id);
    assert.equal(newRevision.content, v2);
    assert.equal(newRevision.is_latest, true);
    assertQuotesMatch([byRevision.get(String(second.revision_id))!], newRevision);

    // Every event tool says which revision an event is from and whether it is current.
    const got = await t.call('event_get', { event_id: old.event_id });
    assert.equal((got.data.event as EventAnswer).is_latest, false);
    assert.equal((got.data.event as EventAnswer).revision_id, first.revision_id);
    const listedOld = await t.call('event_list_for_revision', {
      artifact_uid: first.artifact_uid,
      revision_id: first.revision_id,
      include_evidence: true,
    });
    assert.deepEqual(
      events(listedOld).map((e) => [e.revision_id, e.is_latest]),
      [[first.revision_id, false]],
    );
    assertQuotesMatch(events(listedOld), oldRevision);
    const hybrid = await t.call('hybrid_search', {
      query: 'decided to launch the public beta',
      include_events: true,
    });
    const eventHits = (hybrid.data.results as Array<EventAnswer & { kind: string }>).filter(
      (r) => r.kind === 'event',
    );
    assert.ok(eventHits.every((e) => e.is_latest === true && typeof e.revision_id === 'string'));
    assert.deepEqual(
      eventHits.filter((e) => e.artifact_uid === first.artifact_uid).map((e) => [e.revision_id, e.is_latest]),
      [[second.revision_id, true]],
    );
  });

  test('an unknown revision, or a revision of another artifact, is NOT_FOUND and writes nothing', async () => {
    const a = await ingest('bad-input-a', 'Note A. We decided to keep the old logo.', 'note');
    const b = await ingest('bad-input-b', 'Note B. We decided to drop the mascot.', 'note');
    const snapshot = () => t.db.sql`
      select (select count(*)::int from artifact_revision) as revisions,
             (select count(*)::int from semantic_event) as events,
             (select count(*)::int from event_evidence) as evidence,
             (select json_agg(json_build_object('id', job_id, 'status', status, 'attempts', attempts,
                                                'updated', updated_at) order by job_id) from event_jobs) as jobs`;
    const [before] = await snapshot();

    const calls: Array<[string, Record<string, unknown>, RegExp]> = [
      ['artifact_get', { artifact_id: a.artifact_id, revision_id: 'rev_0000000000000000' }, /rev_0+.*art_/],
      [
        'artifact_get',
        { artifact_id: a.artifact_id, revision_id: b.revision_id, include_content: true },
        /of artifact/,
      ],
      [
        'event_list_for_revision',
        { artifact_uid: a.artifact_uid, revision_id: b.revision_id },
        /of artifact/,
      ],
      [
        'event_reextract',
        { artifact_uid: a.artifact_uid, revision_id: b.revision_id, force: true },
        /of artifact/,
      ],
      ['job_status', { artifact_uid: a.artifact_uid, revision_id: b.revision_id }, /of artifact/],
    ];
    for (const [tool, args, message] of calls) {
      const answer = await t.call(tool, args);
      assert.equal(answer.isError, true, `${tool} ${JSON.stringify(answer.data)}`);
      assert.equal(answer.data.error?.code, 'NOT_FOUND', tool);
      assert.match(answer.data.error!.message, message);
      assert.ok(
        answer.data.error!.message.includes(String(args.revision_id)),
        'the message names the revision',
      );
    }
    for (const [tool, args, field] of [
      ['artifact_get', { artifact_id: a.artifact_id, revision_id: 'rev_123' }, 'revision_id'],
      ['event_search', { include_superseded: 'yes' }, 'include_superseded'],
    ] as const) {
      const answer = await t.call(tool, args);
      assert.equal(answer.data.error?.code, 'VALIDATION_ERROR', tool);
      assert.equal(answer.data.error?.details?.field, field);
    }
    const [afterCalls] = await snapshot();
    assert.deepEqual(afterCalls, before, 'nothing was written');

    // The artifact's own revision is found, of course.
    const own = await t.call('artifact_get', { artifact_id: a.artifact_id, revision_id: a.revision_id });
    assert.equal(own.isError, false);
    assert.equal(own.data.revision_id, a.revision_id);
  });
});

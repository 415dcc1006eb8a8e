/**
 * Conversational recall through the MCP client: history_search (words, paraphrases, filters),
 * hybrid memory_search, memories and turns in Postgres (pg_dump), and the one-time copy of
 * index-only records from a store written before sql/006.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createEmbedder } from '../src/providers/embedders.js';
import { connect } from '../src/store/connect.js';
import { migrate, readMigrations } from '../src/store/migrate.js';
import { createChromaIndex } from '../src/vectors/chroma.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { createEmptyDatabase } from './helpers/database.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);

interface TurnAnswer {
  conversation_id: string;
  turn_index: number;
  role: string;
  speaker: string | null;
  content: string;
  ts: string;
  score: number;
  channels: Record<string, number>;
}

const TRIP = [
  ['Dana', 'user', '2025-03-01T09:00:00Z', 'We booked the cabin near Lake Wakatipu for the autumn holiday.'],
  ['Eli', 'assistant', '2025-03-01T09:01:00Z', 'Great, I will add the ferry times to the shared calendar.'],
  ['Dana', 'user', '2025-03-08T18:30:00Z', 'My daughter started playing the violin at school this term.'],
  ['Eli', 'assistant', '2025-03-08T18:31:00Z', 'The quarterly budget review moved to Thursday afternoon.'],
  ['Dana', 'user', '2025-04-02T07:15:00Z', 'The budget for the holiday cabin is fine, the ferry was cheap.'],
  ['Eli', 'assistant', '2025-04-02T07:16:00Z', 'Remember to renew the passport before the holiday.'],
] as const;

describe('conversational recall', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
    for (const [i, [speaker, role, ts, content]] of TRIP.entries()) {
      const answer = await t.call('history_append', {
        conversation_id: 'trip',
        turn_index: i,
        role,
        speaker,
        ts,
        content,
      });
      assert.equal(answer.isError, false, JSON.stringify(answer.data));
    }
    // Another conversation with the same words: conversation_id must keep it out.
    await t.call('history_append', {
      conversation_id: 'other',
      turn_index: 0,
      role: 'user',
      content: 'Wakatipu is a lake in New Zealand.',
    });
  });
  after(() => t.stop());

  const search = async (args: Record<string, unknown>) => {
    const answer = await t.call('history_search', args);
    assert.equal(answer.isError, false, JSON.stringify(answer.data));
    return answer.data.turns as TurnAnswer[];
  };

  test('history_append keeps ts and speaker; history_get reads them back in order', async () => {
    const history = await t.call('history_get', { conversation_id: 'trip', limit: 2 });
    const turns = history.data.turns as TurnAnswer[];
    assert.deepEqual(
      turns.map((turn) => [turn.turn_index, turn.speaker, turn.ts]),
      [
        [4, 'Dana', '2025-04-02T07:15:00.000Z'],
        [5, 'Eli', '2025-04-02T07:16:00.000Z'],
      ],
    );
    assert.equal(history.data.total, 6);
  });

  test('a rare word finds its turn through BM25', async () => {
    const turns = await search({ query: 'Wakatipu', conversation_id: 'trip' });
    assert.equal(turns[0]?.turn_index, 0);
    assert.equal(turns[0]?.conversation_id, 'trip');
    assert.equal(turns[0]?.channels.lexical, 1);
    assert.ok(turns.every((turn) => turn.conversation_id === 'trip'));
    const everywhere = await search({ query: 'Wakatipu' });
    assert.deepEqual(
      everywhere
        .filter((turn) => turn.channels.lexical !== undefined)
        .map((turn) => turn.conversation_id)
        .sort(),
      ['other', 'trip'],
    );
  });

  test('a paraphrase that shares no word with its turn is found by the vectors', async () => {
    // Stemmed, the query's words (violinist, offspring, schoolhous) are none of the turn's (violin,
    // daughter, school): BM25 finds nothing, the character n-grams of the vectors do.
    const turns = await search({
      query: 'violinist offspring at the schoolhouse',
      conversation_id: 'trip',
      limit: 3,
    });
    assert.equal(turns[0]?.turn_index, 2, JSON.stringify(turns));
    assert.equal(turns[0]?.channels.lexical, undefined);
    assert.equal(typeof turns[0]?.channels.vectors, 'number');
  });

  test('since/until and speaker filter the turns', async () => {
    const all = await search({ query: 'holiday budget ferry cabin', conversation_id: 'trip' });
    assert.ok(all.length >= 4);
    const march = await search({
      query: 'holiday budget ferry cabin',
      conversation_id: 'trip',
      since: '2025-03-01',
      until: '2025-03-31T23:59:59Z',
    });
    assert.ok(march.length > 0);
    assert.ok(
      march.every((turn) => turn.ts >= '2025-03-01' && turn.ts < '2025-04'),
      JSON.stringify(march),
    );
    const april = await search({
      query: 'holiday budget ferry cabin',
      conversation_id: 'trip',
      since: '2025-04-01',
    });
    assert.deepEqual(april.map((turn) => turn.turn_index).sort(), [4, 5]);
    const eli = await search({
      query: 'holiday budget ferry cabin',
      conversation_id: 'trip',
      speaker: 'eli',
    });
    assert.ok(eli.length > 0);
    assert.ok(eli.every((turn) => turn.speaker === 'Eli'));
    const users = await search({
      query: 'holiday budget ferry cabin',
      conversation_id: 'trip',
      role: 'user',
    });
    assert.ok(users.length > 0 && users.every((turn) => turn.role === 'user'));
  });

  test('hybrid_search includes turns when asked', async () => {
    const answer = await t.call('hybrid_search', {
      query: 'Wakatipu cabin',
      include_history: true,
      limit: 5,
    });
    assert.equal(answer.isError, false, JSON.stringify(answer.data));
    const results = answer.data.results as Array<{ kind: string; turn_index?: number; channels: object }>;
    assert.equal(results[0]?.kind, 'turn');
    assert.ok('history' in results[0]!.channels);
    const without = await t.call('hybrid_search', { query: 'Wakatipu cabin', limit: 5 });
    assert.ok((without.data.results as Array<{ kind: string }>).every((r) => r.kind !== 'turn'));
  });

  test('a memory is found by an exact identifier that the vectors alone miss', async () => {
    const target =
      'Postmortem notes for INC-4471: a cache stampede after the Tuesday deploy took checkout down for ' +
      'forty minutes; follow-ups are request coalescing, jittered expiry and a load test before releases.';
    const stored = await t.call('memory_store', { content: target, type: 'project', confidence: 0.9 });
    const targetId = (stored.data.memory as { memory_id: string }).memory_id;
    for (const decoy of ['INC-4417', 'INC-4714', 'INC-1447', 'INC-7441', 'INC-4470', 'INC-4472', 'INC-447']) {
      await t.call('memory_store', {
        content: `Incident ${decoy} was closed.`,
        type: 'fact',
        confidence: 0.5,
      });
    }
    const vectorsOnly = await t.server.services.vectors.query(
      'memory',
      (await t.server.services.embedder.embed(['INC-4471'], 'query'))[0]!,
      { limit: 3 },
    );
    assert.notEqual(
      vectorsOnly[0]?.id,
      targetId,
      'the decoys are closer to the query than the target for the vectors',
    );
    const answer = await t.call('memory_search', { query: 'INC-4471' });
    const memories = answer.data.memories as Array<{ memory_id: string; channels: Record<string, number> }>;
    assert.equal(memories[0]?.memory_id, targetId, JSON.stringify(memories));
    assert.equal(memories[0]?.channels.lexical, 1);
  });

  test('memories and turns are in a pg_dump of the database', async () => {
    await t.call('memory_store', {
      content: 'The user takes oat milk in coffee',
      type: 'preference',
      confidence: 1,
    });
    const { stdout } = await run(
      'pg_dump',
      ['--data-only', '--table=memory', '--table=conversation_turn', t.db.url],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    assert.match(stdout, /The user takes oat milk in coffee/);
    assert.match(stdout, /We booked the cabin near Lake Wakatipu/);
    assert.match(stdout, /COPY public\.conversation_turn/);
  });

  test('bad input is a VALIDATION_ERROR naming the field, and nothing is written', async () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['history_search', { query: '' }, 'query', /must not be empty/],
      ['history_search', { query: '   ' }, 'query', /blank/],
      ['history_search', { query: 'x', since: '2025-05-01', until: '2025-04-01' }, 'until', /before since/],
      ['history_search', { query: 'x', role: 'robot' }, 'role', /user, assistant, system/],
      ['history_search', { query: 'x', limit: 51 }, 'limit', /1 to 50/],
      ['history_search', { query: 'x', since: 'last week' }, 'since', /ISO 8601/],
      ['memory_search', { query: '' }, 'query', /must not be empty/],
      [
        'history_append',
        { conversation_id: 'bad', role: 'robot', content: 'x', turn_index: 0 },
        'role',
        /user/,
      ],
      [
        'history_append',
        { conversation_id: 'bad', role: 'user', content: 'x', turn_index: 0, ts: 'yesterday' },
        'ts',
        /ISO 8601/,
      ],
      [
        'history_append',
        { conversation_id: 'bad', role: 'user', content: 'x', turn_index: 0, speaker: '' },
        'speaker',
        /at least 1/,
      ],
    ];
    for (const [tool, args, field, rule] of cases) {
      const answer = await t.call(tool, args);
      assert.equal(answer.isError, true, `${tool} ${JSON.stringify(args)}`);
      assert.equal(answer.data.error?.code, 'VALIDATION_ERROR');
      assert.equal(answer.data.error?.details?.field, field, `${tool} ${JSON.stringify(args)}`);
      assert.match(answer.data.error?.message ?? '', rule);
    }
    const [row] = await t.db
      .sql`select count(*)::int as n from conversation_turn where conversation_id = 'bad'`;
    assert.equal(row?.n, 0);
    assert.equal(await t.server.services.vectors.count('history'), TRIP.length + 1);
  });
});

describe('a store written before memories and turns moved to Postgres', () => {
  let chroma: TestChroma;
  let db: { name: string; url: string; drop(): Promise<void> };
  let t: TestServer | undefined;
  before(async () => {
    [chroma, db] = await Promise.all([startTestChroma(), createEmptyDatabase()]);
  });
  after(async () => {
    await t?.stop();
    await chroma?.destroy();
    await db?.drop();
  });

  test('start copies the index-only memories and turns into Postgres once, and says how many', async () => {
    // The old schema (before 006), and records written the old way: in the index alone.
    const sql = connect(db.url, { max: 1 });
    try {
      await migrate(
        sql,
        readMigrations().filter((file) => file.name < '006'),
      );
    } finally {
      await sql.end();
    }
    const embedder = createEmbedder(loadConfig({}));
    const index = createChromaIndex({ url: chroma.url, space: embedder.space });
    await index.open();
    const texts = ['The user prefers dark mode', 'Deploys happen on Tuesdays'];
    const vectors = await embedder.embed(texts, 'document');
    await index.upsert('memory', [
      {
        id: 'mem_0123456789ab',
        embedding: vectors[0]!,
        document: texts[0]!,
        metadata: {
          type: 'preference',
          confidence: 0.9,
          ts: '2025-01-02T03:04:05.000Z',
          ts_epoch: 1735787045,
        },
      },
      {
        id: 'mem_ba9876543210',
        embedding: vectors[1]!,
        document: texts[1]!,
        metadata: {
          type: 'fact',
          confidence: 0.5,
          ts: '2025-01-03T03:04:05.000Z',
          ts_epoch: 1735873445,
          conversation_id: 'c1',
        },
      },
    ]);
    const turnTexts = ['hello from the old days', 'the answer was forty-two'];
    const turnVectors = await embedder.embed(turnTexts, 'document');
    await index.upsert(
      'history',
      turnTexts.map((text, i) => ({
        id: `old-chat_turn_${i}`,
        embedding: turnVectors[i]!,
        document: text,
        metadata: {
          conversation_id: 'old-chat',
          role: i === 0 ? 'user' : 'assistant',
          turn_index: i,
          ts: `2024-12-0${i + 1}T10:00:00.000Z`,
        },
      })),
    );

    const shared = { db: { ...db, sql: connect(db.url, { max: 1 }) }, chroma };
    try {
      t = await startTestServer({}, shared);
      const listed = await t.call('memory_list', {});
      assert.deepEqual(
        (
          listed.data.memories as Array<{ memory_id: string; ts: string; conversation_id: string | null }>
        ).map((m) => [m.memory_id, m.ts, m.conversation_id]),
        [
          ['mem_ba9876543210', '2025-01-03T03:04:05.000Z', 'c1'],
          ['mem_0123456789ab', '2025-01-02T03:04:05.000Z', null],
        ],
      );
      assert.equal(listed.data.total, 2);
      const history = await t.call('history_get', { conversation_id: 'old-chat' });
      assert.deepEqual(
        (history.data.turns as TurnAnswer[]).map((turn) => [
          turn.turn_index,
          turn.role,
          turn.content,
          turn.ts,
        ]),
        [
          [0, 'user', 'hello from the old days', '2024-12-01T10:00:00.000Z'],
          [1, 'assistant', 'the answer was forty-two', '2024-12-02T10:00:00.000Z'],
        ],
      );
      const found = await t.call('history_search', { query: 'forty-two' });
      assert.equal((found.data.turns as TurnAnswer[])[0]?.turn_index, 1);
      const copies = await shared.db.sql`select collection, copied from vector_copy order by collection`;
      assert.deepEqual(
        copies.map((row) => [row.collection, row.copied]),
        [
          ['history', 2],
          ['memory', 2],
        ],
      );
      // Deleted in Postgres, the memory must not come back at the next start.
      await t.call('memory_delete', { memory_id: 'mem_0123456789ab' });
      await t.stop();
      t = await startTestServer({}, shared);
      const again = await t.call('memory_list', {});
      assert.equal(again.data.total, 1);
    } finally {
      await t?.stop();
      t = undefined;
      await shared.db.sql.end();
    }
  });
});

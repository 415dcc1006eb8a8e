/**
 * Bad input through the real MCP client: bytes that cannot be stored, dates outside years 1 to
 * 9999, integers past 2^53, links that are not http/https/mailto. Each answer is a
 * VALIDATION_ERROR naming the field, and nothing is written anywhere (every table of the schema
 * and every vector collection keeps its row count).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_TURN_INDEX } from '../src/domain/history.js';
import { snapshot, startTestServer, type TestServer } from './helpers/server.js';

const note = { artifact_type: 'note', source_system: 'tests', content: 'A short note about the launch.' };
const turn = { conversation_id: 'conv-1', role: 'user', content: 'hello', turn_index: 0 };
const memory = { content: 'Prefers tea over coffee', type: 'preference', confidence: 0.9 };

export const BAD_CALLS: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ['memory_store', { ...memory, content: 'tea\u0000coffee' }, 'content', /NUL/],
  ['memory_store', { ...memory, content: 'tea \ud800 coffee' }, 'content', /well-formed Unicode/],
  ['memory_store', { ...memory, content: 'tea \udc00' }, 'content', /well-formed Unicode/],
  ['memory_store', { ...memory, conversation_id: 'c\u0000' }, 'conversation_id', /NUL/],
  ['memory_search', { query: 'x\ud83d' }, 'query', /well-formed Unicode/],
  ['history_append', { ...turn, conversation_id: 'conv\u0000' }, 'conversation_id', /NUL/],
  ['history_append', { ...turn, content: '\udfff' }, 'content', /well-formed Unicode/],
  ['history_append', { ...turn, turn_index: 1e308 }, 'turn_index', /integer from 0 to 2147483647/],
  ['history_append', { ...turn, turn_index: 2 ** 53 }, 'turn_index', /integer from 0 to 2147483647/],
  ['history_append', { ...turn, turn_index: 2 ** 31 }, 'turn_index', /integer from 0 to 2147483647/],
  ['history_get', { conversation_id: '\u0000' }, 'conversation_id', /NUL/],
  ['artifact_ingest', { ...note, content: 'launch\u0000notes' }, 'content', /NUL/],
  ['artifact_ingest', { ...note, content: `launch ${'\ud800'}` }, 'content', /well-formed Unicode/],
  ['artifact_ingest', { ...note, title: 'T\u0000' }, 'title', /NUL/],
  ['artifact_ingest', { ...note, author: '\udc01' }, 'author', /well-formed Unicode/],
  ['artifact_ingest', { ...note, source_id: 'id\u0000' }, 'source_id', /NUL/],
  ['artifact_ingest', { ...note, source_system: '\ud800' }, 'source_system', /well-formed Unicode/],
  ['artifact_ingest', { ...note, participants: ['Ana', 'B\u0000b'] }, 'participants.1', /NUL/],
  ['artifact_ingest', { ...note, participants: ['\ud800'] }, 'participants.0', /well-formed Unicode/],
  ['artifact_ingest', { ...note, ts: '0000-01-01' }, 'ts', /years 0001 to 9999/],
  ['artifact_ingest', { ...note, ts: '0001-01-01T00:00:00+01:00' }, 'ts', /years 0001 to 9999/],
  ['artifact_ingest', { ...note, ts: '2025-02-30' }, 'ts', /ISO 8601/],
  ['artifact_ingest', { ...note, ts: '2023-02-29' }, 'ts', /ISO 8601/],
  ['artifact_ingest', { ...note, ts: '+010000-01-01' }, 'ts', /ISO 8601/],
  ['artifact_ingest', { ...note, source_url: 'javascript:alert(1)' }, 'source_url', /http, https or mailto/],
  [
    'artifact_ingest',
    { ...note, source_url: 'data:text/html,<b>x</b>' },
    'source_url',
    /http, https or mailto/,
  ],
  ['artifact_ingest', { ...note, source_url: 'file:///etc/passwd' }, 'source_url', /http, https or mailto/],
  ['artifact_ingest', { ...note, source_url: 'https://x.example/\u0000' }, 'source_url', /NUL/],
  ['artifact_search', { query: 'q', time_range_start: '0000-12-31' }, 'time_range_start', /years/],
  ['artifact_search', { query: 'q', source_system: 's\u0000' }, 'source_system', /NUL/],
  ['artifact_search', { query: 'q', limit: 1e308 }, 'limit', /integer from 1 to 50/],
  ['hybrid_search', { query: 'q', filters: { source_system: '\ud800' } }, 'filters.source_system', /Unicode/],
  [
    'hybrid_search',
    { query: 'q', filters: { time_range_end: '0000-01-01' } },
    'filters.time_range_end',
    /years/,
  ],
  ['hybrid_search', { query: 'q\u0000' }, 'query', /NUL/],
  ['event_search', { query: 'decision \udbff' }, 'query', /well-formed Unicode/],
  ['event_search', { time_from: '0000-06-01' }, 'time_from', /years/],
  ['event_search', { limit: -1e308 }, 'limit', /integer from 1 to 100/],
  ['memory_list', { 'type\u0000': 'fact' }, 'input', /field names must not contain NUL/],
];

describe('bad input is a VALIDATION_ERROR naming the field, and nothing is written', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t?.stop());

  for (const [tool, args, field, rule] of BAD_CALLS) {
    test(`${tool} ${JSON.stringify(args).slice(0, 90)} → ${field}`, async () => {
      const before = await snapshot(t);
      const answer = await t.call(tool, args);
      assert.equal(answer.isError, true);
      assert.equal(answer.data.error?.code, 'VALIDATION_ERROR', JSON.stringify(answer.data));
      assert.equal(answer.data.error?.details?.field, field);
      assert.match(answer.data.error!.message, rule);
      assert.deepEqual(await snapshot(t), before);
    });
  }

  test('the limits are not too strict: surrogate pairs, year 1, year 9999, mailto and the largest turn_index are stored', async () => {
    const ingested = await t.call('artifact_ingest', {
      ...note,
      content: 'Launch notes 🚀 with an emoji (a surrogate pair) and 日本語.',
      title: '🚀',
      participants: ['Zoë', '😀'],
      ts: '0001-01-01',
      source_url: 'mailto:team@example.com',
    });
    assert.equal(ingested.isError, false, JSON.stringify(ingested.data));
    const late = await t.call('artifact_ingest', {
      ...note,
      content: 'Another note, far in the future.',
      ts: '9999-12-31T23:59:59Z',
      source_url: 'http://example.com/a',
    });
    assert.equal(late.isError, false, JSON.stringify(late.data));
    const appended = await t.call('history_append', { ...turn, turn_index: MAX_TURN_INDEX });
    assert.equal(appended.isError, false, JSON.stringify(appended.data));
    const got = await t.call('artifact_get', {
      artifact_id: ingested.data.artifact_id,
      include_content: true,
    });
    assert.equal(got.data.title, '🚀');
    assert.deepEqual(got.data.participants, ['Zoë', '😀']);
    assert.equal(got.data.source_url, 'mailto:team@example.com');
    assert.equal(got.data.ts, '0001-01-01T00:00:00.000Z');
  });
});

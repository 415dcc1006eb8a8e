import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import {
  createLlmExtractor,
  EXTRACTION_SYSTEM_PROMPT,
  eventsJsonSchema,
  MERGE_SYSTEM_PROMPT,
  parseAnswer,
  toStrictJsonSchema,
} from '../src/domain/extraction/llm.js';
import { CATEGORIES, type ExtractedEvent, type ExtractionInput } from '../src/domain/extraction/types.js';
import { AppError } from '../src/errors.js';
import { rejection } from './helpers/assertions.js';
import { type ChatRequestBody, type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';

const API_KEY = 'sk-test-secret-0123456789abcdef';

function input(texts: string[]): ExtractionInput {
  let offset = 0;
  const chunks = texts.map((text, index) => {
    const chunk = {
      chunkId: `art_x::chunk::${index}`,
      index,
      startChar: offset,
      endChar: offset + text.length,
      text,
    };
    offset += text.length;
    return chunk;
  });
  return {
    artifactUid: 'uid_0123456789abcdef',
    revisionId: 'rev_0123456789abcdef',
    artifactType: 'email',
    title: 'Pricing',
    author: 'Alice',
    participants: ['Alice', 'Bob'],
    ts: new Date('2024-05-13T09:00:00Z'),
    content: texts.join(''),
    chunks,
  };
}

function event(quote: string, chunkIndex = 0, overrides: Partial<ExtractedEvent> = {}): ExtractedEvent {
  return {
    category: 'Decision',
    narrative: `Decided: ${quote}`,
    event_time: null,
    subject: { type: 'project', ref: 'pricing' },
    actors: [{ ref: 'Alice', role: 'owner' }],
    confidence: 0.9,
    evidence: [{ quote, chunk_index: chunkIndex }],
    ...overrides,
  };
}

const answer = (...events: unknown[]) => JSON.stringify({ events });

function userMessage(body: ChatRequestBody): string {
  return body.messages.find((message) => message.role === 'user')?.content ?? '';
}

function systemMessage(body: ChatRequestBody): string {
  return body.messages.find((message) => message.role === 'system')?.content ?? '';
}

/** Calls `check` on every object schema found in `schema`. */
function everyObject(schema: unknown, check: (node: Record<string, unknown>) => void): number {
  if (Array.isArray(schema)) return schema.reduce((n: number, item) => n + everyObject(item, check), 0);
  if (schema === null || typeof schema !== 'object') return 0;
  const node = schema as Record<string, unknown>;
  let count = 0;
  if (node.type === 'object') {
    check(node);
    count++;
  }
  for (const value of Object.values(node)) count += everyObject(value, check);
  return count;
}

describe('toStrictJsonSchema', () => {
  test('closes every object, requires every property and strips unsupported keywords', () => {
    const source = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 10, format: 'email', description: 'who' },
        when: { anyOf: [{ type: 'string', format: 'date-time' }, { type: 'null' }] },
        tags: {
          type: 'array',
          minItems: 1,
          maxItems: 3,
          items: { type: 'object', properties: { label: { type: 'string', pattern: '^a' } } },
        },
        score: { type: ['number', 'null'], minimum: 0, maximum: 1, exclusiveMinimum: 0 },
        kind: { type: 'string', enum: ['a', 'b'] },
        extra: { type: 'object', additionalProperties: { type: 'string' } },
      },
      required: ['name'],
    };
    const before = structuredClone(source);
    const strict = toStrictJsonSchema(source);

    assert.deepEqual(source, before, 'the input is not modified');
    assert.deepEqual(strict, {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'who' },
        when: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        tags: {
          type: 'array',
          items: {
            type: 'object',
            properties: { label: { type: 'string' } },
            additionalProperties: false,
            required: ['label'],
          },
        },
        score: { type: ['number', 'null'] },
        kind: { type: 'string', enum: ['a', 'b'] },
        extra: { type: 'object', properties: {}, additionalProperties: false, required: [] },
      },
      required: ['name', 'when', 'tags', 'score', 'kind', 'extra'],
      additionalProperties: false,
    });
  });

  test('the events schema generated from ExtractedEventSchema is strict-mode ready', () => {
    const schema = eventsJsonSchema();
    const objects = everyObject(schema, (node) => {
      assert.equal(node.additionalProperties, false);
      assert.deepEqual(node.required, Object.keys(node.properties as object));
    });
    assert.equal(objects, 5, 'root, event, subject, actor, evidence');
    const serialized = JSON.stringify(schema);
    for (const keyword of ['format', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', '$schema']) {
      assert.ok(!serialized.includes(`"${keyword}"`), `${keyword} is stripped`);
    }
    assert.ok(serialized.includes(JSON.stringify([...CATEGORIES])), 'categories stay an enum');
  });
});

describe('prompts', () => {
  test('prompt A states the conservative rules', () => {
    for (const category of CATEGORIES) assert.match(EXTRACTION_SYSTEM_PROMPT, new RegExp(`- ${category}: `));
    assert.match(EXTRACTION_SYSTEM_PROMPT, /explicitly states/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /VERBATIM/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /at most 25 words/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /Never invent names, dates/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /ISO 8601/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /Use null when/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /empty list/);
    assert.match(EXTRACTION_SYSTEM_PROMPT, /person" \| "project" \| "object" \| "other/);
    assert.match(
      EXTRACTION_SYSTEM_PROMPT,
      /owner" \| "contributor" \| "reviewer" \| "stakeholder" \| "other/,
    );
    assert.match(EXTRACTION_SYSTEM_PROMPT, /0 to 1/);
  });

  test('prompt B keeps quotes verbatim with their chunk index', () => {
    assert.match(MERGE_SYSTEM_PROMPT, /VERBATIM/);
    assert.match(MERGE_SYSTEM_PROMPT, /original chunk_index/);
    assert.match(MERGE_SYSTEM_PROMPT, /Do not add events/);
  });

  test('an empty answer or a refusal-like empty content is a transient INVALID_JSON_SCHEMA', () => {
    for (const content of [null, undefined, '', '   ']) {
      assert.throws(
        () => parseAnswer(content, 'chunk 0'),
        (error: unknown) =>
          error instanceof AppError && error.code === 'INVALID_JSON_SCHEMA' && error.transient,
      );
    }
    assert.deepEqual(parseAnswer('```json\n{"events": []}\n```', 'chunk 0'), []);
  });
});

describe('llm extractor against an OpenAI-compatible server', () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());
  // Isolation: a fault a failed test did not consume, or a request still held by a delay, must
  // not reach the next test.
  afterEach(async () => {
    fake.reset();
    await fake.idle();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.onChat(() => answer());
  });

  const extractor = (overrides: { timeoutMs?: number; maxRetries?: number } = {}) =>
    createLlmExtractor({
      apiKey: API_KEY,
      baseUrl: fake.url,
      model: 'gpt-test',
      timeoutMs: 2000,
      maxRetries: 0,
      ...overrides,
    });

  test('the request carries the model, a strict JSON schema and the chunk text', async () => {
    const text = 'We decided to raise the price to $12 starting June 1.';
    fake.onChat(() => answer(event(text)));
    const events = await extractor().extract(input([text]));

    assert.equal(fake.count('chat'), 1);
    const request = fake.requests[0];
    assert.ok(request);
    assert.equal(request.authorization, `Bearer ${API_KEY}`);
    const body = request.body as unknown as ChatRequestBody;
    assert.equal(body.model, 'gpt-test');
    assert.equal(body.temperature, 0);
    const format = body.response_format as {
      type: string;
      json_schema: { name: string; strict: boolean; schema: unknown };
    };
    assert.equal(format.type, 'json_schema');
    assert.equal(format.json_schema.name, 'events');
    assert.equal(format.json_schema.strict, true);
    const objects = everyObject(format.json_schema.schema, (node) => {
      assert.equal(node.additionalProperties, false);
      assert.deepEqual(node.required, Object.keys(node.properties as object));
    });
    assert.ok(objects >= 5);
    assert.equal(systemMessage(body), EXTRACTION_SYSTEM_PROMPT);
    const user = userMessage(body);
    assert.ok(user.includes(`<<<TEXT_BEGIN>>>\n${text}\n<<<TEXT_END>>>`));
    assert.match(user, /date: 2024-05-13T09:00:00.000Z/);
    assert.match(user, /participants: Alice, Bob/);

    assert.equal(events.length, 1);
    assert.equal(events[0]?.category, 'Decision');
    assert.deepEqual(events[0]?.evidence, [{ quote: text, chunk_index: 0 }]);
  });

  test('evidence of a chunk answer points at that chunk, whatever index the model wrote', async () => {
    fake.onChat(() => answer(event('second part', 7)));
    const [only] = await extractor().extract({
      ...input(['second part']),
      chunks: [{ ...input(['second part']).chunks[0]!, index: 3 }],
    });
    assert.equal(only?.evidence[0]?.chunk_index, 3);
  });

  test('two chunks: one call per chunk plus one merge call, returning the merged list', async () => {
    const first = 'Alice will send the contract by Friday.';
    const second = 'Bob approved the budget.';
    const merged = [
      event(first, 0, { category: 'Commitment' }),
      event(second, 1, { actors: [{ ref: 'Bob', role: 'owner' }] }),
    ];
    let mergeBody: ChatRequestBody | undefined;
    fake.onChat((body) => {
      const user = userMessage(body);
      if (systemMessage(body) === MERGE_SYSTEM_PROMPT) {
        mergeBody = body;
        return answer(...merged);
      }
      if (user.includes(first)) return answer(event(first, 0, { category: 'Commitment' }));
      return answer(event(second, 1), event('Bob approved', 1));
    });
    const events = await extractor().extract(input([first, second]));

    assert.equal(fake.count('chat'), 3);
    assert.deepEqual(events, merged);
    assert.ok(mergeBody);
    const user = userMessage(mergeBody);
    assert.ok(user.includes('"chunk_index": 0') && user.includes('"chunk_index": 1'));
    assert.ok(user.includes(first) && user.includes('Bob approved'));
    assert.equal((mergeBody.response_format as { type: string }).type, 'json_schema');
  });

  test('one chunk, or chunks where at most one found events: no merge call', async () => {
    fake.onChat((body) => (userMessage(body).includes('signal') ? answer(event('signal')) : answer()));
    const events = await extractor().extract(input(['noise one. ', 'signal', 'noise two.']));
    assert.equal(fake.count('chat'), 3);
    assert.deepEqual(
      events.map((e) => e.evidence),
      [[{ quote: 'signal', chunk_index: 1 }]],
    );
  });

  test('content that is not JSON is a transient INVALID_JSON_SCHEMA', async () => {
    fake.queue('chat', { kind: 'content', content: 'Sure! Here are the events: none.' });
    const error = await rejection(extractor().extract(input(['Some text.'])));
    assert.equal(error.code, 'INVALID_JSON_SCHEMA');
    assert.equal(error.transient, true);
    assert.match(error.message, /not JSON/);
  });

  test('JSON that violates the schema is INVALID_JSON_SCHEMA, naming what was wrong', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['bad category', event('x', 0, { category: 'Gossip' as never }), /events\.0\.category/],
      ['confidence 2', event('x', 0, { confidence: 2 }), /events\.0\.confidence/],
      ['missing evidence', (({ evidence: _e, ...rest }) => rest)(event('x')), /events\.0\.evidence/],
      ['empty evidence', event('x', 0, { evidence: [] }), /events\.0\.evidence/],
      ['bad event_time', event('x', 0, { event_time: 'next Friday' }), /events\.0\.event_time/],
      ['extra key', { ...event('x'), sentiment: 'good' }, /events\.0\.sentiment/],
    ];
    for (const [name, bad, where] of cases) {
      fake.queue('chat', { kind: 'content', content: answer(bad) });
      const error = await rejection(extractor().extract(input(['Some text.'])));
      assert.equal(error.code, 'INVALID_JSON_SCHEMA', name);
      assert.equal(error.transient, true, name);
      assert.match(error.message, where, name);
    }
    fake.queue('chat', { kind: 'content', content: JSON.stringify({ items: [] }) });
    assert.equal((await rejection(extractor().extract(input(['Some text.'])))).code, 'INVALID_JSON_SCHEMA');
  });

  test('401 is OPENAI_AUTH_ERROR and not transient', async () => {
    fake.queue('chat', { kind: 'status', status: 401, message: 'Incorrect API key provided' });
    const error = await rejection(extractor().extract(input(['Some text.'])));
    assert.equal(error.code, 'OPENAI_AUTH_ERROR');
    assert.equal(error.transient, false);
  });

  test('429 is OPENAI_RATE_LIMIT and transient', async () => {
    fake.queue('chat', { kind: 'status', status: 429, headers: { 'retry-after': '0' } });
    const error = await rejection(extractor({ maxRetries: 0 }).extract(input(['Some text.'])));
    assert.equal(error.code, 'OPENAI_RATE_LIMIT');
    assert.equal(error.transient, true);
    assert.equal(fake.count('chat'), 1);
  });

  test('a slow answer is OPENAI_TIMEOUT and transient', async () => {
    fake.queue('chat', { kind: 'delay', ms: 800 });
    const error = await rejection(extractor({ timeoutMs: 200 }).extract(input(['Some text.'])));
    assert.equal(error.code, 'OPENAI_TIMEOUT');
    assert.equal(error.transient, true);
  });

  test('a failing chunk fails the revision, with no merge call', async () => {
    fake.queue('chat', { kind: 'status', status: 500 });
    fake.onChat(() => answer(event('x')));
    const error = await rejection(extractor().extract(input(['a', 'b'])));
    assert.equal(error.code, 'OPENAI_SERVER_ERROR');
    assert.equal(error.transient, true);
    assert.ok(
      fake.requests.every((r) => systemMessage(r.body as unknown as ChatRequestBody) !== MERGE_SYSTEM_PROMPT),
    );
  });

  test('the API key never appears in an error message', async () => {
    const faults = [
      { kind: 'status', status: 401, message: `Incorrect API key provided: ${API_KEY}` },
      { kind: 'status', status: 403, message: `key ${API_KEY} may not use this model` },
      { kind: 'status', status: 404, code: 'model_not_found' },
      { kind: 'status', status: 400 },
      { kind: 'status', status: 429 },
      { kind: 'status', status: 503 },
      { kind: 'content', content: 'no json' },
      { kind: 'content', content: answer({ bad: true }) },
      { kind: 'invalid-body' },
    ] as const;
    for (const fault of faults) {
      fake.queue('chat', fault);
      const error = await rejection(extractor().extract(input(['Some text.'])));
      const visible = `${error.message} ${JSON.stringify(error.details ?? {})} ${String(error)}`;
      assert.ok(!visible.includes(API_KEY), `${JSON.stringify(fault)}: ${visible}`);
    }
  });
});

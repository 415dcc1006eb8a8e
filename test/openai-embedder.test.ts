import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { AppError, type ErrorCode } from '../src/errors.js';
import { createOpenAIEmbedder, type OpenAIEmbedderOptions } from '../src/providers/openai-embedder.js';
import { redactSecrets, toAppError } from '../src/providers/openai-errors.js';
import { rejection } from './helpers/assertions.js';
import { type FakeOpenAI, type Fault, fakeEmbedding, startFakeOpenAI } from './helpers/openai-server.js';

const SECRET = 'sk-test-SECRET0123456789abcdefXYZ';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A URL where nothing listens: a port that was just given back. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server);
  await close(server);
  return `http://127.0.0.1:${port}/v1`;
}

/** Every string an error could leak through: its message, details, and its causes' messages. */
function everythingSaid(error: AppError): string {
  const parts = [error.message, JSON.stringify(error.details ?? {})];
  for (let cause: unknown = error.cause, depth = 0; cause instanceof Error && depth < 5; depth++) {
    parts.push(cause.message, String((cause as { stack?: string }).stack));
    cause = cause.cause;
  }
  return parts.join('\n');
}

describe('OpenAI embedder', () => {
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

  const embedder = (options: Partial<OpenAIEmbedderOptions> = {}) =>
    createOpenAIEmbedder({
      apiKey: SECRET,
      baseUrl: fake.url,
      model: 'text-embedding-3-small',
      dimensions: 16,
      timeoutMs: 2000,
      maxRetries: 0,
      batchSize: 100,
      ...options,
    });

  test('250 inputs go in 3 requests of at most 100, and come back in order as unit vectors', async () => {
    const texts = Array.from({ length: 250 }, (_, i) => `text number ${i} about topic ${i % 7}`);
    const first = fake.requests.length;
    const vectors = await embedder().embed(texts, 'document');
    const sent = fake.requests.slice(first);
    assert.deepEqual(
      sent.map((r) => (r.body.input as string[]).length),
      [100, 100, 50],
    );
    for (const request of sent) {
      assert.equal(request.body.model, 'text-embedding-3-small');
      assert.equal(request.body.dimensions, 16);
      assert.equal(request.authorization, `Bearer ${SECRET}`);
    }
    assert.deepEqual(
      sent.flatMap((r) => r.body.input as string[]),
      texts,
    );
    assert.equal(vectors.length, 250);
    vectors.forEach((vector, i) => {
      assert.equal(vector.length, 16);
      assert.ok(Math.abs(Math.hypot(...vector) - 1) < 1e-9, `vector ${i} is not unit length`);
      const expected = fakeEmbedding(texts[i] ?? '', 16);
      assert.ok(
        vector.every((x, k) => Math.abs(x - (expected[k] ?? 0)) < 1e-6),
        `vector ${i} is not the one for its text`,
      );
    });
  });

  test('the embedding space, and no request for no texts', async () => {
    const e = embedder({ model: 'text-embedding-3-large', dimensions: 256 });
    assert.deepEqual(e.space, { provider: 'openai', model: 'text-embedding-3-large', dimensions: 256 });
    const count = fake.count('embeddings');
    assert.deepEqual(await e.embed([], 'query'), []);
    assert.equal(fake.count('embeddings'), count);
  });

  test('a model without a dimensions parameter: not sent, and its real size is checked', async () => {
    const first = fake.requests.length;
    const vectors = await embedder({ model: 'nomic-embed-text', dimensions: 64 }).embed(['a b c'], 'query');
    assert.equal(vectors[0]?.length, 64);
    assert.equal('dimensions' in (fake.requests[first]?.body ?? {}), false);

    const error = await rejection(
      embedder({ model: 'nomic-embed-text', dimensions: 32 }).embed(['x'], 'query'),
    );
    assert.equal(error.code, 'EMBEDDING_SPACE_MISMATCH');
    assert.equal(error.transient, false);
    assert.match(error.message, /OPENAI_EMBED_DIMS=64/);
  });

  test('a server that ignores encoding_format and sends floats (Ollama) still gives full, unit vectors', async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            object: 'list',
            model: 'm',
            data: [
              { object: 'embedding', index: 1, embedding: [0, 0, 5, 0, 0, 0, 0, 0] },
              { object: 'embedding', index: 0, embedding: [3, 4, 0, 0, 0, 0, 0, 0] },
            ],
          }),
        );
      });
    });
    const port = await listen(server);
    try {
      const vectors = await createOpenAIEmbedder({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        model: 'nomic-embed-text',
        dimensions: 8,
        timeoutMs: 2000,
        maxRetries: 0,
        batchSize: 10,
      }).embed(['first', 'second'], 'document');
      assert.deepEqual(vectors, [
        [0.6, 0.8, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0],
      ]);
    } finally {
      server.closeAllConnections();
      await close(server);
    }
  });

  test('the client retries transient failures within one call (maxRetries)', async () => {
    const count = fake.count('embeddings');
    fake.queue(
      'embeddings',
      { kind: 'status', status: 500 },
      { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
    );
    const vectors = await embedder({ maxRetries: 2 }).embed(['retry me'], 'document');
    assert.equal(vectors.length, 1);
    assert.equal(fake.count('embeddings') - count, 3);
  });

  const cases: Array<{
    name: string;
    fault: Fault;
    code: ErrorCode;
    transient: boolean;
    says: RegExp;
    details?: Record<string, unknown>;
  }> = [
    {
      name: '401',
      fault: { kind: 'status', status: 401, message: `Incorrect API key provided: ${SECRET}.` },
      code: 'OPENAI_AUTH_ERROR',
      transient: false,
      says: /check OPENAI_API_KEY/,
    },
    {
      name: '403',
      fault: { kind: 'status', status: 403, message: `Project does not have access (key ${SECRET})` },
      code: 'OPENAI_AUTH_ERROR',
      transient: false,
      says: /OPENAI_API_KEY/,
    },
    {
      name: '404 model',
      fault: {
        kind: 'status',
        status: 404,
        code: 'model_not_found',
        message: 'The model `text-embedding-3-small` does not exist or you do not have access to it.',
      },
      code: 'OPENAI_INVALID_MODEL',
      transient: false,
      says: /check OPENAI_EMBED_MODEL/,
    },
    {
      name: '400 unknown model (Ollama)',
      fault: { kind: 'status', status: 400, message: 'model "nomic" not found, try pulling it first' },
      code: 'OPENAI_INVALID_MODEL',
      transient: false,
      says: /OPENAI_EMBED_MODEL/,
    },
    {
      name: '400',
      fault: { kind: 'status', status: 400, message: "'input' is too long" },
      code: 'OPENAI_BAD_REQUEST',
      transient: false,
      says: /input' is too long/,
    },
    {
      name: '429 with retry-after',
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '7' }, message: 'Rate limit reached' },
      code: 'OPENAI_RATE_LIMIT',
      transient: true,
      says: /retry after 7 s/,
      details: { retryAfterSeconds: 7 },
    },
    {
      name: '429 quota exhausted',
      fault: {
        kind: 'status',
        status: 429,
        code: 'insufficient_quota',
        message: 'You exceeded your current quota',
      },
      code: 'OPENAI_RATE_LIMIT',
      transient: false,
      says: /billing/,
    },
    {
      name: '500',
      fault: { kind: 'status', status: 500, message: 'The server had an error' },
      code: 'OPENAI_SERVER_ERROR',
      transient: true,
      says: /500/,
    },
    {
      name: '503',
      fault: { kind: 'status', status: 503 },
      code: 'OPENAI_SERVER_ERROR',
      transient: true,
      says: /503/,
    },
  ];

  for (const c of cases) {
    test(`${c.name} becomes ${c.code} (${c.transient ? 'transient' : 'permanent'}) without the key`, async () => {
      fake.queue('embeddings', c.fault);
      const error = await rejection(embedder().embed(['x'], 'document'));
      assert.equal(error.code, c.code);
      assert.equal(error.transient, c.transient);
      assert.match(error.message, c.says);
      for (const [key, value] of Object.entries(c.details ?? {}))
        assert.deepEqual(error.details?.[key], value);
      assert.ok(!everythingSaid(error).includes(SECRET), everythingSaid(error));
      assert.ok(!everythingSaid(error).includes('SECRET0123'), 'a part of the key leaked');
    });
  }

  test('a slow server becomes OPENAI_TIMEOUT (transient)', async () => {
    fake.queue('embeddings', { kind: 'delay', ms: 1500 });
    const error = await rejection(embedder({ timeoutMs: 200 }).embed(['x'], 'document'));
    assert.equal(error.code, 'OPENAI_TIMEOUT');
    assert.equal(error.transient, true);
    assert.match(error.message, /OPENAI_TIMEOUT/);
    assert.ok(!everythingSaid(error).includes(SECRET));
  });

  test('a refused connection becomes OPENAI_CONNECTION_ERROR (transient) naming the cause', async () => {
    const error = await rejection(embedder({ baseUrl: await closedPortUrl() }).embed(['x'], 'document'));
    assert.equal(error.code, 'OPENAI_CONNECTION_ERROR');
    assert.equal(error.transient, true);
    assert.match(error.message, /connection refused 127\.0\.0\.1:\d+/);
    assert.match(error.message, /OPENAI_BASE_URL/);
    assert.ok(!everythingSaid(error).includes(SECRET));
  });
});

describe('toAppError', () => {
  test('passes AppErrors through and wraps unknown errors as INTERNAL_ERROR without secrets', () => {
    const original = new AppError('NOT_FOUND', 'gone');
    assert.equal(toAppError(original), original);
    const wrapped = toAppError(new Error(`boom with Bearer ${SECRET}`));
    assert.equal(wrapped.code, 'INTERNAL_ERROR');
    assert.equal(wrapped.transient, false);
    assert.ok(!wrapped.message.includes(SECRET), wrapped.message);
  });

  test('redactSecrets removes keys, bearer tokens and a given key of any shape', () => {
    const text = `key sk-proj-abcDEF123456 header Bearer abc.def-ghi api_key=hunter2hunter and custom-key-42`;
    const out = redactSecrets(text, 'custom-key-42');
    for (const secret of ['abcDEF123456', 'abc.def-ghi', 'hunter2hunter', 'custom-key-42']) {
      assert.ok(!out.includes(secret), out);
    }
  });
});

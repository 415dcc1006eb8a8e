import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type FakeOpenAI, startFakeOpenAI } from './helpers/openai-server.js';

// The fault server is what every LLM and embedding test stands on: it must look like OpenAI to
// the real client, including retries on 429/500 and Retry-After.
describe('OpenAI-compatible test server', () => {
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

  const client = (options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0, timeout: 30_000, ...options });

  test('embeddings: one unit vector per input, of the requested dimensions', async () => {
    const result = await client().embeddings.create({ model: 'm', input: ['a b', 'c'], dimensions: 16 });
    assert.equal(result.data.length, 2);
    for (const item of result.data) {
      assert.equal(item.embedding.length, 16);
      assert.ok(Math.abs(Math.hypot(...item.embedding) - 1) < 1e-6);
    }
  });

  test('429 with Retry-After is retried by the client, then answers', async () => {
    const before = fake.count('embeddings');
    fake.queue('embeddings', { kind: 'status', status: 429, headers: { 'retry-after': '0' } });
    const result = await client({ maxRetries: 2 }).embeddings.create({
      model: 'm',
      input: 'x',
      dimensions: 4,
    });
    assert.equal(result.data.length, 1);
    assert.equal(fake.count('embeddings') - before, 2);
  });

  test('401 surfaces as an AuthenticationError', async () => {
    fake.queue('chat', { kind: 'status', status: 401, message: 'bad key' });
    await assert.rejects(
      client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError,
    );
  });

  test('a slow answer times out on the client side', async () => {
    fake.queue('chat', { kind: 'delay', ms: 6000 });
    await assert.rejects(
      client({ timeout: 2000 }).chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (error: unknown) => error instanceof OpenAI.APIConnectionTimeoutError,
    );
    await fake.idle();
    assert.deepEqual(fake.pending('chat'), [], 'the request took the delay');
  });

  test('a delayed request takes no further fault, even once its client has timed out', async () => {
    const stale = { kind: 'status', status: 401, message: 'meant for the next request' } as const;
    // The client gives up long before the answer, yet late enough for its request to arrive and
    // take the delay even on a busy machine.
    fake.queue('chat', { kind: 'delay', ms: 6000 }, stale);
    await assert.rejects(
      client({ timeout: 2000 }).chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'a' }],
      }),
      (error: unknown) => error instanceof OpenAI.APIConnectionTimeoutError,
    );
    await fake.idle();
    assert.deepEqual(fake.pending('chat'), [stale], 'the timed-out request left the 401 queued');
    await assert.rejects(
      client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'b' }] }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError,
    );
    assert.deepEqual(fake.pending('chat'), []);
    // A client that waits gets the normal answer after the delay.
    fake.queue('chat', { kind: 'delay', ms: 100 }, { kind: 'status', status: 500 });
    const slow = await client().chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'c' }],
    });
    assert.equal(slow.choices.length, 1);
    assert.equal(fake.pending('chat').length, 1, 'the 500 is left for the next request');
  });

  test('queueFor: only a request containing the text takes the fault', async () => {
    fake.queueFor('chat', 'beta', { kind: 'status', status: 401, message: 'for beta only' });
    const alpha = await client().chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'alpha' }],
    });
    assert.equal(alpha.choices.length, 1);
    await assert.rejects(
      client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'beta' }] }),
      (error: unknown) => error instanceof OpenAI.AuthenticationError,
    );
    assert.deepEqual(fake.pending('chat'), []);
  });

  test('scripted chat content, and the handler sees the request', async () => {
    fake.onChat((body) => JSON.stringify({ echo: body.messages[0]?.content }));
    const reply = await client().chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'ping' }],
    });
    assert.deepEqual(JSON.parse(reply.choices[0]?.message.content ?? ''), { echo: 'ping' });
    fake.queue('chat', { kind: 'content', content: 'not json at all' });
    const bad = await client().chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(bad.choices[0]?.message.content, 'not json at all');
  });
});

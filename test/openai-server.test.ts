import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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

  const client = (options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0, timeout: 2000, ...options });

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
    fake.queue('chat', { kind: 'delay', ms: 1000 });
    await assert.rejects(
      client({ timeout: 200 }).chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'hi' }],
      }),
      (error: unknown) => error instanceof OpenAI.APIConnectionTimeoutError,
    );
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

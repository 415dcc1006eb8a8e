import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  createLocalEmbedder,
  embedLocal,
  LOCAL_EMBEDDING_DIMENSIONS,
  LOCAL_EMBEDDING_MODEL,
} from '../src/providers/local-embedder.js';

function norm(vector: readonly number[]): number {
  return Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
}

function cosine(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0) / (norm(a) * norm(b));
}

function assertUnitVector(vector: readonly number[], dimensions: number): void {
  assert.equal(vector.length, dimensions);
  assert.ok(
    vector.every((x) => Number.isFinite(x)),
    'every component is finite',
  );
  assert.ok(Math.abs(norm(vector) - 1) < 1e-9, `norm ${norm(vector)} is 1`);
}

function digest(vector: readonly number[]): string {
  return createHash('sha256').update(Float64Array.from(vector)).digest('hex');
}

const ELEPHANT =
  'African elephant - The African bush elephant is the largest living land animal; adult bulls stand up to 4 m tall at the shoulder.';

describe('local embedder', () => {
  test('names its embedding space', () => {
    const embedder = createLocalEmbedder();
    assert.deepEqual(embedder.space, {
      provider: 'local',
      model: LOCAL_EMBEDDING_MODEL,
      dimensions: LOCAL_EMBEDDING_DIMENSIONS,
    });
    assert.equal(createLocalEmbedder(256).space.dimensions, 256);
  });

  test('a non-default tuning is another space', () => {
    const tuned = createLocalEmbedder(LOCAL_EMBEDDING_DIMENSIONS, { leadBoost: 0 });
    assert.notEqual(tuned.space.model, LOCAL_EMBEDDING_MODEL);
    assert.match(tuned.space.model, new RegExp(`^${LOCAL_EMBEDDING_MODEL}\\+[0-9a-f]{8}$`));
  });

  test('rejects a dimension count that is not a positive integer', () => {
    for (const dimensions of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => createLocalEmbedder(dimensions), RangeError);
    }
  });

  test('returns one unit vector per text, in order, of the configured dimensions', async () => {
    for (const dimensions of [64, 1024, 1500]) {
      const embedder = createLocalEmbedder(dimensions);
      const texts = ['first text about cats', 'second text about dogs', ELEPHANT];
      const vectors = await embedder.embed(texts, 'document');
      assert.equal(vectors.length, texts.length);
      for (const vector of vectors) assertUnitVector(vector, dimensions);
      const [second] = await embedder.embed([texts[1] ?? ''], 'document');
      assert.deepEqual(second, vectors[1]);
    }
    assert.deepEqual(await createLocalEmbedder().embed([], 'query'), []);
  });

  test('a large batch lets the event loop run', async () => {
    const text = Array.from({ length: 400 }, (_, i) => `word${i % 97} sentence${i % 13}`).join(' ');
    let ticked = false;
    setImmediate(() => {
      ticked = true;
    });
    let tickedBeforeDone = false;
    await createLocalEmbedder()
      .embed(Array<string>(200).fill(text), 'document')
      .then(() => {
        tickedBeforeDone = ticked;
      });
    assert.ok(tickedBeforeDone, 'a setImmediate callback ran while the batch was embedded');
  });

  test('is deterministic within a process and across processes', () => {
    const first = embedLocal(ELEPHANT, 'document');
    assert.deepEqual(embedLocal(ELEPHANT, 'document'), first);
    // Another process imports the module afresh: nothing learnt, no state, same vector.
    const moduleUrl = new URL('../src/providers/local-embedder.js', import.meta.url).href;
    const script = `
      import { createHash } from 'node:crypto';
      const { embedLocal } = await import(${JSON.stringify(moduleUrl)});
      embedLocal('warm-up text that changes nothing', 'document');
      const v = embedLocal(${JSON.stringify(ELEPHANT)}, 'document');
      process.stdout.write(createHash('sha256').update(Float64Array.from(v)).digest('hex'));`;
    const other = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(other, digest(first));
  });

  test('related texts are closer than unrelated ones', () => {
    const query = embedLocal('How tall is the African elephant?', 'query');
    const related = embedLocal(ELEPHANT, 'document');
    const unrelated = embedLocal(
      'Carbonara is a pasta dish from Rome made with eggs, pecorino and guanciale.',
      'document',
    );
    assert.ok(cosine(query, related) > cosine(query, unrelated) + 0.1);

    const a = embedLocal('The quarterly budget review moved to Thursday afternoon.', 'document');
    const b = embedLocal('We moved the budget review for the quarter to Thursday.', 'document');
    const c = embedLocal('Photosynthesis converts light into chemical energy in plants.', 'document');
    assert.ok(cosine(a, b) > 0.4, `paraphrase similarity ${cosine(a, b)}`);
    assert.ok(cosine(a, c) < 0.1, `unrelated similarity ${cosine(a, c)}`);
  });

  test('inflected forms still meet through character n-grams', () => {
    // No word in common: only the n-grams of deploy- and database- match (a small share of
    // the cosine, by design: weight 0.3 against 1 for words).
    const query = embedLocal('deployment of the database', 'query');
    const inflected = embedLocal('We deployed the new databases yesterday.', 'document');
    const unrelated = embedLocal('Lunch was served in the garden.', 'document');
    assert.ok(cosine(query, inflected) > cosine(query, unrelated) + 0.02);
  });

  test('case and accents do not matter', () => {
    assert.deepEqual(
      embedLocal('Café Crème at the CAFÉ', 'document'),
      embedLocal('cafe creme at the cafe', 'document'),
    );
  });

  test('any Unicode text gives a valid vector without throwing', () => {
    const texts = [
      '東京タワーは東京都港区にある電波塔です。',
      '서울은 대한민국의 수도이다.',
      'Москва — столица России.',
      'مرحبا بالعالم',
      'नमस्ते दुनिया',
      'ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ',
      '🎉🚀👍🏽 launch party 🎉',
      '👨‍👩‍👧‍👦',
      'e\u0301le\u0300ve',
      'lone surrogates \ud800 and \udfff, a NUL \u0000 and a BOM \ufeff',
      'x'.repeat(100_000),
      `${'word '.repeat(20_000)}`,
    ];
    for (const purpose of ['document', 'query'] as const) {
      for (const text of texts) assertUnitVector(embedLocal(text, purpose, 256), 256);
    }
    const tokyo = embedLocal('東京タワー', 'query');
    assert.ok(
      cosine(tokyo, embedLocal(texts[0] ?? '', 'document')) >
        cosine(tokyo, embedLocal(texts[2] ?? '', 'document')),
    );
  });

  test('empty, blank and stop-word-only texts give the same valid unit vector', () => {
    const empty = embedLocal('', 'document');
    assertUnitVector(empty, LOCAL_EMBEDDING_DIMENSIONS);
    for (const text of ['   ', '\n\t', 'the of and', '?!...', '']) {
      for (const purpose of ['document', 'query'] as const)
        assert.deepEqual(embedLocal(text, purpose), empty);
    }
  });

  test('a question asking for a date prefers the text that has one', () => {
    const query = embedLocal('When was the Rockwood bridge built?', 'query');
    const withYear = embedLocal('The Rockwood bridge was completed in 1887 over the river.', 'document');
    const withoutYear = embedLocal('The Rockwood bridge crosses the river near the old mill.', 'document');
    assert.ok(cosine(query, withYear) > cosine(query, withoutYear));
  });
});

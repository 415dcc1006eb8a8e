import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChromaServerError } from 'chromadb';
import {
  createChromaIndex,
  FRESH_SEGMENT_RETRY_DELAYS_MS,
  retryFreshSegment,
} from '../src/vectors/chroma.js';
import { COLLECTIONS } from '../src/vectors/index.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';

/** What Chroma answers when a read races the first persist of a fresh collection's segment. */
const NOTHING_ON_DISK =
  'Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk';

describe('reads of fresh Chroma collections', () => {
  test('"Nothing found on disk" is retried until the read succeeds', async () => {
    let calls = 0;
    const value = await retryFreshSegment(async () => {
      calls++;
      if (calls < 3) throw new ChromaServerError(NOTHING_ON_DISK);
      return 'found';
    }, [1, 1, 1]);
    assert.equal(value, 'found');
    assert.equal(calls, 3);
  });

  test('any other error is thrown at once, without a retry', async () => {
    let calls = 0;
    await assert.rejects(
      retryFreshSegment(async () => {
        calls++;
        throw new ChromaServerError('Error executing plan: Internal error: disk full');
      }, [1, 1, 1]),
      /disk full/,
    );
    assert.equal(calls, 1);
  });

  test('the retries are bounded: the last error is thrown', async () => {
    let calls = 0;
    await assert.rejects(
      retryFreshSegment(async () => {
        calls++;
        throw new ChromaServerError(NOTHING_ON_DISK);
      }, [1, 1]),
      /Nothing found on disk/,
    );
    assert.equal(calls, 3);
    assert.ok(FRESH_SEGMENT_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0) <= 2000, 'at most 2 s of pauses');
  });

  describe('a real Chroma under concurrent writes and reads of fresh collections', () => {
    let chroma: TestChroma;
    before(async () => {
      chroma = await startTestChroma();
    });
    after(async () => {
      await chroma?.destroy();
    });

    test('50 concurrent callers: every write and read succeeds, and reads see every write', async () => {
      const index = createChromaIndex({
        url: chroma.url,
        space: { provider: 'local', model: 'fresh-reads', dimensions: 32 },
      });
      await index.open();
      const vector = (seed: number) => Array.from({ length: 32 }, (_, i) => Math.sin(seed * 31 + i));
      const operations = 400;
      const failures: string[] = [];
      const written = new Map<string, number>(COLLECTIONS.map((name) => [name, 0]));
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          for (let i = next++; i < operations; i = next++) {
            const name = COLLECTIONS[i % COLLECTIONS.length]!;
            try {
              if (i % 3 === 0) {
                await index.upsert(
                  name,
                  Array.from({ length: 5 }, (_, k) => ({
                    id: `v${i}-${k}`,
                    embedding: vector(i * 5 + k),
                    document: `record ${i}-${k}`,
                    metadata: { group: i % 7 },
                  })),
                );
                written.set(name, written.get(name)! + 5);
              } else if (i % 3 === 1) {
                await index.query(name, vector(i), { limit: 20, filter: { group: i % 7 } });
              } else {
                await index.get(name, { filter: { group: i % 7 }, limit: 10 });
              }
            } catch (error) {
              failures.push(error instanceof Error ? error.message : String(error));
            }
          }
        }),
      );
      assert.deepEqual(failures, []);
      for (const name of COLLECTIONS) assert.equal(await index.count(name), written.get(name), name);
    });
  });
});

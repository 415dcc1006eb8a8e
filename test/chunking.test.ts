import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { type ChunkPolicy, chunkText } from '../src/text/chunking.js';
import { countTokens, encodeTokens } from '../src/text/cl100k.js';

const DEFAULTS: ChunkPolicy = { singlePieceMaxTokens: 1200, targetTokens: 900, overlapTokens: 100 };
const SMALL: ChunkPolicy = { singlePieceMaxTokens: 60, targetTokens: 40, overlapTokens: 8 };
/**
 * Counted alone, a slice can tokenise differently at its edges than inside the whole text, so
 * overlaps and window sizes measured on slices may be off by a few tokens.
 */
const SLACK = 3;

/** mulberry32: a small seeded generator, so a failing text can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Generator = (next: () => number, length: number) => string;

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

function fill(length: number, part: () => string): string {
  let out = '';
  while (out.length < length) out += part();
  return out;
}

const WORDS = [
  'the',
  'decision',
  'pricing',
  'freemium',
  'Alice',
  'agreed',
  'to',
  'ship',
  'by',
  'Friday',
  'naïve',
  'café',
  'über',
  '2024-05-01',
  '42',
  'x86_64',
  "don't",
  "we'll",
  'https://example.com/a?b=c',
];

const GENERATORS: Record<string, Generator> = {
  ascii: (next, length) =>
    fill(length, () => pick(next, WORDS) + pick(next, [' ', ' ', ' ', ', ', '. ', '.\n', '\n\n', '  '])),
  emoji: (next, length) =>
    fill(length, () =>
      pick(next, ['😀', '🎉', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '❤️', '🧑🏿‍🚀', 'ok', ' ', '!', '\n', '🙂🙂🙂', '✅']),
    ),
  cjk: (next, length) =>
    fill(length, () =>
      next() < 0.85
        ? String.fromCharCode(0x4e00 + Math.floor(next() * 20000))
        : pick(next, ['，', '。', '「', '」', 'ひらがな', 'カタカナ', '한국어', '\n', '、']),
    ),
  crlf: (next, length) =>
    fill(length, () => pick(next, WORDS) + pick(next, ['\r\n', '\n', '\r', ' ', '\t', ' \r\n\r\n', '   \n'])),
  unicode: (next, length) =>
    fill(length, () => {
      const range = pick(next, [
        [0x20, 0x7e],
        [0xa0, 0x2ff],
        [0x300, 0x36f], // combining marks
        [0x400, 0x4ff],
        [0x600, 0x6ff],
        [0xe00, 0xe7f],
        [0x3040, 0x30ff],
        [0xac00, 0xd7a3],
        [0xd800, 0xdfff], // lone surrogates
        [0xe000, 0xf8ff],
        [0xfe00, 0xfe0f],
        [0x1d400, 0x1d7ff], // astral letters
        [0x1f300, 0x1faff], // astral symbols
        [0x20000, 0x2a6df], // astral CJK
        [0x9, 0xd],
      ] as const);
      return String.fromCodePoint(range[0] + Math.floor(next() * (range[1] - range[0] + 1)));
    }),
  longWords: (next, length) =>
    fill(length, () => {
      const size = 20 + Math.floor(next() * 300);
      return (
        pick(next, [
          'a'.repeat(size),
          Buffer.from(Array.from({ length: size }, () => Math.floor(next() * 256))).toString('base64'),
          '中'.repeat(size),
          'é'.repeat(size),
          '🙂'.repeat(size),
          ' '.repeat(size),
          '='.repeat(size),
        ]) + pick(next, ['', ' ', '\n'])
      );
    }),
};

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
function isLow(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
function splitsPair(content: string, at: number): boolean {
  return at > 0 && at < content.length && isHigh(content.charCodeAt(at - 1)) && isLow(content.charCodeAt(at));
}

/** Every property `chunkText` promises, checked on one text. */
function checkChunking(content: string, policy: ChunkPolicy, label: string): number {
  const result = chunkText(content, policy);
  const total = countTokens(content);
  assert.equal(result.tokenCount, total, `${label}: tokenCount`);
  if (total <= policy.singlePieceMaxTokens) {
    assert.equal(result.isChunked, false, label);
    assert.deepEqual(result.chunks, [
      { index: 0, startChar: 0, endChar: content.length, tokenCount: total, text: content },
    ]);
    return 1;
  }
  const { chunks } = result;
  assert.equal(result.isChunked, true, label);
  assert.ok(chunks.length >= 2, `${label}: several chunks`);
  assert.equal(chunks[0]?.startChar, 0, `${label}: starts at 0`);
  assert.equal(chunks.at(-1)?.endChar, content.length, `${label}: ends at content.length`);
  chunks.forEach((chunk, i) => {
    const where = `${label} chunk ${i}`;
    assert.equal(chunk.index, i, where);
    assert.ok(chunk.startChar < chunk.endChar, `${where}: start < end`);
    assert.equal(content.slice(chunk.startChar, chunk.endChar), chunk.text, `${where}: exact slice`);
    assert.ok(
      !splitsPair(content, chunk.startChar) && !splitsPair(content, chunk.endChar),
      `${where}: surrogate pair split`,
    );
    assert.equal(chunk.tokenCount, countTokens(chunk.text), `${where}: tokenCount`);
    assert.ok(chunk.tokenCount <= policy.targetTokens, `${where}: ${chunk.tokenCount} tokens`);
    const next = chunks[i + 1];
    if (next === undefined) return;
    assert.ok(
      chunk.tokenCount >= Math.floor(policy.targetTokens * 0.9) - SLACK,
      `${where}: only ${chunk.tokenCount} tokens`,
    );
    assert.ok(next.startChar > chunk.startChar && next.endChar > chunk.endChar, `${where}: moves forward`);
    assert.ok(next.startChar <= chunk.endChar, `${where}: gap before the next chunk`);
    const overlap = countTokens(content.slice(next.startChar, chunk.endChar));
    assert.ok(
      overlap >= policy.overlapTokens - SLACK && overlap <= Math.ceil(policy.overlapTokens * 1.25) + SLACK,
      `${where}: overlap of ${overlap} tokens`,
    );
  });
  return chunks.length;
}

/** js-tiktoken itself: the reference our encoder must agree with. */
const reference = new Tiktoken(cl100k);

describe('token counting', () => {
  test('known counts, the empty string, and special-token text counted as plain text', () => {
    assert.equal(countTokens(''), 0);
    assert.equal(countTokens('hello world'), 2);
    assert.deepEqual(encodeTokens('hello world'), [15339, 1917]);
    assert.ok(countTokens('<|endoftext|> and <|fim_prefix|>') > 2);
  });

  test('the same tokens as js-tiktoken on every kind of generated text', () => {
    for (const [name, generate] of Object.entries(GENERATORS)) {
      const next = random(name.length * 7919);
      for (let i = 0; i < 40; i++) {
        const text = generate(next, 1 + Math.floor(next() * 300));
        assert.deepEqual(
          encodeTokens(text),
          reference.encode(text, [], []),
          `${name} #${i}: ${JSON.stringify(text)}`,
        );
      }
    }
    // Long pieces go through the heap merge at full length (below the slicing threshold).
    for (const text of [
      'x'.repeat(800),
      ' '.repeat(800),
      '中文'.repeat(150),
      '🙂'.repeat(150),
      `${'ab'.repeat(300)}!`,
    ]) {
      assert.deepEqual(encodeTokens(text), reference.encode(text, [], []), `${text.slice(0, 10)}...`);
    }
  });
});

describe('chunking', () => {
  test('the empty string gives no chunks', () => {
    assert.deepEqual(chunkText('', DEFAULTS), { tokenCount: 0, chunks: [], isChunked: false });
  });

  test('exactly singlePieceMaxTokens tokens is one piece; one more token is chunked', () => {
    const exactly = `hello${' world'.repeat(1199)}`;
    assert.equal(countTokens(exactly), 1200);
    const one = chunkText(exactly, DEFAULTS);
    assert.equal(one.isChunked, false);
    assert.deepEqual(one.chunks, [
      { index: 0, startChar: 0, endChar: exactly.length, tokenCount: 1200, text: exactly },
    ]);

    const over = `${exactly} world`;
    assert.equal(countTokens(over), 1201);
    const two = chunkText(over, DEFAULTS);
    assert.equal(two.isChunked, true);
    assert.equal(two.tokenCount, 1201);
    assert.equal(two.chunks.length, 2);
    checkChunking(over, DEFAULTS, 'one over');
  });

  test('a document of a few thousand tokens gives several chunks with the default policy', () => {
    const next = random(1);
    const content = GENERATORS.ascii!(next, 25_000);
    assert.ok(countTokens(content) > 4000);
    const count = checkChunking(content, DEFAULTS, 'default policy');
    assert.ok(count >= 5, `${count} chunks`);
  });

  for (const [name, generate] of Object.entries(GENERATORS)) {
    test(`offsets, coverage, overlap and limits hold on generated ${name} text`, () => {
      const next = random(name.length);
      for (let i = 0; i < 40; i++) {
        checkChunking(generate(next, 20 + Math.floor(next() * 3000)), SMALL, `${name} #${i}`);
      }
      checkChunking(generate(next, 40_000), DEFAULTS, `${name} (default policy)`);
    });
  }

  test('windows end at paragraph and line breaks when there is one near the limit', () => {
    const paragraph = (i: number) =>
      `Paragraph ${i} says that the team agreed on the plan, and then it moved on.\r\n\r\n`;
    const content = Array.from({ length: 200 }, (_, i) => paragraph(i)).join('');
    const { chunks } = chunkText(content, {
      singlePieceMaxTokens: 300,
      targetTokens: 200,
      overlapTokens: 30,
    });
    for (const chunk of chunks.slice(0, -1))
      assert.ok(chunk.text.endsWith('\r\n\r\n'), JSON.stringify(chunk.text.slice(-30)));
    for (const chunk of chunks.slice(1)) assert.match(chunk.text, /^Paragraph \d+ /);
  });

  test('without overlap, consecutive chunks meet exactly', () => {
    const content = GENERATORS.unicode!(random(5), 5000);
    const { chunks } = chunkText(content, { singlePieceMaxTokens: 100, targetTokens: 50, overlapTokens: 0 });
    for (let i = 1; i < chunks.length; i++) assert.equal(chunks[i]?.startChar, chunks[i - 1]?.endChar);
    assert.equal(chunks.map((c) => c.text).join(''), content);
  });

  test('long runs without spaces or punctuation (past the regex segment size) chunk exactly', () => {
    const runs = ['a', ' ', '中', '🙂', '\u0301', '\n'].map((unit) => unit.repeat(140_000 / unit.length));
    // A leading `x` puts a surrogate pair across the forced segment cut at offset 65,536.
    runs.push(`x${'🙂'.repeat(70_000)}`);
    for (const content of runs) {
      const label = `run of ${JSON.stringify(content.slice(0, 3))}`;
      checkChunking(content, DEFAULTS, label);
      // Decoding gives the text back only if no character was cut in two on the way.
      assert.ok(reference.decode(encodeTokens(content)) === content, `${label}: round trip`);
    }
  });

  test('an invalid policy is refused', () => {
    assert.throws(
      () => chunkText('x', { singlePieceMaxTokens: 10, targetTokens: 10, overlapTokens: 10 }),
      RangeError,
    );
    assert.throws(
      () => chunkText('x', { singlePieceMaxTokens: 10, targetTokens: 0, overlapTokens: 0 }),
      RangeError,
    );
  });
});

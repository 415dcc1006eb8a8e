/**
 * Token counting with tiktoken's `cl100k_base`, and where every token ends in the text (the
 * chunker, chunking.ts, cuts windows on those ends).
 *
 * We use the rank table that ships inside `js-tiktoken` (offline) but run byte-pair encoding
 * ourselves. js-tiktoken's own `encode()` was tried first and rejected for two reasons:
 * - its merge loop is quadratic in a piece's length with a string `join` per pair, and a "piece"
 *   (one match of the pre-tokenising regex) has no length limit: measured 26 s for 6,000 CJK
 *   characters without punctuation, 1.8 s for 5,000 spaces, 6.4 s for 3,000 emoji in a row. With
 *   `artifact_ingest` accepting 10,000,000 characters that is a denial of service.
 * - it returns token ids only; exact offsets need each token's byte length, and decoding a
 *   window of tokens yields U+FFFD where a token splits a UTF-8 character.
 * Our encoder produces the same tokens as js-tiktoken (the tests compare them on generated text)
 * with a heap-ordered merge (O(n log n) per piece), and reports where every token ends in the
 * original string. Pieces longer than MAX_PIECE_UNITS are encoded in slices of that size: the
 * only place where counts may differ from tiktoken's, by a token or so per slice.
 * Special-token text such as `<|endoftext|>` is encoded as ordinary text, never rejected.
 */
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { isHighSurrogate, isLowSurrogate } from './unicode.js';

/** Where a token boundary falls in the text. */
export const MID_CHAR = 0; // inside a UTF-8 character: the offset stored is that character's start
export const MID_PIECE = 1; // between two tokens of one regex piece (inside a word)
export const PIECE_END = 2; // between two regex pieces (word, number, punctuation or whitespace run)

/** 4,096 UTF-16 units are at most 12,288 UTF-8 bytes: keeps merge buffers small and bounded. */
const MAX_PIECE_UNITS = 4096;
/** Heap keys are `rank * KEY_SCALE + byte position`; positions stay below 3 * MAX_PIECE_UNITS. */
const KEY_SCALE = 65_536;
/** The regex runs over segments of about this many UTF-16 units (see `segmentEnd`). */
const SEGMENT_UNITS = 65_536;
const NO_RANK = -1;
const DEAD = -2;

interface Encoder {
  /** Token bytes as a latin1 string (one char per byte) → rank. */
  readonly ranks: Map<string, number>;
  /** The longest token, in bytes: longer byte strings need no lookup. */
  readonly maxTokenBytes: number;
  readonly pattern: RegExp;
}

let encoder: Encoder | undefined;

/** Builds the rank table once, on first use (about 150 ms), so importing this module is cheap. */
function getEncoder(): Encoder {
  if (encoder !== undefined) return encoder;
  const ranks = new Map<string, number>();
  let maxTokenBytes = 0;
  for (const line of cl100k.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const [, offsetText, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetText ?? '', 10);
    tokens.forEach((token, i) => {
      const bytes = Buffer.from(token, 'base64').toString('latin1');
      ranks.set(bytes, offset + i);
      maxTokenBytes = Math.max(maxTokenBytes, bytes.length);
    });
  }
  encoder = { ranks, maxTokenBytes, pattern: new RegExp(cl100k.pat_str, 'gu') };
  return encoder;
}

/**
 * Pieces that are not one token (rare words, names, numbers, non-English words) recur in a
 * document; remembering their merges saves about a third of the encoding time on English
 * prose. Bounded: cleared when full, and only short pieces are kept.
 */
const mergeCache = new Map<string, Int32Array>();
const MAX_CACHE_ENTRIES = 50_000;
const MAX_CACHED_BYTES = 64;

// Scratch buffers for merging one piece, grown on demand and reused: encoding is synchronous.
let nextPart = new Int32Array(256);
let prevPart = new Int32Array(256);
let pairRank = new Int32Array(256);
let heap = new Float64Array(512);
let heapSize = 0;
let outRanks = new Int32Array(256);
let outEnds = new Int32Array(256);

function ensureScratch(bytes: number): void {
  if (nextPart.length >= bytes + 1) return;
  const size = Math.max(bytes + 1, nextPart.length * 2);
  nextPart = new Int32Array(size);
  prevPart = new Int32Array(size);
  pairRank = new Int32Array(size);
  outRanks = new Int32Array(size);
  outEnds = new Int32Array(size);
}

function heapPush(key: number): void {
  if (heapSize === heap.length) {
    const bigger = new Float64Array(heap.length * 2);
    bigger.set(heap);
    heap = bigger;
  }
  let i = heapSize++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const above = heap[parent]!;
    if (above <= key) break;
    heap[i] = above;
    i = parent;
  }
  heap[i] = key;
}

function heapPop(): number {
  const top = heap[0]!;
  const last = heap[--heapSize]!;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heapSize) break;
    const right = left + 1;
    const child = right < heapSize && heap[right]! < heap[left]! ? right : left;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

/**
 * Byte-pair encodes one piece (`bytes`: its UTF-8 bytes as a latin1 string) into `outRanks` and
 * `outEnds` (byte offset where each token ends); returns the number of tokens.
 *
 * Same result as tiktoken's merge loop, which repeatedly merges the adjacent pair whose
 * concatenation has the lowest rank (leftmost on ties): here the pairs sit in a min-heap keyed
 * by (rank, start), and entries made stale by a neighbouring merge are skipped when popped.
 */
function mergePiece(bytes: string, { ranks, maxTokenBytes }: Encoder): number {
  // Rank of bytes[from, to); byte strings longer than any token are not looked up (hashing a
  // long string is what made runs of spaces slow).
  const rankOf = (from: number, to: number): number =>
    to - from > maxTokenBytes ? NO_RANK : (ranks.get(bytes.slice(from, to)) ?? NO_RANK);
  const whole = bytes.length > maxTokenBytes ? undefined : ranks.get(bytes);
  if (whole !== undefined) {
    outRanks[0] = whole;
    outEnds[0] = bytes.length;
    return 1;
  }
  const n = bytes.length;
  ensureScratch(n);
  const cached = mergeCache.get(bytes);
  if (cached !== undefined) {
    const count = cached.length >> 1;
    for (let t = 0; t < count; t++) {
      outRanks[t] = cached[2 * t]!;
      outEnds[t] = cached[2 * t + 1]!;
    }
    return count;
  }
  heapSize = 0;
  for (let i = 0; i < n; i++) {
    nextPart[i] = i + 1;
    prevPart[i] = i - 1;
    const rank = i + 1 < n ? rankOf(i, i + 2) : NO_RANK;
    pairRank[i] = rank;
    if (rank !== NO_RANK) heapPush(rank * KEY_SCALE + i);
  }
  while (heapSize > 0) {
    const key = heapPop();
    const rank = Math.floor(key / KEY_SCALE);
    const start = key - rank * KEY_SCALE;
    if (pairRank[start] !== rank) continue;
    const removed = nextPart[start]!;
    const end = nextPart[removed]!;
    nextPart[start] = end;
    if (end < n) prevPart[end] = start;
    pairRank[removed] = DEAD;
    const after = end < n ? rankOf(start, nextPart[end]!) : NO_RANK;
    pairRank[start] = after;
    if (after !== NO_RANK) heapPush(after * KEY_SCALE + start);
    const before = prevPart[start]!;
    if (before >= 0) {
      const merged = rankOf(before, end);
      pairRank[before] = merged;
      if (merged !== NO_RANK) heapPush(merged * KEY_SCALE + before);
    }
  }
  let count = 0;
  for (let i = 0; i < n; i = nextPart[i]!) {
    const rank = ranks.get(bytes.slice(i, nextPart[i]));
    // Every single byte is a token and every merge made a token: this cannot be undefined.
    if (rank === undefined) throw new Error('cl100k_base: merged bytes have no rank');
    outRanks[count] = rank;
    outEnds[count] = nextPart[i]!;
    count++;
  }
  if (n <= MAX_CACHED_BYTES) {
    if (mergeCache.size >= MAX_CACHE_ENTRIES) mergeCache.clear();
    const packed = new Int32Array(2 * count);
    for (let t = 0; t < count; t++) {
      packed[2 * t] = outRanks[t]!;
      packed[2 * t + 1] = outEnds[t]!;
    }
    // A copy as key: `bytes` may be a slice that keeps the whole document alive in V8.
    mergeCache.set(Buffer.from(bytes, 'latin1').toString('latin1'), packed);
  }
  return count;
}

/** Receives every token: its rank, where it ends in the text (UTF-16 offset) and how. */
/** Receives each token: its rank, the UTF-16 offset where it ends, and the kind of that boundary. */
export type TokenSink = (rank: number, end: number, kind: number) => void;

/**
 * Encodes `piece` (at `offset` in the text) and reports its tokens. `endsPiece` says whether the
 * piece's end is a regex-piece boundary (false for the inner slices of an over-long piece).
 */
function encodePiece(
  piece: string,
  offset: number,
  endsPiece: boolean,
  encoder: Encoder,
  sink: TokenSink | undefined,
): number {
  let ascii = true;
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  // Lone surrogates become U+FFFD (3 bytes), as TextEncoder and tiktoken do; the walk below
  // counts them the same way.
  const bytes = ascii ? piece : Buffer.from(piece, 'utf8').toString('latin1');
  const count = mergePiece(bytes, encoder);
  if (sink === undefined) return count;
  if (ascii) {
    for (let t = 0; t < count; t++) {
      const end = outEnds[t]!;
      sink(outRanks[t]!, offset + end, end === piece.length && endsPiece ? PIECE_END : MID_PIECE);
    }
    return count;
  }
  // Walk the piece's characters alongside the token ends (both in order) to turn UTF-8 byte
  // offsets into UTF-16 offsets.
  let unit = 0;
  let byte = 0;
  for (let t = 0; t < count; t++) {
    const end = outEnds[t]!;
    for (;;) {
      const code = piece.charCodeAt(unit);
      let width = 1;
      let size: number;
      if (code < 0x80) size = 1;
      else if (code < 0x800) size = 2;
      else if (isHighSurrogate(code) && isLowSurrogate(piece.charCodeAt(unit + 1))) {
        size = 4;
        width = 2;
      } else size = 3;
      if (byte + size > end) break;
      byte += size;
      unit += width;
      if (byte === end) break;
    }
    if (byte === end) {
      sink(outRanks[t]!, offset + unit, unit === piece.length && endsPiece ? PIECE_END : MID_PIECE);
    } else {
      sink(outRanks[t]!, offset + unit, MID_CHAR);
    }
  }
  return count;
}

const WHITESPACE = /\s/;
const LETTER = /\p{L}/u;

/**
 * Whether the regex necessarily has a piece boundary at `at` that does not depend on the text
 * after it: a non-space character followed by a space or tab (no alternative spans that), or a
 * letter followed by a non-letter (a letter run ends there). Only BMP characters are considered.
 */
function isSafeCut(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  if (isHighSurrogate(before) || isLowSurrogate(before) || isHighSurrogate(after) || isLowSurrogate(after)) {
    return false;
  }
  if (after === 0x20 || after === 0x09) {
    return before < 0x80 ? !isAsciiSpace(before) : !WHITESPACE.test(text[at - 1] ?? '');
  }
  const letterBefore = before < 0x80 ? isAsciiLetter(before) : LETTER.test(text[at - 1] ?? '');
  if (!letterBefore) return false;
  return after < 0x80 ? !isAsciiLetter(after) : !LETTER.test(text[at] ?? '');
}

function isAsciiSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/**
 * Where the segment starting at `from` ends. V8's regex engine runs out of stack on a single
 * match of a few million non-ASCII characters (measured: 10,000,000 CJK characters or emoji
 * without a break throw RangeError), so the regex runs over segments of about SEGMENT_UNITS,
 * cut where the result cannot differ from running it over the whole text. Text with no such
 * cut for another SEGMENT_UNITS characters is cut anyway (outside a surrogate pair).
 */
function segmentEnd(text: string, from: number): number {
  if (text.length - from <= 2 * SEGMENT_UNITS) return text.length;
  for (let at = from + SEGMENT_UNITS; at < from + 2 * SEGMENT_UNITS; at++) {
    if (isSafeCut(text, at)) return at;
  }
  const at = from + SEGMENT_UNITS;
  return isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at)) ? at - 1 : at;
}

/** Tokenises `text` piece by piece; returns the token count and feeds `sink` if given. */
export function scanTokens(text: string, sink?: TokenSink): number {
  const encoder = getEncoder();
  const { pattern } = encoder;
  let total = 0;
  // Encodes text[start, end) of `segment` (which starts at `base` in `text`) as one piece.
  const emit = (segment: string, base: number, start: number, end: number): void => {
    // Over-long pieces are cut into slices, never between the halves of a surrogate pair.
    for (let from = start; from < end; ) {
      let to = Math.min(from + MAX_PIECE_UNITS, end);
      if (to < end && isHighSurrogate(segment.charCodeAt(to - 1)) && isLowSurrogate(segment.charCodeAt(to))) {
        to--;
      }
      total += encodePiece(segment.slice(from, to), base + from, to === end, encoder, sink);
      from = to;
    }
  };
  for (let base = 0; base < text.length; ) {
    const limit = segmentEnd(text, base);
    const segment = base === 0 && limit === text.length ? text : text.slice(base, limit);
    let position = 0;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(segment); match !== null; match = pattern.exec(segment)) {
      const start = match.index;
      const length = match[0].length;
      if (length === 0) {
        pattern.lastIndex++;
        continue;
      }
      // The pattern's alternatives match every character; text it skipped would still be counted.
      if (start > position) emit(segment, base, position, start);
      emit(segment, base, start, start + length);
      position = start + length;
    }
    if (position < segment.length) emit(segment, base, position, segment.length);
    base = limit;
  }
  return total;
}

/** The number of `cl100k_base` tokens in `text`. */
export function countTokens(text: string): number {
  return text === '' ? 0 : scanTokens(text);
}

/** The `cl100k_base` token ids of `text` (special-token text is encoded as plain text). */
export function encodeTokens(text: string): number[] {
  const tokens: number[] = [];
  if (text !== '') scanTokens(text, (rank) => tokens.push(rank));
  return tokens;
}

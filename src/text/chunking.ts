/**
 * Token-window chunking with exact character offsets: for every chunk,
 * `content.slice(startChar, endChar) === text`. Windows are counted in `cl100k_base` tokens
 * (cl100k.ts) and cut at the best natural break near each window's edge.
 */
import { countTokens, PIECE_END, scanTokens } from './cl100k.js';
import { isHighSurrogate, isLowSurrogate } from './unicode.js';

/** Same shape as `Config['chunking']`. */
export interface ChunkPolicy {
  singlePieceMaxTokens: number;
  targetTokens: number;
  overlapTokens: number;
}

export interface Chunk {
  index: number;
  startChar: number;
  endChar: number;
  /** `countTokens(text)`: the slice counted on its own. */
  tokenCount: number;
  text: string;
}

const WHITESPACE = /\s/;

/** Token end offsets and kinds of a whole text, in growable typed arrays. */
class Boundaries {
  offsets = new Uint32Array(1024);
  kinds = new Uint8Array(1024);
  length = 0;
  push(offset: number, kind: number): void {
    if (this.length === this.offsets.length) {
      const offsets = new Uint32Array(this.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const kinds = new Uint8Array(this.length * 2);
      kinds.set(this.kinds);
      this.kinds = kinds;
    }
    this.offsets[this.length] = offset;
    this.kinds[this.length] = kind;
    this.length++;
  }
}

const SENTENCE_END = /[.!?;:。！？；…]/;

/**
 * How good boundary `j` (the end of token j-1) is as a chunk edge, from 0 (inside a character:
 * usable, the edge then moves to that character's start) to 6 (after a blank line).
 */
function edgeQuality(content: string, bounds: Boundaries, j: number): number {
  if (j === 0) return 6;
  const kind = bounds.kinds[j - 1]!;
  if (kind !== PIECE_END) return kind;
  const at = bounds.offsets[j - 1]!;
  const before = content[at - 1] ?? '';
  const after = content[at] ?? '';
  if (before === '\n') {
    const earlier = content[at - 2] === '\r' ? content[at - 3] : content[at - 2];
    return earlier === '\n' ? 6 : 5;
  }
  if (SENTENCE_END.test(before) && (after === '' || WHITESPACE.test(after))) return 4;
  if (WHITESPACE.test(before) || WHITESPACE.test(after)) return 3;
  return 2;
}

/** The best edge in [from, to]: highest quality, and the latest of equals. */
function bestEdge(content: string, bounds: Boundaries, from: number, to: number): number {
  let best = to;
  let bestQuality = edgeQuality(content, bounds, to);
  for (let j = to - 1; j >= from && bestQuality < 6; j--) {
    const quality = edgeQuality(content, bounds, j);
    if (quality > bestQuality) {
      best = j;
      bestQuality = quality;
    }
  }
  return best;
}

function checkPolicy(policy: ChunkPolicy): void {
  const { singlePieceMaxTokens, targetTokens, overlapTokens } = policy;
  if (!Number.isInteger(singlePieceMaxTokens) || singlePieceMaxTokens < 0) {
    throw new RangeError(`singlePieceMaxTokens must be an integer >= 0, got ${singlePieceMaxTokens}`);
  }
  if (!Number.isInteger(targetTokens) || targetTokens < 1) {
    throw new RangeError(`targetTokens must be an integer >= 1, got ${targetTokens}`);
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= targetTokens) {
    throw new RangeError(`overlapTokens must be an integer from 0 to targetTokens - 1, got ${overlapTokens}`);
  }
}

/**
 * Splits `content` for embedding. At most `singlePieceMaxTokens` tokens: one piece (index 0, the
 * whole text, `isChunked` false). Otherwise windows of at most `targetTokens` tokens of the
 * whole text's tokenisation, each starting about `overlapTokens` tokens before the previous one
 * ended; together they cover the content from 0 to `content.length`.
 *
 * Window edges prefer natural breaks: a window may end up to 10% of `targetTokens` early (and
 * the next start up to 25% of `overlapTokens` earlier) to land after a blank line, a line, a
 * sentence or at least between words, never inside a character when there is another choice.
 * An edge that still falls inside a UTF-8 character (a token holding part of its bytes) moves to
 * that character's start. A chunk's own `tokenCount` is its slice counted alone, which can
 * differ from its window's by a token or two; a chunk whose count would exceed `targetTokens`
 * is shortened, so `tokenCount <= targetTokens` holds for every chunk. The empty string gives
 * no chunks.
 */
export function chunkText(
  content: string,
  policy: ChunkPolicy,
): { tokenCount: number; chunks: Chunk[]; isChunked: boolean } {
  checkPolicy(policy);
  if (content === '') return { tokenCount: 0, chunks: [], isChunked: false };
  const bounds = new Boundaries();
  const tokenCount = scanTokens(content, (_rank, end, kind) => bounds.push(end, kind));
  if (tokenCount <= policy.singlePieceMaxTokens) {
    return {
      tokenCount,
      isChunked: false,
      chunks: [{ index: 0, startChar: 0, endChar: content.length, tokenCount, text: content }],
    };
  }

  const { targetTokens, overlapTokens } = policy;
  const endSlack = Math.floor(targetTokens / 10);
  const startSlack = Math.floor(overlapTokens / 4);
  // Character offset of boundary j. One inside a character is rounded down to that character's
  // start, for starts and ends alike: the partial character goes to the next chunk, which
  // overlaps anyway, and a chunk never holds bytes of a token beyond its window. Only when that
  // would leave a chunk empty is its end widened to the character's end.
  const offsetOf = (j: number): number => (j === 0 ? 0 : bounds.offsets[j - 1]!);
  const endOf = (j: number, startChar: number): number => {
    const at = offsetOf(j);
    if (at > startChar) return at;
    const wide = isHighSurrogate(content.charCodeAt(at)) && isLowSurrogate(content.charCodeAt(at + 1));
    return at + (wide ? 2 : 1);
  };

  const chunks: Chunk[] = [];
  let first = 0;
  for (;;) {
    const limit = first + targetTokens;
    let last =
      limit >= tokenCount
        ? tokenCount
        : bestEdge(content, bounds, Math.max(first + 1, limit - endSlack), limit);
    const startChar = offsetOf(first);
    let endChar = endOf(last, startChar);
    let text = content.slice(startChar, endChar);
    let count = countTokens(text);
    // Counted alone, a slice can take a few more tokens than its window (seen: up to 3 on random
    // Unicode with 40-token windows, never with the defaults); shrink it until it fits.
    while (count > targetTokens && last > first + 1) {
      last--;
      endChar = endOf(last, startChar);
      text = content.slice(startChar, endChar);
      count = countTokens(text);
    }
    chunks.push({ index: chunks.length, startChar, endChar, tokenCount: count, text });
    if (last === tokenCount) break;
    const overlapStart = last - overlapTokens;
    first =
      overlapTokens === 0
        ? last
        : bestEdge(
            content,
            bounds,
            Math.max(first + 1, overlapStart - startSlack),
            Math.max(first + 1, overlapStart),
          );
  }
  return { tokenCount, chunks, isChunked: true };
}

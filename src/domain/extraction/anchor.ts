/**
 * Anchoring: every evidence quote an extractor returns is located in the source text before
 * anything is written, and only what was found is kept. The stored quote is always the exact
 * source slice, never the extractor's wording, and its offsets index the whole revision text:
 * `content.slice(startChar, endChar) === quote`, whichever chunk the quote was found in
 * (`chunk.startChar` is added to the offset inside the chunk). Offsets relative to the chunk were
 * stored until migration 005; a reader checking a quote against the document found other text.
 *
 * Search order for one quote: the named chunk exactly (`indexOf`), then the named chunk folded
 * (whitespace runs collapsed, case folded, typographic quotes and dashes mapped to ASCII,
 * Markdown emphasis and zero-width characters ignored), then the other chunks the same two ways,
 * nearest index first. A fuzzy (edit-distance) search was considered and rejected: it would
 * "find" paraphrases, which is exactly what evidence must not be, and it costs O(quote × chunk)
 * per quote where the two passes above are linear.
 */
import { isHighSurrogate, isLowSurrogate } from '../../text/unicode.js';
import {
  type AnchoredEvent,
  type AnchoredEvidence,
  type AnchorReport,
  type ExtractedEvent,
  MAX_QUOTE_WORDS,
  type SourceChunk,
} from './types.js';

/**
 * Word separators for counting a quote's words. The database checks
 * `array_length(regexp_split_to_array(btrim(quote), '\s+'), 1) <= 25`; what Postgres' `\s`
 * matches depends on the locale, so we count with a superset of it (JS `\s`, the C0 information
 * separators, NEL, U+180E and U+200B): splitting at more places can only give more words, so a
 * quote we accept can never fail that check.
 */
function isSeparatorCode(code: number): boolean {
  if (code <= 0x20) return (code >= 0x09 && code <= 0x0d) || code >= 0x1c;
  if (code < 0x85) return false;
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    code === 0x180e ||
    (code >= 0x2000 && code <= 0x200b) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function isSeparator(text: string, at: number): boolean {
  return at < text.length && isSeparatorCode(text.charCodeAt(at));
}

/** A half-open range of UTF-16 offsets. */
export interface Span {
  start: number;
  end: number;
}

/** Widens a span that starts or ends between the halves of a surrogate pair. */
function snapToCodePoints(text: string, span: Span): Span {
  let { start, end } = span;
  if (start > 0 && isLowSurrogate(text.charCodeAt(start)) && isHighSurrogate(text.charCodeAt(start - 1)))
    start--;
  if (end < text.length && isLowSurrogate(text.charCodeAt(end)) && isHighSurrogate(text.charCodeAt(end - 1)))
    end++;
  return { start, end };
}

/** The span without leading and trailing separators, or null when nothing else is left. */
export function trimSpan(text: string, span: Span): Span | null {
  let { start, end } = span;
  while (start < end && isSeparator(text, start)) start++;
  while (end > start && isSeparator(text, end - 1)) end--;
  return start < end ? { start, end } : null;
}

/** The whitespace-separated words of `text[start, end)`, as spans. */
export function wordSpans(text: string, span: Span): Span[] {
  const words: Span[] = [];
  let wordStart = -1;
  for (let i = span.start; i < span.end; i++) {
    if (isSeparator(text, i)) {
      if (wordStart >= 0) words.push({ start: wordStart, end: i });
      wordStart = -1;
    } else if (wordStart < 0) {
      wordStart = i;
    }
  }
  if (wordStart >= 0) words.push({ start: wordStart, end: span.end });
  return words;
}

/**
 * At most `MAX_QUOTE_WORDS` words of a (trimmed) span: the span itself when short enough, else
 * the window of that many words that starts `preferWord` words in (clamped so the window is
 * full), which lets a caller keep the part that holds what made the span interesting.
 */
export function limitWords(text: string, span: Span, preferWord = 0): Span {
  const words = wordSpans(text, span);
  if (words.length <= MAX_QUOTE_WORDS) return span;
  const first = Math.max(0, Math.min(preferWord, words.length - MAX_QUOTE_WORDS));
  return { start: words[first]!.start, end: words[first + MAX_QUOTE_WORDS - 1]!.end };
}

/** Characters left out of the folded form: soft hyphen, zero-width ones, BOM, Markdown emphasis. */
const IGNORED = new Set(['\u00ad', '\u200c', '\u200d', '\u2060', '\ufeff', '*', '`']);

/** Typographic characters folded to what a model (or a person) usually types instead. */
const TYPOGRAPHIC = new Map<string, string>([
  ['\u2018', "'"],
  ['\u2019', "'"],
  ['\u201a', "'"],
  ['\u201b', "'"],
  ['\u2032', "'"],
  ['\uff07', "'"],
  ['\u201c', '"'],
  ['\u201d', '"'],
  ['\u201e', '"'],
  ['\u201f', '"'],
  ['\u2033', '"'],
  ['\uff02', '"'],
  ['\u2010', '-'],
  ['\u2011', '-'],
  ['\u2012', '-'],
  ['\u2013', '-'],
  ['\u2014', '-'],
  ['\u2015', '-'],
  ['\u2212', '-'],
  ['\ufe63', '-'],
  ['\uff0d', '-'],
  ['\u2026', '...'],
]);

const caseFolds = new Map<string, string>();

/** Simple case folding: upper then lower case maps ß to ss and final sigma to sigma. */
function foldCase(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x80) return code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : char;
  let folded = caseFolds.get(char);
  if (folded === undefined) {
    folded = char.toUpperCase().toLowerCase();
    caseFolds.set(char, folded);
  }
  return folded;
}

/**
 * A folded copy of a text and, for every UTF-16 unit of it, the original code point it came
 * from (`starts[i]` to `ends[i]`), so a match in the folded copy maps back to exact offsets
 * that never split a surrogate pair.
 */
interface Folded {
  text: string;
  starts: Int32Array;
  ends: Int32Array;
}

function fold(source: string): Folded {
  const parts: string[] = [];
  // A folded character is at most 3 units (U+0390 and friends), plus one space per separator run.
  let starts = new Int32Array(source.length + 16);
  let ends = new Int32Array(source.length + 16);
  let length = 0;
  let lastWasSpace = true;
  const push = (unit: string, start: number, end: number): void => {
    if (length === starts.length) {
      const biggerStarts = new Int32Array(length * 2);
      biggerStarts.set(starts);
      starts = biggerStarts;
      const biggerEnds = new Int32Array(length * 2);
      biggerEnds.set(ends);
      ends = biggerEnds;
    }
    parts.push(unit);
    starts[length] = start;
    ends[length] = end;
    length++;
  };
  for (let i = 0; i < source.length; ) {
    const code = source.charCodeAt(i);
    const width = isHighSurrogate(code) && isLowSurrogate(source.charCodeAt(i + 1)) ? 2 : 1;
    if (isSeparatorCode(code)) {
      if (!lastWasSpace) push(' ', i, i + width);
      lastWasSpace = true;
    } else {
      const char = source.slice(i, i + width);
      if (IGNORED.has(char)) {
        i += width;
        continue;
      }
      const folded = TYPOGRAPHIC.get(char) ?? foldCase(char);
      for (let u = 0; u < folded.length; u++) push(folded[u]!, i, i + width);
      lastWasSpace = false;
    }
    i += width;
  }
  if (length > 0 && parts[length - 1] === ' ') length--;
  return {
    text: parts.slice(0, length).join(''),
    starts: starts.subarray(0, length),
    ends: ends.subarray(0, length),
  };
}

/** Leading and trailing punctuation a model tends to add or drop around a quote. */
const EDGE_PUNCTUATION = /^[\s"'.,;:!?()[\]{}<>-]+|[\s"'.,;:!?()[\]{}<>-]+$/g;
const ELLIPSIS = /\s*(?:\.{3,}|\u2026)\s*/;
const WORD_CHAR = /[\p{L}\p{N}]/u;
/** An ellipsis-separated quote with more parts than this is only matched by its longest part. */
const MAX_QUOTE_PARTS = 8;
/** The fewest words an ellipsis-separated part needs to be anchored on its own. */
const MIN_PART_WORDS = 3;

/** The folded forms to look for, best first: the whole quote, then without edge punctuation. */
function foldedVariants(quote: string): string[] {
  const whole = fold(quote).text;
  const variants = whole === '' ? [] : [whole];
  const bare = whole.replace(EDGE_PUNCTUATION, '');
  if (bare !== whole && WORD_CHAR.test(bare)) variants.push(bare);
  return variants;
}

interface PreparedChunk {
  chunk: SourceChunk;
  folded: Folded | undefined;
}

function foldedOf(prepared: PreparedChunk): Folded {
  prepared.folded ??= fold(prepared.chunk.text);
  return prepared.folded;
}

/** Letters and digits of scripts that separate words with spaces (not Han, kana, Thai...). */
const WORD = /[\p{L}\p{N}]/u;
const UNSPACED =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u;
/** A quote occurring this many times inside words ("a" in "aaaa...") is given up on. */
const MAX_OCCURRENCES = 256;

function isSpacedWordChar(char: string | undefined): boolean {
  return char !== undefined && WORD.test(char) && !UNSPACED.test(char);
}

/** Whether the span starts and ends between words: "cat" is no quote of "concatenate". */
function onWordBoundaries(text: string, span: Span): boolean {
  const startsInside = isSpacedWordChar(text[span.start - 1]) && isSpacedWordChar(text[span.start]);
  const endsInside = isSpacedWordChar(text[span.end - 1]) && isSpacedWordChar(text[span.end]);
  return !startsInside && !endsInside;
}

/** The first occurrence of `needle` in `haystack` from `from` whose span (via `toSpan`) is whole words of `text`. */
function findWhole(
  text: string,
  haystack: string,
  needle: string,
  from: number,
  toSpan: (index: number) => Span,
): Span | null {
  let at = from;
  for (let tries = 0; tries < MAX_OCCURRENCES; tries++) {
    const index = haystack.indexOf(needle, at);
    if (index < 0) return null;
    const span = toSpan(index);
    if (onWordBoundaries(text, span)) return span;
    at = index + 1;
  }
  return null;
}

/** Where `quote` occurs literally in the chunk, on word boundaries. */
function findExact(prepared: PreparedChunk, quote: string): Span | null {
  const text = prepared.chunk.text;
  return findWhole(text, text, quote, 0, (index) => ({ start: index, end: index + quote.length }));
}

/** Where `needle` (already folded) first occurs in the folded chunk, in original offsets. */
function findFolded(prepared: PreparedChunk, needle: string, from = 0): Span | null {
  const folded = foldedOf(prepared);
  let at = from;
  // `from` is an original offset: skip to the first folded unit at or after it.
  if (from > 0) {
    let low = 0;
    let high = folded.starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (folded.starts[mid]! < from) low = mid + 1;
      else high = mid;
    }
    at = low;
  }
  return findWhole(prepared.chunk.text, folded.text, needle, at, (index) => ({
    start: folded.starts[index]!,
    end: folded.ends[index + needle.length - 1]!,
  }));
}

/**
 * Finds a quote with an ellipsis ("we agreed ... on Friday"): its parts in order, close together,
 * give the span from the first to the last; failing that, the longest part found on its own.
 */
function findParts(prepared: PreparedChunk, quote: string): Span | null {
  const parts = quote
    .split(ELLIPSIS)
    .map((part) => fold(part).text.replace(EDGE_PUNCTUATION, ''))
    .filter((part) => WORD_CHAR.test(part));
  if (parts.length < 2) return null;
  if (parts.length <= MAX_QUOTE_PARTS) {
    let span: Span | null = null;
    for (const part of parts) {
      const found = findFolded(prepared, part, span?.end ?? 0);
      if (found === null || (span !== null && found.start - span.end > 2 * quote.length + 200)) {
        span = null;
        break;
      }
      span = span === null ? found : { start: span.start, end: found.end };
    }
    if (span !== null) return span;
  }
  // A lone fragment must still say something: "we agreed ... Friday" is not evidence of "Friday".
  const longest = [...parts].sort((a, b) => b.length - a.length)[0]!;
  return longest.split(' ').length >= MIN_PART_WORDS ? findFolded(prepared, longest) : null;
}

/** Locates a trimmed quote that is not literally in the chunk: folded, then by its parts. */
function locate(prepared: PreparedChunk, quote: string, variants: readonly string[]): Span | null {
  for (const variant of variants) {
    const found = findFolded(prepared, variant);
    if (found !== null) return found;
  }
  return ELLIPSIS.test(quote) ? findParts(prepared, quote) : null;
}

/** The other chunks, nearest index first: where to look when the named chunk lacks the quote. */
function othersByDistance(chunks: readonly PreparedChunk[], named: PreparedChunk): PreparedChunk[] {
  const index = named.chunk.index;
  return chunks
    .filter((c) => c !== named)
    .sort(
      (a, b) =>
        Math.abs(a.chunk.index - index) - Math.abs(b.chunk.index - index) || a.chunk.index - b.chunk.index,
    );
}

/**
 * Locates every evidence quote of `events` in `chunks` and returns the events with anchored
 * evidence only: offsets into the whole revision text (the chunk's `startChar` plus the offset
 * inside it), `quote` the exact slice there, trimmed of surrounding whitespace and cut to its
 * first `MAX_QUOTE_WORDS` words. Evidence naming a chunk that does not exist, or whose quote
 * cannot be found, is dropped; evidence repeated within an event (the same span of the revision,
 * even when found through two overlapping chunks) is kept once; an event left without evidence
 * is dropped.
 */
export function anchorEvents(events: ExtractedEvent[], chunks: readonly SourceChunk[]): AnchorReport {
  const prepared: PreparedChunk[] = [];
  const byIndex = new Map<number, PreparedChunk>();
  for (const chunk of chunks) {
    // A repeated index would make "the chunk with chunk_index" ambiguous: the first one wins.
    if (byIndex.has(chunk.index)) continue;
    const entry: PreparedChunk = { chunk, folded: undefined };
    byIndex.set(chunk.index, entry);
    prepared.push(entry);
  }

  const anchored: AnchoredEvent[] = [];
  let droppedEvidence = 0;
  let droppedEvents = 0;
  for (const event of events) {
    const { evidence, ...rest } = event;
    const kept: AnchoredEvidence[] = [];
    const keys = new Set<string>();
    for (const item of evidence) {
      const found = anchorQuote(prepared, byIndex, item.quote, item.chunk_index);
      if (found === null) {
        droppedEvidence++;
        continue;
      }
      const key = `${found.startChar}:${found.endChar}`;
      if (keys.has(key)) continue;
      keys.add(key);
      kept.push(found);
    }
    if (kept.length === 0) {
      droppedEvents++;
      continue;
    }
    anchored.push({ ...rest, evidence: kept });
  }
  return { events: anchored, droppedEvidence, droppedEvents };
}

/**
 * Anchors one quote: in the named chunk (exact, then folded), then in the others, nearest first.
 * The folded forms are only computed when an exact search failed.
 */
function anchorQuote(
  chunks: readonly PreparedChunk[],
  byIndex: ReadonlyMap<number, PreparedChunk>,
  rawQuote: string,
  index: number,
): AnchoredEvidence | null {
  const named = byIndex.get(index);
  const quote = rawQuote.trim();
  if (named === undefined || quote === '') return null;
  let variants: string[] | undefined;
  const search = (prepared: PreparedChunk): AnchoredEvidence | null => {
    const text = prepared.chunk.text;
    let found = findExact(prepared, quote);
    if (found === null) {
      variants ??= foldedVariants(quote);
      found = locate(prepared, quote, variants);
    }
    if (found === null) return null;
    const trimmed = trimSpan(text, snapToCodePoints(text, found));
    if (trimmed === null) return null;
    const span = limitWords(text, trimmed);
    return {
      chunkId: prepared.chunk.chunkId,
      chunkIndex: prepared.chunk.index,
      startChar: prepared.chunk.startChar + span.start,
      endChar: prepared.chunk.startChar + span.end,
      quote: text.slice(span.start, span.end),
    };
  };
  const inNamed = search(named);
  if (inNamed !== null || chunks.length === 1) return inNamed;
  for (const other of othersByDistance(chunks, named)) {
    const found = search(other);
    if (found !== null) return found;
  }
  return null;
}

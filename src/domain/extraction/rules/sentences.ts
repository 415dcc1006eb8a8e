/**
 * Sentence splitting with exact offsets (step 2 of rules.ts): every span is a slice of the source,
 * so evidence quotes need no searching. Abbreviations, decimals, e-mail handles and wrapped lines
 * do not end a sentence; a line break before a capitalised line after a complete one does.
 */
import { type Span, trimSpan } from '../anchor.js';

/** Sentences longer than this (no punctuation, e.g. unbroken CJK) are cut into pieces. */
const MAX_SENTENCE_CHARS = 600;

/** Words before a period that do not end a sentence. */
const ABBREVIATIONS = new Set(
  (
    'mr mrs ms dr prof sr jr st vs e.g i.e eg ie approx inc ltd co corp dept cf al ' +
    'a.m p.m u.s u.k mt ft ave jan feb mar apr jun jul aug sep sept oct nov dec'
  ).split(' '),
);
const FUNCTION_WORD_END =
  /\b(?:and|or|but|the|a|an|to|of|with|for|in|on|by|at|from|that|which|who|is|are|was|were|will|as|so|than|its|their|our|my|your)\s*$/i;
const TERMINAL = /[.!?\u3002\uff01\uff1f]/;
const CJK_TERMINAL = /[\u3002\uff01\uff1f]/;
const CLOSER = /["'\u2019\u201d)\]*_]/;
const SPACE = /\s/;

function isAbbreviation(text: string, dot: number, from: number): boolean {
  let start = dot;
  while (start > from && dot - start < 12 && /[\p{L}.]/u.test(text[start - 1]!)) start--;
  // "1st." and "2nd." end sentences: a word glued to a number is no abbreviation.
  if (start > from && /\p{N}/u.test(text[start - 1]!)) return false;
  const word = text.slice(start, dot).toLowerCase();
  if (ABBREVIATIONS.has(word)) return true;
  // A single capital is an initial ("J. Smith").
  return /^\p{Lu}$/u.test(text.slice(start, dot));
}

/** Sentence spans of `text[from, to)`, trimmed, with exact offsets. */
export function splitSentences(text: string, from: number, to: number): Span[] {
  const spans: Span[] = [];
  let start = from;
  let lineStart = from;
  const push = (end: number): void => {
    const span = trimSpan(text, { start, end });
    if (span !== null) spans.push(...capLength(text, span));
    start = end;
  };
  for (let i = from; i < to; i++) {
    const char = text[i]!;
    if (TERMINAL.test(char)) {
      let j = i + 1;
      while (j < to && (TERMINAL.test(text[j]!) || CLOSER.test(text[j]!))) j++;
      if (CJK_TERMINAL.test(char)) {
        push(j);
      } else if (j === to || SPACE.test(text[j]!)) {
        let k = j;
        while (k < to && SPACE.test(text[k]!)) k++;
        const next = text[k] ?? '';
        const ends =
          k === to || !(char === '.' && isAbbreviation(text, i, from))
            ? !/[\p{Ll}:;,]/u.test(next) || k === to
            : false;
        if (ends) push(j);
      }
      i = j - 1;
    } else if (char === '\n') {
      // A wrapped line continues the sentence; a new capitalised line after a complete one does not.
      // Only this line is looked at: slicing from the sentence start would be quadratic in a
      // text of many wrapped lines and no punctuation.
      const lineText = text.slice(Math.max(start, lineStart), i).trimEnd();
      lineStart = i + 1;
      let k = i + 1;
      while (k < to && (text[k] === ' ' || text[k] === '\t')) k++;
      const next = text[k] ?? '';
      if (
        lineText !== '' &&
        !/[,;:(&/\-\u2013\u2014]$/.test(lineText) &&
        !FUNCTION_WORD_END.test(lineText) &&
        /[\p{Lu}@[]/u.test(next)
      ) {
        push(i);
      }
    }
  }
  push(to);
  return spans;
}

/** Cuts an over-long span (no punctuation for hundreds of characters) into pieces. */
function capLength(text: string, span: Span): Span[] {
  if (span.end - span.start <= MAX_SENTENCE_CHARS) return [span];
  const pieces: Span[] = [];
  let start = span.start;
  while (span.end - start > MAX_SENTENCE_CHARS) {
    let cut = start + MAX_SENTENCE_CHARS;
    let space = cut;
    while (space > start + MAX_SENTENCE_CHARS / 2 && !SPACE.test(text[space]!)) space--;
    if (space > start + MAX_SENTENCE_CHARS / 2) cut = space;
    else if (/[\udc00-\udfff]/.test(text[cut] ?? '')) cut--;
    const piece = trimSpan(text, { start, end: cut });
    if (piece !== null) pieces.push(piece);
    start = cut;
  }
  const last = trimSpan(text, { start, end: span.end });
  if (last !== null) pieces.push(last);
  return pieces;
}

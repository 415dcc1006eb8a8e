/**
 * The local embedder: no network, no model download, no model weights. A text becomes a hashed
 * bag of features, L2-normalised, in a fixed dimension. It is lexical-semantic search, not a
 * neural model; what it knows about meaning is the few rules written below.
 *
 * Pure by construction: a vector depends on its text, its purpose and the constants of this
 * file only. Nothing is learnt from what was ingested (no idf, no vocabulary), so the same text
 * gives the same vector in any process and at any time. Changing any constant is a new
 * embedding space: change `LOCAL_EMBEDDING_MODEL` with it, so that stored vectors are re-embedded.
 *
 * Features. Each family is hashed into its own vector with weights 1 + ln(count), normalised,
 * and then added with the family weight. A family's share of the cosine is therefore set by its
 * weight, not by how many features it happens to produce (a word has ~15 n-grams):
 * - words (weight 1): case- and accent-folded words without the Snowball English stop words.
 *   Chinese, Japanese, Thai... characters and emoji are one-character words.
 * - word pairs (0.5): unordered pairs of content words at most 3 words apart ("base force" in
 *   "Advanced Base Force was formed"): proximity, which BM25 ignores.
 * - character n-grams (0.5): 3- to 5-grams of each word with boundary marks (`<cat>`). They
 *   match plural and derived forms, typos and unsegmented scripts without a stemmer.
 * - answer types (0.5): a document emits DATE for years and month names, COUNT for other
 *   numbers and MEASURE for a number followed by a unit. A question emits the type it asks for
 *   ("when" gives DATE, "how many" gives COUNT, "how tall" gives MEASURE), and its question
 *   adjective ("tall") is not a word feature. This is the answer typing of classic question
 *   answering.
 * Asymmetries: in a document the first 10 content words (a title, a subject line, an opening
 * sentence) count twice. In a query, capitalised words that do not start it count twice:
 * names are the rarest words of a question, and this stands in for the idf we cannot have.
 *
 * Hashing: FNV-1a over UTF-16 code units, finalised with murmur3's mixer. The bucket is
 * h mod dimensions and the sign is the top bit. With signed hashing, collisions cancel on
 * average instead of giving every pair of texts a positive bias.
 *
 * Measured with `node dist/bench/retrieval.js --variants` on the MS MARCO sample (1,028
 * passages, 50 queries). Figures are MRR@10 of the vectors alone / recall@10 of the vectors /
 * RRF k 60 with BM25 / RRF k 60 (vector, vector, BM25), as the mean over 8 hash seeds at 1024
 * dimensions. Collisions alone move one seed's MRR by about ±0.015, so differences under 0.02
 * are noise.
 * - This version: 0.706 / 0.881 / 0.677 / 0.695 (hash seed 0, the shipped one: vectors 0.719,
 *   RRF 0.685, three-list RRF 0.713).
 * - Words only, no boosts: 0.631 / 0.808 / 0.635 / 0.639.
 * - The first version (words, adjacent bigrams and n-grams at 0.5, a suffix stripper, no
 *   asymmetry): vectors 0.609, RRF with plain BM25 0.605.
 * Removing one thing at a time from this version:
 * - lead boost: 0.663 / 0.858 / 0.650 / 0.663. This is the largest single gain, and on this
 *   sample it is a title boost: every passage starts with its article's title.
 * - answer types: 0.688 / 0.871 / 0.674 / 0.679. The first, cruder typing (a year, or any
 *   number) gave 0.679 on vectors.
 * - capitalised query words: 0.702 / 0.878 / 0.668 / 0.688.
 * - word pairs: 0.703 / 0.876 / 0.669 / 0.693. With adjacent bigrams only:
 *   0.700 / 0.883 / 0.670 / 0.691.
 * - character n-grams: 0.700 / 0.841 / 0.684 / 0.706. At weight 0.3:
 *   0.705 / 0.855 / 0.677 / 0.703. Weight 0.5 is kept for recall: n-grams find the passages
 *   that say "employees" to a query that says "employed".
 * Tried and rejected. These were measured on the version of the day: one seed, or an unhashed
 * prototype. Their numbers compare with each other, not with the figures above.
 * - Stemming. A suffix stripper (-s, -ed, -ing, -ly, final e), on the first version with one
 *   seed: vectors 0.617 against 0.649 without it. Plural stripping alone, on this version:
 *   0.682 / 0.913 / 0.665 / 0.669. It gains recall but loses ranking: "news" becomes "new"
 *   and "series" becomes "sery". The n-grams join inflected forms without those mistakes.
 * - tf: raw counts lost (0.605 against 0.617). Binary tf lost (0.592 against 0.681), and it
 *   also erases the boosts.
 * - Stop words kept inside bigrams: no gain. Pairs of any two query words, not only nearby
 *   ones: no gain.
 * - A document-length feature that lowers very short texts: +0.01 on RRF, -0.03 on vectors.
 * - "Answer context" pairs (DATE next to "founded"): no gain at weight 0.3 or 0.5.
 * - An idf taken from the benchmark corpus itself, as an upper bound of what corpus statistics
 *   could buy: no gain once the lead and capital boosts were in (vectors 0.669 against 0.683).
 * Dimensions (vectors / recall / RRF / three-list RRF): 256: 0.648 / 0.772 / 0.656 / 0.664;
 * 512: 0.667 / 0.842 / 0.662 / 0.679; 2048: 0.697 / 0.887 / 0.676 / 0.696;
 * 4096: 0.703 / 0.907 / 0.677 / 0.697. MRR stops improving at 1024 dimensions. That is 4 KB of
 * float32 per vector in Chroma, or 40 MB for 10,000 pieces. 4096 dimensions buy recall (+0.03)
 * for four times the space.
 * Speed: 0.25 to 0.5 ms per KB of English on one core, about 3,000 passages/s. Most of the
 * time goes to counting n-grams in Maps.
 */
import { createHash } from 'node:crypto';
import { ENGLISH_STOP_WORDS } from '../text/lexicon.js';
import type { Embedder, EmbeddingPurpose } from './embedder.js';

export const LOCAL_EMBEDDING_DIMENSIONS = 1024;
/** Names the feature set and constants below; any change to them must change this name. */
export const LOCAL_EMBEDDING_MODEL = 'hashed-ngrams-v1';
/** How long `embed` computes before letting the event loop run. */
const YIELD_EVERY_MS = 10;

/** The knobs of the design, exposed so the benchmark can measure alternatives. */
export interface LocalEmbedderTuning {
  wordWeight: number;
  pairWeight: number;
  charWeight: number;
  answerWeight: number;
  /** Pairs of content words at most this many words apart (1 = adjacent bigrams). */
  pairWindow: number;
  charMin: number;
  charMax: number;
  /** Strip plural endings ("cities" -> "city"): rejected, see above. */
  stem: boolean;
  /** Documents: extra weight of the first `leadWords` content words. */
  leadBoost: number;
  leadWords: number;
  /** Queries: extra weight of capitalised words that do not start the query. */
  capitalBoost: number;
  /** Mixed into every hash: another seed gives other collisions (to measure their noise). */
  seed: number;
}

export const DEFAULT_LOCAL_TUNING: Readonly<LocalEmbedderTuning> = Object.freeze({
  wordWeight: 1,
  pairWeight: 0.5,
  charWeight: 0.5,
  answerWeight: 0.5,
  pairWindow: 3,
  charMin: 3,
  charMax: 5,
  stem: false,
  leadBoost: 1,
  leadWords: 10,
  capitalBoost: 1,
  seed: 0,
});

// Scripts written without spaces: each character is a word (pairs then act as character bigrams).
const UNSPACED =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Extended_Pictographic}]/gu;
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*|\p{Extended_Pictographic}/gu;
const NOT_PLAIN_ASCII = /[^\t\n\r -~]/;
const UPPER = /^\p{Lu}/u;
const DIGIT = /^[0-9]/;

/** Answer types are features 1..3 of their own family. */
const AnswerType = { Date: 1, Count: 2, Measure: 3 } as const;
const YEAR = /^(1[0-9]|20)[0-9][0-9]s?$/;
const DATE_WORD =
  /^(january|february|march|april|june|july|august|september|october|november|december|century|centuries)$/;
const UNIT =
  /^(km|kilometres|kilometers|mi|miles|mile|feet|ft|foot|m|metres|meters|cm|inches|kg|kilograms|lb|lbs|pounds|tonnes|tons|acres|hectares|ha|sq|square|km2|mi2)$/;
const MAGNITUDE = /^(hundred|hundreds|thousand|thousands|million|millions|billion|billions|percent)$/;
const ASKS_DATE = /^(when|since when|(in )?(what|which) (year|date|century))\b/;
const ASKS_COUNT = /^how (many|much)\b|\b(population|number of)\b/;
const ASKS_MEASURE =
  /^how (large|big|tall|long|old|far|high|deep|wide|heavy)\b|\b(area|size|height|length|weight)\b/;
/** "how tall", "how many": the adjective names the answer type, not the topic. */
const QUESTION_ADJECTIVE = /^(many|much|large|big|tall|long|old|far|high|deep|wide|heavy)$/;

interface Token {
  word: string;
  capitalised: boolean;
}

function tokenise(text: string): Token[] {
  let folded = text;
  if (NOT_PLAIN_ASCII.test(folded)) {
    // Accents folded (café = cafe); only the combining diacritics block, so Hangul syllables,
    // Devanagari vowel signs and the like survive the round trip.
    folded = folded
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .normalize('NFC')
      .replace(UNSPACED, ' $& ');
  }
  // 570,000 is one number, not "570" and "000".
  folded = folded.replace(/(\d),(?=\d{3}\b)/g, '$1');
  const tokens: Token[] = [];
  for (const match of folded.matchAll(WORD)) {
    const raw = match[0];
    tokens.push({
      word: raw
        .toLowerCase()
        .replace(/['’]s$/, '')
        .replace(/['’]/g, ''),
      capitalised: UPPER.test(raw),
    });
  }
  return tokens;
}

function stripPlural(word: string): string {
  if (word.length <= 3 || !/^[a-z]+$/.test(word)) return word;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('ies')) return word.length > 4 ? `${word.slice(0, -3)}y` : word.slice(0, -1);
  if (word.endsWith('s') && !/(ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

function documentAnswerTypes(tokens: readonly Token[], answers: Map<number, number>): void {
  tokens.forEach((token, index) => {
    if (YEAR.test(token.word) || DATE_WORD.test(token.word)) add(answers, AnswerType.Date, 1);
    else if (DIGIT.test(token.word)) {
      const next = tokens[index + 1]?.word ?? '';
      if (UNIT.test(next)) add(answers, AnswerType.Measure, 1);
      else if (MAGNITUDE.test(next) || token.word.length >= 3) add(answers, AnswerType.Count, 1);
    }
  });
}

function queryAnswerTypes(tokens: readonly Token[], answers: Map<number, number>): void {
  const question = tokens.map((token) => token.word).join(' ');
  if (ASKS_DATE.test(question)) add(answers, AnswerType.Date, 1);
  if (ASKS_COUNT.test(question)) add(answers, AnswerType.Count, 1);
  if (ASKS_MEASURE.test(question)) add(answers, AnswerType.Measure, 1);
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const WORD_SEED = 1;
const PAIR_SEED = 2;
const CHAR_SEED = 3;

function fnv(hash: number, code: number): number {
  return Math.imul(hash ^ code, FNV_PRIME);
}

function hashString(seed: number, text: string): number {
  let h = fnv(FNV_OFFSET, seed);
  for (let i = 0; i < text.length; i++) h = fnv(h, text.charCodeAt(i));
  return h;
}

/** murmur3's finaliser: FNV's low bits are weak, and the bucket is taken from them. */
function mix(h: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function add(counts: Map<number, number>, feature: number, weight: number): void {
  counts.set(feature, (counts.get(feature) ?? 0) + weight);
}

/** Hashes one family into `target`, normalised to length `weight`. */
function project(
  counts: Map<number, number>,
  target: Float64Array,
  scratch: Float64Array,
  weight: number,
  seed: number,
): void {
  if (counts.size === 0 || weight === 0) return;
  const dims = target.length;
  scratch.fill(0);
  for (const [feature, count] of counts) {
    const h = mix(feature ^ seed);
    const bucket = h % dims;
    const value = 1 + Math.log(count);
    scratch[bucket] = (scratch[bucket] ?? 0) + (h & 0x80000000 ? -value : value);
  }
  let norm = 0;
  for (let i = 0; i < dims; i++) norm += (scratch[i] ?? 0) ** 2;
  if (norm === 0) return;
  const scale = weight / Math.sqrt(norm);
  for (let i = 0; i < dims; i++) target[i] = (target[i] ?? 0) + (scratch[i] ?? 0) * scale;
}

/**
 * Embeds one text (synchronously; the `Embedder` wraps it). Never throws on any string; a
 * text without content words (empty, blank, only stop words or punctuation) gets the same
 * fixed unit vector, which is as close to every document as chance.
 */
export function embedLocal(
  text: string,
  purpose: EmbeddingPurpose,
  dimensions: number = LOCAL_EMBEDDING_DIMENSIONS,
  tuning: Readonly<LocalEmbedderTuning> = DEFAULT_LOCAL_TUNING,
): number[] {
  const t = tuning;
  const words = new Map<number, number>();
  const pairs = new Map<number, number>();
  const chars = new Map<number, number>();
  const answers = new Map<number, number>();
  const tokens = tokenise(text);
  const skipped =
    purpose === 'query' &&
    t.answerWeight > 0 &&
    tokens[0]?.word === 'how' &&
    QUESTION_ADJECTIVE.test(tokens[1]?.word ?? '')
      ? 1
      : -1;
  const recent: number[] = [];
  let position = 0;
  tokens.forEach((token, index) => {
    if (index === skipped || ENGLISH_STOP_WORDS.has(token.word)) return;
    position++;
    const term = t.stem ? stripPlural(token.word) : token.word;
    const termHash = hashString(WORD_SEED, term);
    const lead = purpose === 'document' && position <= t.leadWords ? 1 + t.leadBoost : 1;
    const capital = purpose === 'query' && index > 0 && token.capitalised ? 1 + t.capitalBoost : 1;
    add(words, termHash, lead * capital);
    for (const other of recent) {
      const [a, b] = other < termHash ? [other, termHash] : [termHash, other];
      add(pairs, fnv(fnv(fnv(FNV_OFFSET, PAIR_SEED) ^ a, FNV_PRIME) ^ b, FNV_PRIME), lead);
    }
    recent.push(termHash);
    if (recent.length > t.pairWindow) recent.shift();
    // `<word>` without building substrings: each start extends one running hash to charMax.
    const word = token.word;
    const length = word.length + 2;
    for (let start = 0; start < length; start++) {
      let h = fnv(FNV_OFFSET, CHAR_SEED);
      for (let n = 1; n <= t.charMax && start + n <= length; n++) {
        const at = start + n - 1;
        h = fnv(h, at === 0 ? 0x3c : at === length - 1 ? 0x3e : word.charCodeAt(at - 1));
        if (n >= t.charMin) add(chars, h, lead);
      }
    }
  });
  if (t.answerWeight > 0) {
    if (purpose === 'document') documentAnswerTypes(tokens, answers);
    else queryAnswerTypes(tokens, answers);
  }

  const vector = new Float64Array(dimensions);
  const scratch = new Float64Array(dimensions);
  project(words, vector, scratch, t.wordWeight, t.seed);
  project(pairs, vector, scratch, t.pairWeight, t.seed);
  project(chars, vector, scratch, t.charWeight, t.seed);
  project(answers, vector, scratch, t.answerWeight, t.seed);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += (vector[i] ?? 0) ** 2;
  const out = new Array<number>(dimensions);
  if (norm === 0) {
    out.fill(0);
    out[0] = 1;
    return out;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) out[i] = (vector[i] ?? 0) * scale;
  return out;
}

/**
 * The offline default embedder (`provider: 'local'`). `tuning` is for the benchmark's
 * comparisons: any tuning other than the default names its own model, so its vectors can
 * never be mixed with the default's.
 */
export function createLocalEmbedder(
  dimensions: number = LOCAL_EMBEDDING_DIMENSIONS,
  tuning: Partial<LocalEmbedderTuning> = {},
): Embedder {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`local embedder dimensions must be a positive integer, got ${dimensions}`);
  }
  const t: LocalEmbedderTuning = { ...DEFAULT_LOCAL_TUNING, ...tuning };
  const key = JSON.stringify(t);
  const model =
    key === JSON.stringify(DEFAULT_LOCAL_TUNING)
      ? LOCAL_EMBEDDING_MODEL
      : `${LOCAL_EMBEDDING_MODEL}+${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
  return {
    space: { provider: 'local', model, dimensions },
    async embed(texts, purpose) {
      // Synchronous work (about 0.3 ms per KB), so a large batch yields to the event loop
      // every few milliseconds: a 10 MB artifact must not stall the server's other requests.
      const vectors: number[][] = [];
      let since = performance.now();
      for (const text of texts) {
        vectors.push(embedLocal(text, purpose, dimensions, t));
        if (performance.now() - since > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          since = performance.now();
        }
      }
      return vectors;
    },
  };
}

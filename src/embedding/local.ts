import { createHash } from 'node:crypto';
import type { Embedder, EmbeddingPurpose } from './embedder.js';

export const LOCAL_EMBEDDING_DIMENSIONS = 1024;
export const LOCAL_EMBEDDING_MODEL = 'hashed-ngrams-v1';

export interface LocalEmbedderTuning {
  /** Weights of the feature families (each family is L2-normalised before weighting). */
  wordWeight: number;
  pairWeight: number;
  charWeight: number;
  answerWeight: number;
  /** Pairs of content words at most this far apart (1 = adjacent bigrams only). */
  pairWindow: number;
  charMin: number;
  charMax: number;
  stem: boolean;
  /** Documents: extra weight of the first `leadWords` content words. */
  leadBoost: number;
  leadWords: number;
  /** Queries: extra weight of capitalised words that do not start the query. */
  capitalBoost: number;
  /** Documents: a length feature that lowers the similarity of very short texts (0 = off). */
  shortPenalty: number;
  shortPivot: number;
  seed: number;
  answerTypes: number;
  dropQuestionWords: boolean;
  queryPairWindow: number;
  numberChars: boolean;
}

export const DEFAULT_TUNING: LocalEmbedderTuning = {
  wordWeight: 1,
  pairWeight: 0.5,
  charWeight: 0.3,
  answerWeight: 0.3,
  pairWindow: 2,
  charMin: 3,
  charMax: 5,
  stem: false,
  leadBoost: 0.5,
  leadWords: 8,
  capitalBoost: 1,
  shortPenalty: 0,
  shortPivot: 50,
  seed: 0,
  answerTypes: 1,
  dropQuestionWords: false,
  queryPairWindow: 2,
  numberChars: true,
};

// Snowball English stop words (the list Postgres' 'english' configuration uses), apostrophes removed.
const STOP_WORDS = new Set(
  (
    'i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers ' +
    'herself it its itself they them their theirs themselves what which who whom this that these those am is ' +
    'are was were be been being have has had having do does did doing a an the and but if or because as until ' +
    'while of at by for with about against between into through during before after above below to from up ' +
    'down in out on off over under again further then once here there when where why how all any both each few ' +
    'more most other some such no nor not only own same so than too very s t can will just don should now ' +
    'dont doesnt didnt isnt arent wasnt werent cant wont shouldnt'
  ).split(' '),
);

/** Plural stripper, used only when `stem` is on. */
function stem(word: string): string {
  if (word.length <= 3 || !/^[a-z]+$/.test(word)) return word;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.endsWith('ies')) return word.length > 4 ? `${word.slice(0, -3)}y` : word.slice(0, -1);
  if (word.endsWith('s') && !/(ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

const UNSPACED =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Extended_Pictographic}]/gu;
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*|\p{Extended_Pictographic}/gu;
const UPPER = /^\p{Lu}/u;
const YEAR = /^(1[0-9]|20)[0-9][0-9]s?$/;
const DIGIT = /^[0-9]/;
const ASKS_YEAR = /^(when|since when|(in )?(what|which) (year|date|century))\b/;
const ASKS_NUMBER =
  /^how (many|much|large|big|tall|long|old|far|high|deep|wide|heavy)\b|\b(population|number of)\b/;
const ASKS_COUNT = /^how (many|much)\b|\b(population|number of)\b/;
const ASKS_MEASURE =
  /^how (large|big|tall|long|old|far|high|deep|wide|heavy)\b|\b(area|size|height|length|weight)\b/;
const MONTH =
  /^(january|february|march|april|may|june|july|august|september|october|november|december|century|centuries)$/;
const UNIT =
  /^(km|kilometres|kilometers|mi|miles|mile|feet|ft|foot|m|metres|meters|cm|inches|in|kg|kilograms|lb|lbs|pounds|tonnes|tons|acres|hectares|ha|sq|square|km2|mi2)$/;
const MAGNITUDE = /^(hundred|hundreds|thousand|thousands|million|millions|billion|billions|percent)$/;

interface Token {
  word: string;
  capital: boolean;
}

function tokenise(text: string): Token[] {
  const folded = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .normalize('NFC')
    .replace(UNSPACED, ' $& ');
  const out: Token[] = [];
  for (const match of folded.matchAll(WORD)) {
    const raw = match[0];
    out.push({
      word: raw
        .toLowerCase()
        .replace(/['’]s$/, '')
        .replace(/['’]/g, ''),
      capital: UPPER.test(raw),
    });
  }
  return out;
}

const FNV_OFFSET = 0x811c9dc5;

function fnv(hash: number, code: number): number {
  return Math.imul(hash ^ code, 0x01000193);
}

function hashString(seed: number, text: string): number {
  let h = fnv(FNV_OFFSET, seed);
  for (let i = 0; i < text.length; i++) h = fnv(h, text.charCodeAt(i));
  return h;
}

/** murmur3 finaliser: spreads FNV's weak low bits before taking a bucket and a sign. */
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

function project(counts: Map<number, number>, target: Float64Array, weight: number, seed: number): void {
  if (counts.size === 0 || weight === 0) return;
  const dims = target.length;
  const part = new Float64Array(dims);
  for (const [feature, count] of counts) {
    const h = mix(feature ^ seed);
    const bucket = h % dims;
    const value = 1 + Math.log(count);
    part[bucket] = (part[bucket] ?? 0) + ((h & 0x80000000) !== 0 ? -value : value);
  }
  let norm = 0;
  for (let i = 0; i < dims; i++) norm += (part[i] ?? 0) ** 2;
  if (norm === 0) return;
  const scale = weight / Math.sqrt(norm);
  for (let i = 0; i < dims; i++) target[i] = (target[i] ?? 0) + (part[i] ?? 0) * scale;
}

export function embedLocal(
  text: string,
  purpose: EmbeddingPurpose,
  dimensions: number,
  t: LocalEmbedderTuning = DEFAULT_TUNING,
): number[] {
  const words = new Map<number, number>();
  const pairs = new Map<number, number>();
  const chars = new Map<number, number>();
  const answers = new Map<number, number>();
  const window: number[] = [];
  const tokens = tokenise(text);
  let position = 0;
  const skip =
    purpose === 'query' &&
    t.dropQuestionWords &&
    tokens[0]?.word === 'how' &&
    /^(many|much|large|big|tall|long|old|far|high|deep|wide|heavy)$/.test(tokens[1]?.word ?? '')
      ? 1
      : -1;
  tokens.forEach((token, index) => {
    if (STOP_WORDS.has(token.word) || index === skip) return;
    position++;
    const term = t.stem ? stem(token.word) : token.word;
    const termHash = hashString(1, term);
    const lead = purpose === 'document' && position <= t.leadWords ? 1 + t.leadBoost : 1;
    const capital = purpose === 'query' && index > 0 && token.capital ? 1 + t.capitalBoost : 1;
    add(words, termHash, lead * capital);
    for (const other of window) {
      const [a, b] = other < termHash ? [other, termHash] : [termHash, other];
      add(pairs, fnv(fnv(a, 0x2f), b), lead);
    }
    window.push(termHash);
    if (window.length > (purpose === 'query' ? t.queryPairWindow : t.pairWindow)) window.shift();
    const source = t.numberChars || !DIGIT.test(token.word) ? `<${token.word}>` : '';
    for (let start = 0; start < source.length; start++) {
      let h = fnv(FNV_OFFSET, 3);
      for (let n = 1; n <= t.charMax && start + n <= source.length; n++) {
        h = fnv(h, source.charCodeAt(start + n - 1));
        if (n >= t.charMin) add(chars, h, lead);
      }
    }
  });
  if (purpose === 'document') {
    tokens.forEach((token, index) => {
      const next = tokens[index + 1]?.word ?? '';
      if (t.answerTypes === 1) {
        if (YEAR.test(token.word)) add(answers, 1, 1);
        else if (DIGIT.test(token.word)) add(answers, 2, 1);
        return;
      }
      if (YEAR.test(token.word) || MONTH.test(token.word)) add(answers, 1, 1);
      else if (DIGIT.test(token.word)) {
        if (UNIT.test(next)) add(answers, 4, 1);
        else if (MAGNITUDE.test(next) || token.word.length >= 3) add(answers, 3, 1);
      }
    });
  } else {
    const question = tokens.map((token) => token.word).join(' ');
    if (t.answerTypes === 1) {
      if (ASKS_YEAR.test(question)) add(answers, 1, 1);
      if (ASKS_NUMBER.test(question)) add(answers, 2, 1);
    } else {
      if (ASKS_YEAR.test(question)) add(answers, 1, 1);
      if (ASKS_COUNT.test(question)) add(answers, 3, 1);
      if (ASKS_MEASURE.test(question)) add(answers, 4, 1);
    }
  }
  const vector = new Float64Array(dimensions);
  project(words, vector, t.wordWeight, t.seed);
  project(pairs, vector, t.pairWeight, t.seed);
  project(chars, vector, t.charWeight, t.seed);
  project(answers, vector, t.answerWeight, t.seed);
  if (purpose === 'document' && t.shortPenalty > 0) {
    const lambda = t.shortPenalty * (t.shortPivot / Math.max(1, position));
    vector[0] =
      (vector[0] ?? 0) + lambda * Math.sqrt(t.wordWeight ** 2 + t.pairWeight ** 2 + t.charWeight ** 2);
  }
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += (vector[i] ?? 0) ** 2;
  if (norm === 0) {
    const out = new Array<number>(dimensions).fill(0);
    out[0] = 1;
    return out;
  }
  const scale = 1 / Math.sqrt(norm);
  return Array.from(vector, (x) => x * scale);
}

export function createLocalEmbedder(
  dimensions = LOCAL_EMBEDDING_DIMENSIONS,
  tuning: Partial<LocalEmbedderTuning> = {},
): Embedder {
  const t = { ...DEFAULT_TUNING, ...tuning };
  const isDefault = JSON.stringify(t) === JSON.stringify(DEFAULT_TUNING);
  const model = isDefault
    ? LOCAL_EMBEDDING_MODEL
    : `${LOCAL_EMBEDDING_MODEL}-${createHash('sha256').update(JSON.stringify(t)).digest('hex').slice(0, 8)}`;
  return {
    space: { provider: 'local', model, dimensions },
    async embed(texts, purpose) {
      return texts.map((text) => embedLocal(text, purpose, dimensions, t));
    },
  };
}

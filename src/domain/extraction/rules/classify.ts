/**
 * Scores one sentence per category and names the winner (step 3 of rules.ts): the strongest cue
 * of each category, structural cues such as an action item `Name: verb ... by <date>`, and the
 * category its heading or list intro suggests.
 */
import type { Span } from '../anchor.js';
import type { Category } from '../types.js';
import { BACK_REFERENCE, CUES, NOT_HAPPENED, PRIORITY, TASK_VERB } from './cues.js';
import type { DateHit } from './dates.js';
import type { Block } from './document.js';
import { looksLikeName, type Roster } from './roster.js';

/** A sentence whose best category scores below this gives no event. */
const MIN_SCORE = 0.55;
/** Score of a sentence whose category only its heading or list intro suggests. */
const HINT_ONLY_SCORE = 0.7;
/** Added to a cue's weight when the heading names the same category. */
const HINT_BONUS = 0.15;
/** Weight of a label that names the category of its sentence ("Decision: ..."): an explicit cue. */
const LABEL_WEIGHT = 0.85;

export interface Verdict {
  category: Category;
  score: number;
  /** The winning cue's weight (0 when only a heading suggested the category). */
  cueWeight: number;
  /** Absolute offset of the winning cue, for choosing the evidence window. */
  cueAt: number;
  /** Absolute offset where the winning cue ends: what follows is often what the event is about. */
  cueEnd: number;
  backReference: boolean;
}

/** A sentence opening with a name and "to"/"will": "Alice to discuss ...", "Maria will send ...". */
const NAMED_SUBJECT =
  /^(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?) (to|will) (?!be\b|not\b|likely\b|probably\b)\p{Ll}+/u;

/** Scores are compared for ties: 0.7 + 0.1 must equal 0.8. */
function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** The best-scoring category; on a tie the heading's, else the first in PRIORITY. */
function topScore(
  scores: ReadonlyMap<Category, number>,
  hint: Category | null,
): { category: Category; score: number } | null {
  let winner: Category | null = null;
  let top = 0;
  for (const category of PRIORITY) {
    const score = scores.get(category);
    if (score === undefined) continue;
    if (winner === null || score > top + 1e-9 || (Math.abs(score - top) < 1e-9 && category === hint)) {
      winner = category;
      top = score;
    }
  }
  return winner === null ? null : { category: winner, score: top };
}

export function classify(
  text: string,
  span: Span,
  block: Block,
  isFirstSentence: boolean,
  dates: readonly DateHit[],
  roster: Roster,
): Verdict | null {
  // Same length as the sentence, so indexes stay valid: typographic apostrophes for cue matching.
  const sentence = text.slice(span.start, span.end).replace(/[\u2018\u2019]/g, "'");
  if (/\?["')\]]*$/.test(sentence)) return null;
  const wordCount = (sentence.match(/[\p{L}\p{N}]+/gu) ?? []).length;
  if (wordCount < 3) return null;

  const best = new Map<Category, { weight: number; at: number; end: number }>();
  const consider = (category: Category, weight: number, at: number, length: number): void => {
    const seen = best.get(category);
    if (seen === undefined || weight > seen.weight) {
      best.set(category, { weight, at: span.start + at, end: span.start + at + length });
    }
  };
  const label = isFirstSentence ? block.label : null;
  // "Decision: We will use Postgres.": the label names the category of the sentence it opens,
  // whatever that sentence's cues say ("We will" reads as a commitment). It says nothing of the
  // block's later sentences ("Alice Chen will deliver the plan by March 3."): those are classified
  // on their own, and one of another category starts an event of its own (drafts.ts). Cues are
  // read after such a label, so that one of its category says where the subject follows
  // ("Action item: Bob will send the report" is about the report), not the label's own words.
  const labelled =
    label !== null && label.category !== null && label.end <= span.end
      ? { category: label.category, end: label.end }
      : null;
  const cuesFrom = labelled === null ? 0 : labelled.end - span.start;
  for (const { category, weight, pattern, factual } of CUES) {
    const match = pattern.exec(sentence.slice(cuesFrom));
    if (match === null) continue;
    const at = cuesFrom + match.index;
    if (factual && NOT_HAPPENED.test(sentence.slice(Math.max(0, at - 30), at))) continue;
    consider(category, weight, at, match[0].length);
  }
  // An action item: "Bob: Complete the API refactor by March 25th".
  if (label?.person && label.end <= span.end) {
    const rest = text.slice(label.end, span.end);
    if (TASK_VERB.test(rest) || dates.length > 0 || /^(?:will|to)\b/i.test(rest)) {
      consider('Commitment', 0.85, 0, label.end - span.start);
    }
  }
  // "Alice to discuss the timeline with stakeholders on March 22nd.", "Maria will send ...".
  const named = NAMED_SUBJECT.exec(sentence.slice(cuesFrom));
  // "Carol to follow up" reads as a to-do whoever Carol is; "X will" only when X is known to be
  // a person ("Launch will slip" is no commitment).
  const isPerson =
    named !== null && (roster.resolve(named[1]!) !== null || (named[2] === 'to' && looksLikeName(named[1]!)));
  if (named !== null && isPerson) {
    consider('Commitment', named[2] === 'to' ? 0.8 : 0.7, cuesFrom, named[0].length);
  }
  const commitment = best.get('Commitment');
  if (commitment !== undefined && dates.some((d) => d.deadline)) {
    best.set('Commitment', { ...commitment, weight: round2(commitment.weight + 0.1) });
  }
  // Someone agreeing to do something by a date is committing to it.
  const agreed = /\bagreed to (?!go with)\p{L}+/u.exec(sentence);
  if (agreed !== null && dates.some((d) => d.deadline) && !/^(?:the |our )?team\b|^we\b/i.test(sentence)) {
    consider('Commitment', 0.85, agreed.index, agreed[0].length);
  }

  if (labelled !== null) {
    const own = best.get(labelled.category);
    best.set(
      labelled.category,
      own === undefined
        ? { weight: LABEL_WEIGHT, at: span.start, end: labelled.end }
        : { ...own, weight: Math.max(own.weight, LABEL_WEIGHT) },
    );
  }
  const scores = new Map<Category, number>();
  for (const [category, { weight }] of best) scores.set(category, weight);
  // A heading alone makes an event (0.7); with a cue of its own category it strengthens it. It never
  // outweighs an explicit cue of another category ("flagged a concern" under "Status Updates").
  if (block.hint !== null) {
    const own = scores.get(block.hint);
    scores.set(block.hint, own === undefined ? HINT_ONLY_SCORE : round2(own + HINT_BONUS));
  }
  const chosen =
    labelled !== null
      ? { category: labelled.category, score: scores.get(labelled.category)! }
      : topScore(scores, block.hint);
  if (chosen === null || chosen.score < MIN_SCORE) return null;
  const found = best.get(chosen.category);
  return {
    category: chosen.category,
    score: chosen.score,
    cueWeight: found?.weight ?? 0,
    cueAt: found?.at ?? span.start,
    cueEnd: found?.end ?? span.start,
    backReference: BACK_REFERENCE.test(sentence),
  };
}

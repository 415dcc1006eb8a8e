/**
 * The sentences of one block turned into drafts of events (step 4 of rules.ts): each sentence is
 * classified, and consecutive sentences that tell one event are merged into one draft.
 */
import { type Span, wordSpans } from '../anchor.js';
import { MAX_QUOTE_WORDS } from '../types.js';
import { classify, type Verdict } from './classify.js';
import { PRONOUN_START } from './cues.js';
import { findDates } from './dates.js';
import type { Block, Label } from './document.js';
import type { Roster } from './roster.js';
import { splitSentences } from './sentences.js';

export interface Draft {
  verdict: Verdict;
  block: Block;
  sentences: Span[];
  firstSentenceIndex: number;
  lastSentenceIndex: number;
}

export function spanOf(draft: Draft): Span {
  return { start: draft.sentences[0]!.start, end: draft.sentences[draft.sentences.length - 1]!.end };
}

/** The block's leading `Label:` when the draft starts at the block's first sentence, which it opens. */
export function labelOf(draft: Draft): Label | null {
  return draft.firstSentenceIndex === 0 ? draft.block.label : null;
}

function fits(text: string, start: number, end: number): boolean {
  return wordSpans(text, { start, end }).length <= MAX_QUOTE_WORDS;
}

function startsWithName(sentence: string, roster: Roster): boolean {
  const first = /^(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)\b/u.exec(sentence)?.[1];
  if (first === undefined) return false;
  return roster.resolve(first) !== null || roster.resolve(first.split(' ')[0]!) !== null;
}

/** Classifies the sentences of one block and merges those that tell one event (see the header). */
export function blockDrafts(text: string, block: Block, dateBase: number | null, roster: Roster): Draft[] {
  const drafts: Draft[] = [];
  const sentences = splitSentences(text, block.start, block.end);
  let current: Draft | null = null;
  sentences.forEach((sentence, index) => {
    const dates = findDates(text.slice(sentence.start, sentence.end), dateBase);
    const verdict = classify(text, sentence, block, index === 0, dates, roster);
    const body = text.slice(sentence.start, sentence.end);
    const pronoun = PRONOUN_START.test(body);
    const weak = verdict === null || verdict.cueWeight < 0.7 || verdict.backReference;
    if (current !== null) {
      const gap = index - current.lastSentenceIndex;
      const sameCategory = verdict !== null && verdict.category === current.verdict.category;
      // "Dana will send it. Lee will review it.": a sentence naming someone else with a cue of
      // its own is that person's event, not more of the previous one.
      const ownEvent = verdict !== null && verdict.cueWeight > 0 && startsWithName(body, roster);
      const attaches = (gap === 1 && pronoun && weak) || (sameCategory && gap <= 2 && !ownEvent);
      if (attaches) {
        if (fits(text, current.sentences[0]!.start, sentence.end)) {
          current.sentences.push(sentence);
          current.lastSentenceIndex = index;
          if (verdict !== null && verdict.cueWeight > current.verdict.cueWeight) {
            current.verdict = { ...verdict, category: current.verdict.category };
          }
          return;
        }
        if (pronoun && weak) return;
      }
    }
    if (verdict === null) return;
    // In a paragraph, a heading alone does not start an event: "Follow-up meeting scheduled for
    // the 22nd." under "Next Steps" is not a to-do. It can extend one (see above). A list item
    // under "Risks" is a risk by being there.
    if (verdict.cueWeight === 0 && !block.isItem) return;
    let first = sentence;
    // "This was decided in today's sync.": the decision is the sentence before.
    if (verdict.backReference && index > 0) {
      const previous = sentences[index - 1]!;
      if (fits(text, previous.start, sentence.end)) first = previous;
    }
    current = {
      verdict,
      block,
      sentences: first === sentence ? [sentence] : [first, sentence],
      firstSentenceIndex: first === sentence ? index : index - 1,
      lastSentenceIndex: index,
    };
    drafts.push(current);
  });
  return drafts;
}

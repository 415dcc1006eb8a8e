/**
 * A document read into candidate events (steps 1 to 5 of rules.ts put together): its blocks, their
 * drafts, and for each draft the category, narrative, date, subject, actors, confidence and an
 * evidence span cut to the quote limit; then one commitment stated twice is merged into one event.
 */
import { limitWords, type Span, wordSpans } from '../anchor.js';
import type { ExtractedEvent, ExtractionInput } from '../types.js';
import { actorsOf } from './actors.js';
import { findDates, pickDate } from './dates.js';
import { readDocument } from './document.js';
import { blockDrafts, labelOf, spanOf } from './drafts.js';
import { narrativeOf } from './narrative.js';
import { subjectOf } from './subject.js';

export interface Candidate {
  event: Omit<ExtractedEvent, 'evidence'>;
  /** Evidence spans in the text the drafts were read from, in order. */
  evidence: Span[];
}

/** At most this many quotes for one commitment stated in several places. */
const MAX_EVIDENCE = 3;

/**
 * One commitment stated twice ("Carol agreed to update the designs by March 22nd." and, under
 * Action Items, "Carol: Deliver updated mockups by March 22nd") is one event with two quotes:
 * same owner, same due date. Other categories have no such identity and are left alone.
 */
function mergeCommitments(candidates: Candidate[]): Candidate[] {
  const merged: Candidate[] = [];
  const byKey = new Map<string, Candidate>();
  for (const candidate of candidates) {
    const { event } = candidate;
    const owner = event.actors[0];
    const key =
      event.category === 'Commitment' && owner?.role === 'owner' && event.event_time !== null
        ? `${owner.ref}|${event.event_time}`
        : null;
    const into = key === null ? undefined : byKey.get(key);
    if (into === undefined) {
      if (key !== null) byKey.set(key, candidate);
      merged.push(candidate);
      continue;
    }
    if (into.evidence.length >= MAX_EVIDENCE) continue;
    into.evidence.push(...candidate.evidence);
    for (const actor of event.actors) {
      if (!into.event.actors.some((a) => a.ref === actor.ref))
        into.event.actors.push({ ...actor, role: 'contributor' });
    }
    if (event.confidence > into.event.confidence) {
      into.event = {
        ...into.event,
        narrative: event.narrative,
        subject: event.subject,
        confidence: event.confidence,
      };
    }
  }
  return merged;
}

/** Drafts of `text[from, to)` turned into events with an absolute evidence span each. */
export function readEvents(text: string, from: number, to: number, input: ExtractionInput): Candidate[] {
  const model = readDocument(text, from, to, input);
  const candidates: Candidate[] = [];
  for (const block of model.blocks) {
    for (const draft of blockDrafts(text, block, model.date, model.roster)) {
      const span = spanOf(draft);
      const body = text.slice(span.start, span.end);
      // Who "I" is: the chat or transcript speaker, else the e-mail's author.
      const speaker = draft.block.speaker;
      const author = speaker === null ? model.author : null;
      const { verdict } = draft;
      const cueWord = Math.max(
        0,
        wordSpans(text, span).findIndex((word) => word.end > verdict.cueAt),
      );
      const label = labelOf(draft);
      const coreStart = label !== null && label.end <= span.end ? label.end : span.start;
      const core = text.slice(coreStart, span.end);
      const confidence =
        verdict.cueWeight === 0
          ? 0.5
          : Math.min(0.85, verdict.cueWeight + (verdict.score > verdict.cueWeight + 0.01 ? 0.05 : 0));
      candidates.push({
        evidence: [limitWords(text, span, cueWord - 8)],
        event: {
          category: verdict.category,
          narrative: narrativeOf(text, draft, speaker, author),
          event_time: pickDate(findDates(body, model.date)),
          subject: subjectOf(core, Math.max(0, verdict.cueEnd - coreStart), label, model.roster),
          actors: actorsOf(text, draft, speaker, author, model.roster),
          confidence: Math.round(Math.max(0.5, confidence) * 100) / 100,
        },
      });
    }
  }
  return mergeCommitments(candidates);
}

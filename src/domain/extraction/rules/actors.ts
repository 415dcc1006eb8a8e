/**
 * The people of an event and their roles: the owner of an action item, "I" as the speaker or
 * author, the people the text names, and stakeholders named after a Stakeholder cue.
 */
import type { Category, ExtractedEvent } from '../types.js';
import { type Draft, labelOf, spanOf } from './drafts.js';
import type { Roster } from './roster.js';

type ActorRole = ExtractedEvent['actors'][number]['role'];

const PRIMARY_ROLE: Record<Category, ActorRole> = {
  Commitment: 'owner',
  Execution: 'owner',
  Decision: 'owner',
  Collaboration: 'contributor',
  QualityRisk: 'owner',
  Feedback: 'reviewer',
  Change: 'owner',
  Stakeholder: 'owner',
};

const DELEGATION =
  /\b(?:asked|assigned|tasked|told|reminded) (\p{Lu}[\p{L}.]*(?: \p{Lu}\p{Ll}+)?) to \p{Ll}/u;
const FIRST_PERSON = /(?:^|[^\p{L}])(?:I|I'll|I’ll|I've|I’ve|I'm|I’m|my|me)(?![\p{L}])/u;

/**
 * People of the event, the first in the category's main role: an action item's owner, then "I"
 * (the speaker or author), then people named in the text in order, then the chat speaker. In a
 * Stakeholder event, people named after the cue ("needs sign-off from Maria") are stakeholders.
 */
export function actorsOf(
  text: string,
  draft: Draft,
  speaker: string | null,
  author: string | null,
  roster: Roster,
): ExtractedEvent['actors'] {
  const span = spanOf(draft);
  const body = text.slice(span.start, span.end);
  const category = draft.verdict.category;
  const cueOffset = draft.verdict.cueAt - span.start;
  const actors: ExtractedEvent['actors'] = [];
  const add = (ref: string, afterCue: boolean): void => {
    if (actors.some((actor) => actor.ref === ref)) return;
    const role: ActorRole =
      category === 'Stakeholder' && afterCue
        ? 'stakeholder'
        : actors.length === 0
          ? PRIMARY_ROLE[category]
          : 'contributor';
    actors.push({ ref, role });
  };
  const label = labelOf(draft);
  if (label?.person) add(label.person, false);
  // "Alice asked Frank to send ...": Frank owns the commitment.
  const delegated = DELEGATION.exec(body);
  if (category === 'Commitment' && delegated !== null) {
    const owner = roster.resolve(delegated[1]!);
    if (owner !== null) add(owner, false);
  }
  const firstPerson = FIRST_PERSON.test(body);
  const self = speaker ?? author;
  if (self !== null && firstPerson) add(self, false);
  for (const { name, index } of roster.find(body)) add(name, index > cueOffset);
  if (speaker !== null && !label?.person) add(speaker, false);
  if (actors.length === 0 && /\b(?:the|our) team\b|^we\b/i.test(body)) add('team', false);
  return actors;
}

/**
 * An event's narrative: its sentences cleaned of markup and told in the third person, with an
 * action item's owner or the chat speaker in place of "I".
 */
import { TASK_VERB } from './cues.js';
import { type Draft, labelOf, spanOf } from './drafts.js';

const MAX_NARRATIVE_CHARS = 300;

export function cleanText(text: string): string {
  return text
    .replace(/\*\*|__|`/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.lastIndexOf(' ', max - 1);
  return `${text.slice(0, cut > max / 2 ? cut : max - 1)}…`;
}

/** Rewrites a leading "I'll"/"I've"/"I" as the speaker, so the narrative reads in third person. */
function thirdPerson(text: string, speaker: string): string | null {
  const match = /^I(?:('ll|’ll| will)|('ve|’ve| have)|('m|’m| am)|(?=\s))/.exec(text);
  if (match === null) return null;
  const verb = match[1] ? ' will' : match[2] ? ' has' : match[3] ? ' is' : '';
  return `${speaker}${verb}${text.slice(match[0].length)}`;
}

/**
 * A short third-person account: the cleaned sentence(s), with an action item's owner spelled out
 * ("Bob Smith to complete ...") and a leading "I" replaced by the chat speaker or e-mail author.
 */
export function narrativeOf(
  text: string,
  draft: Draft,
  speaker: string | null,
  author: string | null,
): string {
  const span = spanOf(draft);
  const label = labelOf(draft);
  // A person's label becomes the subject of the sentence; a category's ("Decision:") is the event's
  // category already. A field's ("Travel budget:") is part of what the sentence says.
  const skipLabel = label !== null && (label.person !== null || label.category !== null);
  let body = cleanText(text.slice(skipLabel ? label.end : span.start, span.end));
  const spoken = label?.person ? thirdPerson(body, label.person) : null;
  if (spoken !== null) {
    body = spoken;
  } else if (label?.person) {
    body = TASK_VERB.test(body)
      ? `${label.person} to ${body.charAt(0).toLowerCase()}${body.slice(1)}`
      : `${label.person}: ${body}`;
  } else if (speaker !== null) {
    body = thirdPerson(body, speaker) ?? `${speaker}: ${body}`;
  } else if (author !== null) {
    body = thirdPerson(body, author) ?? body;
  }
  return truncate(body, MAX_NARRATIVE_CHARS);
}

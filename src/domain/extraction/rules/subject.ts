/**
 * What an event is about: a field label, the object of an action item, the phrase before the verb
 * or after the cue, typed as a person, a project or an object.
 */
import { NOUN_PHRASE_ENDS } from '../../../text/lexicon.js';
import type { ExtractedEvent } from '../types.js';
import { TASK_VERB } from './cues.js';
import { MONTH_WORD } from './dates.js';
import type { Label } from './document.js';
import { cleanText } from './narrative.js';
import { NOT_NAMES, type Roster } from './roster.js';

type Subject = ExtractedEvent['subject'];

/** Words before a noun phrase: pronouns, auxiliaries and determiners ("we will update the ..."). */
const LEADING_SKIP = new Set(
  "to we i they you he she it will would shall should can could must need go with on for the a an our their its his her my your this that these those be been being about of up just now also all some any new i'll we'll they'll you'll i’ll we’ll".split(
    ' ',
  ),
);
/** Words after which the next word is a verb, skipped with them ("to update", "will send"). */
const VERB_AFTER = new Set(
  "to will would shall should can could must need i'll we'll they'll you'll i’ll we’ll".split(' '),
);
const PROJECT_WORDS =
  /\b(?:project|launch|release|roadmap|migration|refactor|redesign|initiative|program|programme|campaign|rollout|integration|app|platform|product|feature|service|api|system|layer|pipeline)\b/i;
const GENERIC_HEADS = /^(?:team|the team|our team|we|i|you|he|she|everyone|users|it|this|that|they)$/i;
const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}'’\-./%$+]*|[^\s\p{L}\p{N}]/gu;

/** The first noun phrase in `text`, skipping an infinitive verb and determiners; up to 5 words. */
function nounPhrase(text: string): string | null {
  const tokens = text.match(TOKEN) ?? [];
  let i = 0;
  while (i < tokens.length && LEADING_SKIP.has(tokens[i]!.toLowerCase())) {
    const skipVerb = VERB_AFTER.has(tokens[i]!.toLowerCase());
    i++;
    if (skipVerb && i < tokens.length && !LEADING_SKIP.has(tokens[i]!.toLowerCase())) i++;
  }
  // "finished setting up the config": the gerund and its particle are not the object.
  if (i === 0 && /ing$/i.test(tokens[0] ?? '')) {
    i++;
    if (/^(?:up|out|on|off|in)$/i.test(tokens[i] ?? '')) i++;
    while (i < tokens.length && LEADING_SKIP.has(tokens[i]!.toLowerCase())) i++;
  }
  const words: string[] = [];
  for (; i < tokens.length && words.length < 5; i++) {
    const token = tokens[i]!.replace(/[.,;:!?]+$/, '');
    if (!/^[\p{L}\p{N}]/u.test(token) || NOUN_PHRASE_ENDS.has(token.toLowerCase()) || MONTH_WORD.test(token))
      break;
    words.push(token);
    if (token !== tokens[i]) break;
  }
  const phrase = words.join(' ').trim();
  return phrase === '' || GENERIC_HEADS.test(phrase) ? null : phrase;
}

/** The phrase before the first verb of a sentence ("Database connection pooling may ..."). */
function headPhrase(sentence: string): string | null {
  const match =
    /^(?:the |our |a |an )?([\p{L}\p{N}][\p{L}\p{N}'’\-./%$+]*(?: [\p{L}\p{N}][\p{L}\p{N}'’\-./%$+]*){0,4}?) (?:is|are|was|were|has|have|had|may|might|will|can|could|should|would|needs|requires|takes|shows|remains?)\b/iu.exec(
      sentence,
    );
  const phrase = match?.[1];
  if (phrase === undefined || GENERIC_HEADS.test(phrase)) return null;
  return phrase;
}

const TASK_VERB_AT_START = new RegExp(`^\\s*${TASK_VERB.source.slice(1)}`, 'i');
/** "David reported ...", "Frank thinks that ...": the person and verb before what the sentence is about. */
const NAME_AND_VERB = /^(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?) \p{Ll}+(?: that)? /u;

/**
 * What the event is about: a field label ("Travel budget: reduced ..."), the object of an action
 * item, the phrase before the verb ("Database connection pooling may ..."), or the phrase after
 * the cue ("agreed to go with a freemium model"); else the sentence's first words as `other`.
 */
export function subjectOf(core: string, cueEnd: number, label: Label | null, roster: Roster): Subject {
  const typed = (phrase: string): Subject => {
    const person = roster.resolve(phrase);
    if (person !== null) return { type: 'person', ref: person };
    return { type: PROJECT_WORDS.test(phrase) ? 'project' : 'object', ref: phrase.slice(0, 200) };
  };
  const labelWords = label?.text.split(' ') ?? [];
  // "Travel budget: ...", "**Launch Date**: ..."; not "Emma flagged a concern: ...", nor
  // "Action item: ...", which names the category and leaves the subject to the sentence.
  const isFieldLabel =
    label !== null &&
    label.person === null &&
    label.category === null &&
    (labelWords.length <= 3 || (label.bold && labelWords.length <= 5)) &&
    !(labelWords.length === 1 && (NOT_NAMES.has(label.text) || /ed$/.test(label.text)));
  if (isFieldLabel) return typed(label.text);
  const candidates: (() => string | null)[] = [
    () =>
      label?.person
        ? nounPhrase(
            core
              .replace(TASK_VERB, '')
              .replace(/^\s*(?:I|we)(?:'ll|’ll| will)\s+/i, '')
              .replace(TASK_VERB_AT_START, ''),
          )
        : null,
    () => {
      const named = NAME_AND_VERB.exec(core);
      const rest = named !== null && roster.resolve(named[1]!) !== null ? core.slice(named[0].length) : core;
      const phrase = headPhrase(rest);
      return phrase !== null && roster.resolve(phrase) === null ? phrase : null;
    },
    () => nounPhrase(core.slice(cueEnd).replace(TASK_VERB_AT_START, '')),
  ];
  for (const candidate of candidates) {
    const phrase = candidate();
    if (phrase !== null) return typed(phrase);
  }
  const words = cleanText(core)
    .replace(/^[^\p{L}\p{N}]+/u, '')
    .split(' ')
    .slice(0, 6)
    .join(' ');
  return { type: 'other', ref: words === '' ? 'event' : words };
}

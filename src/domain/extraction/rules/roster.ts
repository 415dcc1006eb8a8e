/**
 * The people of a document: names read from metadata, e-mail addresses, chat handles and phrases
 * such as "Carol presented", and every surface form that refers to each ("Alice", "alice.chen",
 * "@alice.chen" are Alice Chen). Actors, owners and speakers are resolved through the roster so
 * that one person has one name across the events of a document.
 */
import { TASK_VERB } from './cues.js';

/** Capitalised words that start sentences or labels but are not names. */
export const NOT_NAMES = new Set(
  (
    'The This That These Those It We They He She I You Our Your Their His Her My Its Team Everyone ' +
    'Nobody Someone Somebody Anyone All Both Each Either Neither Users User Customers Customer ' +
    'Management Leadership Engineering Design Product Marketing Sales Legal Finance Support ' +
    'Operations Ops Mobile Backend Frontend Infrastructure DevOps Platform Security QA Then Also ' +
    'Status Update Updates Note Notes Important Warning Tip Fyi Re Decision Decisions Owner ' +
    'Deadline Rationale Context Summary Result Results Outcome Action Actions Risk Risks Issue ' +
    'Issues Problem Question Answer Reason Goal Goals Budget Cost Costs Timeline Scope Priority ' +
    'Impact Next Todo Done Pros Cons Option Options Background Agenda Topic Attendees Date Subject ' +
    'From To Cc Bcc Overview Conclusion Recommendation Approach Plan Proposal Solution Key Main ' +
    'Current Total Example Yes No Ok Okay Hi Hello Hey Thanks Thank Best Regards Cheers Dear ' +
    'Perfect Great Nice Good Sure Definitely Please After Before Following Per Hold Focus Should ' +
    'Still Ready Update Meeting Discussion Feedback Changes Concerns Modifications Approved Status ' +
    'Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May ' +
    'June July August September October November December Today Tomorrow Yesterday'
  ).split(' '),
);

/**
 * Verbs of speech and thought, which follow a person's name far more often than anything else's.
 * Verbs of work ("shipped", "will") were left out: "Search shipped", "Launch will slip".
 */
export const PERSON_VERB =
  /(?<![\p{L}\p{N}_.@])(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)(?:'s)? (?:decided|said|says|reported|flagged|noted|asked|requested|presented|agreed|is worried|was worried|estimates|estimated|raised|confirmed|committed|suggested|recommended|proposed|wants|mentioned|explained|promised|volunteered|offered|complained|praised|paired|thinks|believes|argued)\b/gu;

/** "(Bob leading)", and a line addressing someone: "Bob, please ...". */
export const NAME_IN_ROLE =
  /\((\p{Lu}\p{Ll}+) (?:leading|owning|driving|delivering|handling|responsible)\)|(?:^|\n)[ \t]*(\p{Lu}\p{Ll}+), (?:please|can you|could you|would you|let me know)\b/gu;

/** Where a line or list item opens, and a label on it ("- Action item: "), before a name. */
const LINE_OPENING = String.raw`(?:^|\n)[ \t]*(?:(?:[-*•+]|\d{1,3}[.)])[ \t]+)?(?:[\p{L} -]{1,30}:[ \t]+)?`;

/** A line or item opening with "Carol to <verb>", also after a label ("Action item: Carol to ..."). */
export const NAME_TO_VERB = new RegExp(
  String.raw`${LINE_OPENING}(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?) to \p{Ll}`,
  'gu',
);

/**
 * A line or sentence opening with a full name and "will" before a to-do verb: "Alice Chen will
 * deliver the plan", "Action item: Alice Chen will ...". Two capitalised words and a to-do,
 * because one word ("Search will ship") is as often a product as a person.
 */
export const FULL_NAME_WILL = new RegExp(
  String.raw`(?:${LINE_OPENING}|[.!?]\s+)(\p{Lu}\p{Ll}+ \p{Lu}\p{Ll}+) will ${TASK_VERB.source.slice(1)}`,
  'gu',
);

/** Parts of an address that name a list or a function, not a person (engineering-team@...). */
const GROUP_WORDS = new Set(
  'team group all everyone list staff info support noreply no reply admin help hr dev eng engineering ops sales marketing office contact hello'.split(
    ' ',
  ),
);

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A person's display name from a name, an e-mail address or a chat handle, or null. */
export function personName(raw: string): string | null {
  let text = raw.trim();
  const display = /^(.*?)\s*<[^>]*>$/.exec(text);
  if (display?.[1]) text = display[1].replace(/^"|"$/g, '');
  text = text.replace(/\s*\([^)]*\)\s*$/, '').trim();
  const email = /^([^@\s]+)@[^@\s]+$/.exec(text);
  let handle = email?.[1] ?? (text.startsWith('@') ? text.slice(1) : null);
  if (handle === null && /^[\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+$/u.test(text)) handle = text;
  if (handle !== null) {
    if (handle.split(/[._+-]/).some((part) => GROUP_WORDS.has(part.toLowerCase()))) return null;
    const parts = handle.split(/[._]/).filter((part) => /^\p{L}+$/u.test(part));
    if (parts.length === 0 || parts.length > 3) return null;
    return parts.map(capitalise).join(' ');
  }
  if (!/^\p{Lu}[\p{L}'-]*(?: \p{Lu}[\p{L}'-]*){0,2}$/u.test(text)) return null;
  if (text.split(' ').some((word) => NOT_NAMES.has(word))) return null;
  return text;
}

/** The people a document mentions, and the surface forms that refer to each. */
export class Roster {
  private readonly forms = new Map<string, string>();
  private readonly firstNames = new Map<string, Set<string>>();
  private pattern: RegExp | null = null;

  add(raw: string): string | null {
    const name = personName(raw);
    if (name === null) return null;
    const existing = this.resolve(name);
    // "Alice" after "Alice Chen" is the same person; "Alice Chen" after "Alice" upgrades her.
    const full = existing !== null && existing.split(' ').length >= name.split(' ').length ? existing : name;
    this.forms.set(full, full);
    const words = full.split(' ');
    const first = words[0]!;
    if (words.length > 1) {
      // A bare "Alice" seen before "Alice Chen" must now resolve through the first-name table.
      if (this.forms.get(first) === first) this.forms.delete(first);
      const set = this.firstNames.get(first) ?? new Set<string>();
      set.delete(first);
      set.add(full);
      this.firstNames.set(first, set);
      this.forms.set(words.map((w) => w.toLowerCase()).join('.'), full);
      this.forms.set(words.map((w) => w.toLowerCase()).join('_'), full);
    } else if (!this.firstNames.has(first)) {
      this.firstNames.set(first, new Set([first]));
    }
    const raw0 = raw.trim().replace(/^@/, '');
    if (/^[\p{Ll}\d._]+$/u.test(raw0)) this.forms.set(raw0, full);
    this.pattern = null;
    return full;
  }

  /** The full name `token` refers to ("Alice", "alice.chen", "@alice.chen"), if known. */
  resolve(token: string): string | null {
    const text = token.trim().replace(/^@/, '');
    const direct = this.forms.get(text);
    if (direct !== undefined) return direct;
    const firsts = this.firstNames.get(text);
    if (firsts !== undefined && firsts.size === 1) return [...firsts][0]!;
    const email = /^([^@\s]+)@/.exec(text);
    if (email?.[1] !== undefined) return this.forms.get(email[1]) ?? null;
    return null;
  }

  /** People named in `text`, in order of appearance. */
  find(text: string): { name: string; index: number }[] {
    if (this.forms.size === 0) return [];
    if (this.pattern === null) {
      const surfaces = new Set<string>(this.forms.keys());
      for (const [first, fulls] of this.firstNames) if (fulls.size === 1) surfaces.add(first);
      const alternatives = [...surfaces]
        .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
        .map(escapeRegExp);
      this.pattern = new RegExp(
        `(?<![\\p{L}\\p{N}_.])@?(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_]|\\.[\\p{L}])`,
        'gu',
      );
    }
    const found: { name: string; index: number }[] = [];
    for (const match of text.matchAll(this.pattern)) {
      const name = this.resolve(match[0]);
      if (name !== null) found.push({ name, index: match.index });
    }
    return found;
  }
}

export function looksLikeName(text: string): boolean {
  if (!/^\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+){0,2}$/u.test(text)) return false;
  return !text
    .split(' ')
    .some((word) => NOT_NAMES.has(word) || /(?:ed|ing|tion|ment|ness|ity|ance|ence|ary|ive|ics)$/.test(word));
}

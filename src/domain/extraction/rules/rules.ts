/**
 * The `rules` extractor: no network, no model. It reads the text as a person skims a meeting
 * note: document structure first (header lines, section headings, lists, chat speakers), then
 * sentence-level cue phrases for the eight categories, names from the roster the document and the
 * artifact's metadata give, and dates resolved against the artifact's timestamp.
 *
 * How a sentence becomes an event:
 * 1. Lines are grouped into blocks: a paragraph, one list item (with its continuation lines), or
 *    a chat message. Leading `Key: value` lines (From/To/Date/Attendees...) are metadata: they
 *    feed the roster and the document date but are never events.
 * 2. Blocks are split into sentences with exact offsets (abbreviations, decimals, e-mail handles
 *    and wrapped lines do not end a sentence; a line break before a capitalised line does).
 * 3. Every sentence gets a score per category: the strongest cue's weight, plus structural cues
 *    (an action item `Name: verb ... by <date>`), plus a bonus for the category a heading or list
 *    intro names ("## Risks", "Action Items:"). The best category wins if it scores at least
 *    MIN_SCORE. One sentence gives at most one event.
 * 4. Consecutive sentences of one block that raise the same category become one event when the
 *    result fits in MAX_QUOTE_WORDS words; a sentence opening with a pronoun and no strong cue of
 *    its own ("This gives us two weeks of buffer.") belongs to the event before it. Splitting
 *    them was measured to cost precision on the benchmark (the same event counted twice).
 * 5. Evidence is the exact sentence span, cut to the 25-word window around the cue.
 *
 * Extraction runs over the whole revision text (context such as headings and speakers may sit in
 * an earlier chunk) and each event's evidence is attributed to the first chunk that contains it;
 * when the chunks do not tile the content, each chunk is read on its own and events whose
 * evidence has the same absolute span are kept once.
 */
import { limitWords, type Span, trimSpan, wordSpans } from '../anchor.js';
import {
  type Category,
  type ExtractedEvent,
  type ExtractionInput,
  type Extractor,
  MAX_QUOTE_WORDS,
  type SourceChunk,
} from '../types.js';

/** A sentence whose best category scores below this gives no event. */
const MIN_SCORE = 0.55;
/** Score of a sentence whose category only its heading or list intro suggests. */
const HINT_ONLY_SCORE = 0.7;
/** Added to a cue's weight when the heading names the same category. */
const HINT_BONUS = 0.15;
/** Sentences longer than this (no punctuation, e.g. unbroken CJK) are cut into pieces. */
const MAX_SENTENCE_CHARS = 600;
const MAX_NARRATIVE_CHARS = 300;
const DAY_MS = 86_400_000;

type ActorRole = ExtractedEvent['actors'][number]['role'];
type Subject = ExtractedEvent['subject'];

// ---------------------------------------------------------------------------------------------
// Cues

interface Cue {
  category: Category;
  weight: number;
  pattern: RegExp;
  /** The cue reports something that happened: ignore it after "not", "will", "to" and the like. */
  factual?: boolean;
}

const cue = (category: Category, weight: number, pattern: RegExp, factual = false): Cue => ({
  category,
  weight,
  pattern,
  factual,
});

/**
 * General English cue phrases. Weights: 0.8 an explicit statement of the category ("decided",
 * "shipped", "risk"), 0.7 a typical but less explicit one, 0.6 and below a hint that needs
 * support (a heading, a deadline) to make an event on its own.
 */
const CUES: readonly Cue[] = [
  // Decision
  cue(
    'Decision',
    0.8,
    /\b(?:decided|decides|decide to|agreed (?:to|on|upon|that)|(?:has|have) agreed|we(?: will|'ll| shall) go with|go(?:ing)? with (?:option|plan|the|a|an)\b|opted (?:for|to)|settled on|signed off|approved|greenlit|green-lit|chose|chosen|selected|ruled out|rejected|vetoed|the decision (?:is|was) to|final decision|made the (?:call|decision))\b/i,
    true,
  ),
  cue(
    'Decision',
    0.7,
    /\b(?:let's (?:do it|go with|go ahead|proceed|move forward)|go ahead with|(?:takes?|took|taking|given|giving|gets?) (?:top )?priority over|(?:de-?)?prioriti[sz](?:e|ed|es|ing)\b)/i,
    true,
  ),
  cue('Decision', 0.6, /\bconfirm(?:ed|s)\b/i, true),
  cue('Decision', 0.5, /\b(?:decision|approval)\b/i),
  // Commitment
  cue(
    'Commitment',
    0.8,
    /\b(?:committed to|commits? to|promised? to|pledged? to|will make sure|i'll make sure|i'll take care|i'll handle|take ownership|taking ownership|(?:is|are) responsible for|assigned to|volunteered to|signed up to|action item)\b/i,
  ),
  cue(
    'Commitment',
    0.7,
    /\b(?:i|we)(?:'ll| will| shall|'m going to|'re going to| am going to| are going to)\b/i,
  ),
  cue(
    'Commitment',
    0.7,
    /\(\s*\p{Lu}\p{Ll}+ (?:leading|owning|driving|delivering|handling|responsible)\s*\)|\b(?:asked|assigned|tasked) \p{Lu}\p{Ll}+ to\b/u,
  ),
  cue('Commitment', 0.6, /\b(?:deadline|due (?:date|by|on)|ETA)\b/i),
  cue(
    'Commitment',
    0.55,
    /\bwill (?!be able\b|likely\b|probably\b|not\b|need\b|have to\b|be a\b|be an\b|be the\b|become\b|require\b|help\b|make it\b)\p{L}+/iu,
  ),
  // Execution
  cue(
    'Execution',
    0.8,
    /\b(?:shipped|deployed|launched|released|rolled out|went live|(?:is|are) (?:now )?live|completed|finished|delivered|implemented|merged|migrated|fixed|wrapped up|closed out|published|submitted|installed|upgraded|configured|built|prepared|drafted|sent out|finali[sz]ed)\b/i,
    true,
  ),
  cue('Execution', 0.75, /\b(?:is|are|was|were|now|all|got|\d+%) (?:done|complete)\b/i, true),
  // QualityRisk
  cue(
    'QualityRisk',
    0.8,
    /\b(?:risks?|at risk|risky|concerns?|concerned|worried|worries|blockers?|blocked|bottlenecks?|bugs?|regressions?|outages?|incidents?|vulnerabilit(?:y|ies)|(?:might|may|could|will) slip|slipping|delays?|delayed|behind schedule|over budget|insufficient|not (?:be )?(?:sufficient|enough)|flagged)\b/i,
  ),
  cue(
    'QualityRisk',
    0.7,
    /\b(?:(?:\d+|one|two|three|four|five|a few|several) (?:extra|additional|more) (?:days?|weeks?|months?)|might not|may not|could fail|won't be able|can't handle|cannot handle|issues?|problems?|failing|failed|broken|crash(?:es|ed)?|flaky|tight timeline)\b/i,
  ),
  // Feedback
  cue(
    'Feedback',
    0.75,
    /\b(?:feedback|liked|loved|disliked|hated|complained|complaints?|praised|critici[sz]ed|suggested|suggestions?|recommend(?:s|ed)?|requested|asked for|wished|happy with|pleased with|unhappy|frustrat(?:ed|ing)|satisfied)\b/i,
  ),
  cue('Feedback', 0.6, /\b(?:great (?:job|work)|nice work|well done|kudos)\b/i),
  cue('Feedback', 0.5, /\b(?:prefer(?:s|red)?|preference)\b/i),
  // Change
  cue(
    'Change',
    0.8,
    /\b(?:changed|switched|switching|moved (?:from|to)|migrat(?:e|ing) (?:from|to)|replaced|replacing|instead of|postponed|rescheduled|pushed (?:back|out)|moved up|brought forward|renamed|reverted|rolled back|pivoted|no longer|descoped|de-scoped|(?:reduced|increased|cut|raised|lowered|extended) (?:from|by|to|until)|paused|cancell?ed|scope change)\b/i,
    true,
  ),
  cue(
    'Change',
    0.85,
    /\b(?:moved|shifted|pushed|changed|switched|migrated) (?:\S+ ){0,4}?from \S+(?: \S+)? to\b/i,
    true,
  ),
  cue('Change', 0.6, /\b(?:instead|(?:was|were|has been|have been) (?:revised|updated|moved))\b/i, true),
  // Stakeholder
  cue(
    'Stakeholder',
    0.8,
    /\b(?:needs? sign-?off|sign-?off from|(?:need|needs|require|requires) (?:your |their |his |her )?approval|approval from|escalat(?:e|ed|ing|ion)|buy-in|(?:customer|client)s? (?:asked|requested|wants?|needs?|complained|reported))\b/i,
  ),
  cue('Stakeholder', 0.7, /\b(?:stakeholders?|sponsors?)\b/i),
  cue('Stakeholder', 0.6, /\b(?:executives?|leadership|the board|board meeting|VP|CEO|CTO|CFO|COO)\b/),
  // Collaboration
  cue(
    'Collaboration',
    0.75,
    /\b(?:worked with|working with|work with|paired|pairing|pair (?:with|on|up)|together with|collaborat\w*|synced with|sync with|sync up|teamed up|partnered|jointly|helped|helping|with help from|checking with|check with|met with|coordinat\w* with|handed off to|hand off to)\b/i,
  ),
  cue('Collaboration', 0.6, /\bsync\b/i),
];

/** Preceding words that make a factual cue not (yet) a fact: "not deployed", "will be approved". */
const NOT_HAPPENED =
  /\b(?:not|never|n't|yet to|will|would|should|must|could|might|may|to|once|when|until|if|unless)\s+(?:(?:be|been|have|get|got|being)\s+)?(?:\S+\s+)?$/i;

/** A sentence that only says the previous one was decided ("This was decided in today's sync."). */
const BACK_REFERENCE =
  /^(?:this|that|it|which) (?:was|has been|had been|is) (?:decided|agreed|approved|confirmed)\b/i;
const PRONOUN_START = /^(?:he|she|they|it|this|that|these|those|which)\b/i;
/** Categories in order of preference when two score the same (and no heading decides). */
const PRIORITY: readonly Category[] = [
  'Decision',
  'Commitment',
  'QualityRisk',
  'Execution',
  'Change',
  'Stakeholder',
  'Feedback',
  'Collaboration',
];

/** Words of a heading or list intro that say what the items under it are. */
const HINTS: readonly [Category, RegExp][] = [
  [
    'Commitment',
    /\b(?:action items?|next steps?|to-?dos?|tasks?|assignments?|follow[- ]?ups?|deliverables?|commitments?|owners?)\b/i,
  ],
  ['Decision', /\b(?:decisions?|decided|resolutions?|outcomes?|conclusions?|agreements?|agreed)\b/i],
  ['QualityRisk', /\b(?:risks?|concerns?|issues?|blockers?|problems?|bugs?|open questions?)\b/i],
  ['Feedback', /\b(?:feedback|comments?|suggestions?|retrospective|retro|lessons learned|reactions?)\b/i],
  ['Change', /\b(?:changes?|modifications?|amendments?|revisions?|changelog)\b/i],
  ['Execution', /\b(?:status|progress|updates?|accomplishments?|completed|done|shipped|achievements?)\b/i],
  ['Stakeholder', /\b(?:stakeholders?|sponsors?|customers?|clients?|approvals?)\b/i],
  ['Collaboration', /\b(?:collaboration|partners?|partnerships?|dependencies)\b/i],
];

function hintOf(text: string): Category | null {
  for (const [category, pattern] of HINTS) if (pattern.test(text)) return category;
  return null;
}

// ---------------------------------------------------------------------------------------------
// People

/** Capitalised words that start sentences or labels but are not names. */
const NOT_NAMES = new Set(
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
const PERSON_VERB =
  /(?<![\p{L}\p{N}_.@])(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?)(?:'s)? (?:decided|said|says|reported|flagged|noted|asked|requested|presented|agreed|is worried|was worried|estimates|estimated|raised|confirmed|committed|suggested|recommended|proposed|wants|mentioned|explained|promised|volunteered|offered|complained|praised|paired|thinks|believes|argued)\b/gu;

/** "(Bob leading)", and a line addressing someone: "Bob, please ...". */
const NAME_IN_ROLE =
  /\((\p{Lu}\p{Ll}+) (?:leading|owning|driving|delivering|handling|responsible)\)|(?:^|\n)[ \t]*(\p{Lu}\p{Ll}+), (?:please|can you|could you|would you|let me know)\b/gu;

/** A line or item opening with "Carol to <verb>". */
const NAME_TO_VERB =
  /(?:^|\n)[ \t]*(?:(?:[-*•+]|\d{1,3}[.)])[ \t]+)?(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?) to \p{Ll}/gu;

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
function personName(raw: string): string | null {
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
class Roster {
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

// ---------------------------------------------------------------------------------------------
// Dates

const MONTH =
  'January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec';
const MONTH_WORD = new RegExp(`^(?:${MONTH})$`);
const MONTH_DAY = new RegExp(`\\b(${MONTH})\\.? (\\d{1,2})(?:st|nd|rd|th)?\\b(?:,? ('?\\d{4}))?`, 'g');
const DAY_MONTH = new RegExp(`\\b(\\d{1,2})(?:st|nd|rd|th)? (?:of )?(${MONTH})\\b(?:,? (\\d{4}))?`, 'g');
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const NUMBER_WORDS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};

function monthIndex(name: string): number {
  return ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'].indexOf(
    name.slice(0, 3).toLowerCase(),
  );
}

interface DateHit {
  index: number;
  /** UTC midnight of the day, in ms. */
  day: number;
  /** 3 a calendar date, 2 a named relative day, 1 a vague period ("end of week", "Q3"). */
  precision: number;
  deadline: boolean;
}

/** Words that, right before a date, make it a deadline. */
const DEADLINE_BEFORE =
  /\b(?:by|before|until|till|due|no later than|deadline:?)\s+(?:the\s+)?(?:end of\s+)?$/i;

const DATE_HINT = /\d|day\b|tonight|tomorrow|morning|afternoon|evening|week|month|\bEO[DWM]\b|\bCOB\b/i;

function validDay(year: number, month: number, day: number): number | null {
  const ms = Date.UTC(year, month, day);
  const date = new Date(ms);
  return date.getUTCMonth() === month && date.getUTCDate() === day ? ms : null;
}

/** A month and day without a year: the base year, or the next one if that is half a year past. */
function inferYear(base: number | null, month: number, day: number, year: number | undefined): number | null {
  if (year !== undefined) return validDay(year, month, day);
  if (base === null) return null;
  const baseYear = new Date(base).getUTCFullYear();
  const ms = validDay(baseYear, month, day);
  if (ms === null) return null;
  return ms < base - 183 * DAY_MS ? validDay(baseYear + 1, month, day) : ms;
}

function parseYear(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text.replace(/^'/, ''));
  return text.replace(/^'/, '').length === 2 ? 2000 + value : value;
}

/**
 * Dates mentioned in `text`, resolved against `base` (UTC midnight of the artifact's day, or
 * null: then only dates that carry their year are kept). Conventions: a bare weekday or
 * "by/on/this Friday" is the next such day (today included); "next Friday" is the first Friday
 * after today that is not in today's Monday-to-Sunday week; "last Friday" and "Friday's" are the
 * most recent one before today; "end of week" is the Friday on or after today; "Q3" is the
 * quarter's first day (next year's when that quarter is over).
 */
function findDates(text: string, base: number | null): DateHit[] {
  const hits: DateHit[] = [];
  // Most sentences name no date: one cheap test spares the dozen patterns below.
  if (!DATE_HINT.test(text)) return hits;
  const add = (index: number, day: number | null, precision: number): void => {
    if (day === null) return;
    const deadline = DEADLINE_BEFORE.test(text.slice(Math.max(0, index - 24), index));
    hits.push({ index, day, precision, deadline });
  };
  for (const m of text.matchAll(/\b(\d{4})-(\d{2})-(\d{2})\b/g)) {
    add(m.index, validDay(Number(m[1]), Number(m[2]) - 1, Number(m[3])), 3);
  }
  for (const m of text.matchAll(MONTH_DAY)) {
    add(m.index, inferYear(base, monthIndex(m[1]!), Number(m[2]), parseYear(m[3])), 3);
  }
  for (const m of text.matchAll(DAY_MONTH)) {
    add(m.index, inferYear(base, monthIndex(m[2]!), Number(m[1]), parseYear(m[3])), 3);
  }
  for (const m of text.matchAll(/\bQ([1-4])(?: ?(\d{4}))?\b/g)) {
    const quarter = Number(m[1]) - 1;
    const year = m[2] !== undefined ? Number(m[2]) : base === null ? null : new Date(base).getUTCFullYear();
    if (year === null) continue;
    const bump =
      m[2] === undefined && base !== null && quarter < Math.floor(new Date(base).getUTCMonth() / 3) ? 1 : 0;
    add(m.index, Date.UTC(year + bump, quarter * 3, 1), 1);
  }
  if (base === null) return hits;

  const weekday = new Date(base).getUTCDay();
  for (const m of text.matchAll(
    /\b(?:(today|tonight|this (?:morning|afternoon|evening))|(tomorrow)|(yesterday)|(day after tomorrow))\b/gi,
  )) {
    const offset = m[4] ? 2 : m[2] ? 1 : m[3] ? -1 : 0;
    add(m.index, base + offset * DAY_MS, 2);
  }
  for (const m of text.matchAll(
    /\b(?:EOD|COB|end of (?:the )?(?:business )?day)(?: (today|tomorrow))?\b/gi,
  )) {
    add(m.index, base + (m[1]?.toLowerCase() === 'tomorrow' ? DAY_MS : 0), 1);
  }
  const weekdayPattern =
    /\b(?:(next|this|last|coming|on|by|until|before)\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)('s)?\b/gi;
  for (const m of text.matchAll(weekdayPattern)) {
    const target = WEEKDAYS.indexOf(m[2]!.toLowerCase());
    const modifier = m[1]?.toLowerCase();
    let delta = (target - weekday + 7) % 7;
    if (modifier === 'last' || m[3] !== undefined) delta = delta === 0 ? -7 : delta - 7;
    else if (modifier === 'next') {
      if (delta === 0) delta = 7;
      if (((weekday + 6) % 7) + delta < 7) delta += 7;
    }
    add(m.index, base + delta * DAY_MS, 2);
  }
  for (const m of text.matchAll(
    /\b(?:(end of (?:the )?week|EOW)|(next week)|(end of (?:the )?month|EOM)|(next month))\b/gi,
  )) {
    const date = new Date(base);
    let day: number;
    if (m[1]) day = base + ((5 - weekday + 7) % 7) * DAY_MS;
    else if (m[2]) day = base + (7 - ((weekday + 6) % 7)) * DAY_MS;
    else if (m[3]) day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0);
    else day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    add(m.index, day, 1);
  }
  for (const m of text.matchAll(
    /\bin (\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten) (day|week|month)s?\b/gi,
  )) {
    const count = /^\d+$/.test(m[1]!) ? Number(m[1]) : (NUMBER_WORDS[m[1]!.toLowerCase()] ?? 1);
    const unit = m[2]!.toLowerCase();
    const date = new Date(base);
    const day =
      unit === 'month'
        ? Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + count, date.getUTCDate())
        : base + count * (unit === 'week' ? 7 : 1) * DAY_MS;
    add(m.index, day, 2);
  }
  return hits;
}

/** The event's date: a deadline first, then the most precise, then the earliest mentioned. */
function pickDate(hits: readonly DateHit[]): string | null {
  const best = [...hits].sort(
    (a, b) => Number(b.deadline) - Number(a.deadline) || b.precision - a.precision || a.index - b.index,
  )[0];
  return best === undefined ? null : new Date(best.day).toISOString().slice(0, 10);
}

function utcDay(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

// ---------------------------------------------------------------------------------------------
// Document structure

interface Line {
  start: number;
  end: number;
  text: string;
}

function splitLines(text: string, from: number, to: number): Line[] {
  const lines: Line[] = [];
  let start = from;
  for (;;) {
    let newline = text.indexOf('\n', start);
    if (newline < 0 || newline > to) newline = to;
    const end = newline > start && text[newline - 1] === '\r' ? newline - 1 : newline;
    lines.push({ start, end, text: text.slice(start, end) });
    if (newline >= to) break;
    start = newline + 1;
  }
  return lines;
}

/** Metadata keys of a document's leading `Key: value` lines. */
const META_KEYS = new Set(
  (
    'from,to,cc,bcc,subject,date,sent,time,when,where,location,attendees,participants,present,' +
    'absent,title,status,owner,owners,author,authors,decision maker,decision makers,decided by,' +
    'reviewers,approvers,approver,organizer,organiser,facilitator,note taker,channel,thread,' +
    'project,type,priority,version,tags,reply-to,re,meeting,team'
  ).split(','),
);
const PEOPLE_KEYS = new Set(
  (
    'from,to,cc,bcc,attendees,participants,present,owner,owners,author,authors,decision maker,' +
    'decision makers,decided by,reviewers,approvers,approver,organizer,organiser,facilitator,note taker'
  ).split(','),
);
const META_LINE = /^\s*([A-Za-z][A-Za-z .-]{0,30}?)\s*:\s*(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const ITEM = /^(\s*)(?:[-*•+‣◦▪]|\d{1,3}[.)]|[a-z][.)])\s+(?:\[[ xX]\]\s+)?/;
const CHAT_HEADER =
  /^\s*(?:\[[^\]\n]{1,30}\]\s*)?(@?[\p{L}][\p{L}\p{N}._-]{0,40}(?: \p{Lu}[\p{L}-]*){0,2})\s*:\s*$/u;
const TIMESTAMP = /^\s*\[[^\]\n]{1,30}\]/;
const LABEL = /^(?:\[[^\]\n]{1,30}\]\s*)?(\*\*|__)?([^:*_\n]{1,40}?)\1?\s*:\s+(?=\S)/;
const HANDLE = /^@?[\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+$/u;

interface Label {
  /** Where the label ends (after the colon and spaces). */
  end: number;
  text: string;
  /** The person the label names, or null for a field name ("Budget: ...") or a bold heading. */
  person: string | null;
  bold: boolean;
}

interface Block {
  start: number;
  end: number;
  isItem: boolean;
  hint: Category | null;
  speaker: string | null;
  label: Label | null;
}

interface DocumentModel {
  blocks: Block[];
  roster: Roster;
  date: number | null;
  author: string | null;
}

/** Verbs that open a to-do ("Complete the refactor", "Send the draft"). */
const TASK_VERB =
  /^(?:complete|finish|finali[sz]e|send|share|review|set up|setup|deliver|schedule|update|prepare|draft|write|fix|investigate|follow up|create|build|test|deploy|check|confirm|book|organi[sz]e|document|present|contact|call|email|draft|ship|merge|implement|migrate|design|plan|coordinate|run|add|remove|provide|submit|sign|get|make|own|lead|drive|look into|reach out|talk to|sync|circulate|publish|release|clean up|refactor|research|evaluate|estimate|assess|analy[sz]e|identify|collect|gather|arrange|finalise|reply|respond|ping)\b/i;

function looksLikeName(text: string): boolean {
  if (!/^\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+){0,2}$/u.test(text)) return false;
  return !text
    .split(' ')
    .some((word) => NOT_NAMES.has(word) || /(?:ed|ing|tion|ment|ness|ity|ance|ence|ary|ive|ics)$/.test(word));
}

/** A leading `Label:` of a line or item, and whether it names a person. */
function readLabel(text: string, from: number, to: number, roster: Roster, isItem: boolean): Label | null {
  const match = LABEL.exec(text.slice(from, Math.min(to, from + 80)));
  if (match === null) return null;
  const labelText = match[2]!.trim();
  const rest = text.slice(from + match[0].length, to);
  let person = roster.resolve(labelText);
  if (person === null && HANDLE.test(labelText)) person = personName(labelText);
  if (person === null && looksLikeName(labelText) && (isItem || TIMESTAMP.test(text.slice(from, to)))) {
    // An unknown capitalised word is a person when what follows reads like a to-do.
    if (TASK_VERB.test(rest) || findDates(rest, null).length > 0 || /\bby\b/.test(rest)) {
      person = roster.add(labelText);
    }
  }
  return { end: from + match[0].length, text: labelText, person, bold: match[1] !== undefined };
}

/**
 * Reads the structure of `text[from, to)`: metadata lines, headings, list items, chat speakers,
 * paragraphs. `roster` receives the people the metadata and the text name.
 */
function readDocument(text: string, from: number, to: number, input: ExtractionInput): DocumentModel {
  const roster = new Roster();
  let author: string | null = null;
  if (input.author !== null) author = roster.add(input.author);
  for (const participant of input.participants) roster.add(participant);
  let date = input.ts === null || Number.isNaN(input.ts.getTime()) ? null : utcDay(input.ts);

  const lines = splitLines(text, from, to);
  // Leading metadata: `Key: value` lines with known keys, and a title line right above them.
  let first = 0;
  while (first < lines.length && lines[first]!.text.trim() === '') first++;
  let bodyStart = first;
  for (let i = first; i < lines.length; i++) {
    const line = lines[i]!;
    const meta = META_LINE.exec(line.text);
    const key = meta?.[1]?.trim().toLowerCase();
    const isMeta = key !== undefined && META_KEYS.has(key);
    const nextMeta = META_LINE.exec(lines[i + 1]?.text ?? '');
    const isTitle =
      i === first &&
      !isMeta &&
      nextMeta !== null &&
      META_KEYS.has(nextMeta[1]!.trim().toLowerCase()) &&
      !/[.!?]\s*$/.test(line.text) &&
      line.text.trim().split(/\s+/).length <= 12;
    if (!isMeta && !isTitle) break;
    bodyStart = i + 1;
    if (!isMeta || meta === null) continue;
    const value = meta[2]!.trim();
    if (key === 'date' || key === 'sent') {
      const parsed = Date.parse(value);
      if (date === null && !Number.isNaN(parsed)) date = utcDay(new Date(parsed));
    }
    if (key !== undefined && PEOPLE_KEYS.has(key)) {
      for (const part of value.split(/,|;|\band\b|\bwith input from\b|\bwith\b/)) {
        const added = roster.add(part);
        if (added !== null && key === 'from' && author === null) author = added;
      }
    }
  }

  // People named elsewhere: chat handles, @mentions, "Carol presented ...".
  const body = text.slice(lines[bodyStart]?.start ?? to, to);
  for (const m of body.matchAll(
    /(?:^|\n)\s*(?:\[[^\]\n]{1,30}\]\s*)?([\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+)\s*:/gu,
  )) {
    roster.add(m[1]!);
  }
  for (const m of body.matchAll(/(?<![\p{L}\p{N}_])@([\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+)/gu)) roster.add(m[1]!);
  for (const m of body.matchAll(NAME_IN_ROLE)) roster.add((m[1] ?? m[2])!);
  for (const m of body.matchAll(NAME_TO_VERB)) if (looksLikeName(m[1]!)) roster.add(m[1]!);
  for (const m of body.matchAll(PERSON_VERB)) if (looksLikeName(m[1]!)) roster.add(m[1]!);

  const blocks: Block[] = [];
  let section: Category | null = null;
  // The hint of the list intro above ("Risks:"), undefined when there is none: then the section's.
  let listHint: Category | null | undefined;
  let speaker: string | null = null;
  let current: Block | null = null;
  let previousBlank = true;
  const close = (): void => {
    current = null;
  };
  for (let i = bodyStart; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.text.trim();
    if (trimmed === '') {
      previousBlank = true;
      if (current !== null && !(current as Block).isItem) close();
      continue;
    }
    const heading = HEADING.exec(line.text);
    if (heading !== null) {
      close();
      section = hintOf(heading[1]!);
      listHint = undefined;
      previousBlank = false;
      continue;
    }
    const chat = CHAT_HEADER.exec(line.text);
    if (chat !== null) {
      const name = chat[1]!;
      const resolved =
        TIMESTAMP.test(line.text) || HANDLE.test(name)
          ? (roster.resolve(name) ?? roster.add(name))
          : roster.resolve(name);
      if (resolved !== null || TIMESTAMP.test(line.text)) {
        close();
        speaker = resolved;
        previousBlank = false;
        continue;
      }
    }
    const item = ITEM.exec(line.text);
    const open: Block | null = current;
    if (item !== null) {
      const start = line.start + item[0].length;
      const hint = listHint !== undefined ? listHint : section;
      current = {
        start,
        end: line.end,
        isItem: true,
        hint,
        speaker,
        label: readLabel(text, start, line.end, roster, true),
      };
      blocks.push(current);
    } else if (open?.isItem && !previousBlank && (/^\s/.test(line.text) || /^\p{Ll}/u.test(trimmed))) {
      open.end = line.end;
    } else {
      const start = line.start + (line.text.length - line.text.trimStart().length);
      const label = readLabel(text, start, line.end, roster, false);
      const lineSpeaker = label?.person ?? null;
      if (open === null || open.isItem || previousBlank || lineSpeaker !== null) {
        if (open?.isItem) listHint = undefined;
        current = {
          start,
          end: line.end,
          isItem: false,
          hint: section,
          speaker: lineSpeaker ?? speaker,
          label,
        };
        blocks.push(current);
      } else {
        open.end = line.end;
      }
      // A line ending in a colon introduces the list below it: its words hint at the items.
      if (trimmed.endsWith(':') && ITEM.test(nextNonBlank(lines, i + 1)?.text ?? '')) {
        listHint = hintOf(trimmed);
        close();
      }
    }
    previousBlank = false;
  }
  return { blocks, roster, date, author };
}

function nextNonBlank(lines: readonly Line[], from: number): Line | undefined {
  for (let i = from; i < lines.length; i++) if (lines[i]!.text.trim() !== '') return lines[i];
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Sentences

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
function splitSentences(text: string, from: number, to: number): Span[] {
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

// ---------------------------------------------------------------------------------------------
// Classification

interface Verdict {
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

function classify(
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
  for (const { category, weight, pattern, factual } of CUES) {
    const match = pattern.exec(sentence);
    if (match === null) continue;
    if (factual && NOT_HAPPENED.test(sentence.slice(Math.max(0, match.index - 30), match.index))) continue;
    consider(category, weight, match.index, match[0].length);
  }
  // An action item: "Bob: Complete the API refactor by March 25th".
  const label = isFirstSentence ? block.label : null;
  if (label?.person && label.end <= span.end) {
    const rest = text.slice(label.end, span.end);
    if (TASK_VERB.test(rest) || dates.length > 0 || /^(?:will|to)\b/i.test(rest)) {
      consider('Commitment', 0.85, 0, label.end - span.start);
    }
  }
  // "Alice to discuss the timeline with stakeholders on March 22nd.", "Maria will send ...".
  const named = NAMED_SUBJECT.exec(sentence);
  // "Carol to follow up" reads as a to-do whoever Carol is; "X will" only when X is known to be
  // a person ("Launch will slip" is no commitment).
  const isPerson =
    named !== null && (roster.resolve(named[1]!) !== null || (named[2] === 'to' && looksLikeName(named[1]!)));
  if (named !== null && isPerson) {
    consider('Commitment', named[2] === 'to' ? 0.8 : 0.7, 0, named[0].length);
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

  const scores = new Map<Category, number>();
  for (const [category, { weight }] of best) scores.set(category, weight);
  // A heading alone makes an event (0.7); with a cue of its own category it strengthens it. It never
  // outweighs an explicit cue of another category ("flagged a concern" under "Status Updates").
  if (block.hint !== null) {
    const own = scores.get(block.hint);
    scores.set(block.hint, own === undefined ? HINT_ONLY_SCORE : round2(own + HINT_BONUS));
  }
  let winner: Category | null = null;
  let top = 0;
  for (const category of PRIORITY) {
    const score = scores.get(category);
    if (score === undefined) continue;
    if (winner === null || score > top + 1e-9 || (Math.abs(score - top) < 1e-9 && category === block.hint)) {
      winner = category;
      top = score;
    }
  }
  if (winner === null || top < MIN_SCORE) return null;
  const found = best.get(winner);
  return {
    category: winner,
    score: top,
    cueWeight: found?.weight ?? 0,
    cueAt: found?.at ?? span.start,
    cueEnd: found?.end ?? span.start,
    backReference: BACK_REFERENCE.test(sentence),
  };
}

// ---------------------------------------------------------------------------------------------
// Events

interface Draft {
  verdict: Verdict;
  block: Block;
  sentences: Span[];
  firstSentenceIndex: number;
  lastSentenceIndex: number;
}

function spanOf(draft: Draft): Span {
  return { start: draft.sentences[0]!.start, end: draft.sentences[draft.sentences.length - 1]!.end };
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
function blockDrafts(text: string, block: Block, dateBase: number | null, roster: Roster): Draft[] {
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

const STOP_WORDS = new Set(
  (
    'over by before after until till on in at for from with to and but so because since which that as if ' +
    'when while than is are was were will would should can could may might has have had be been being ' +
    'this these those it its via per about into onto within without across against during who whom whose ' +
    'instead then today tomorrow yesterday tonight next last eod monday tuesday wednesday thursday friday ' +
    'saturday sunday because'
  ).split(' '),
);
const LEADING_SKIP = new Set(
  "to we i they you he she it will would shall should can could must need go with on for the a an our their its his her my your this that these those be been being about of up just now also all some any new i'll we'll they'll you'll i’ll we’ll".split(
    ' ',
  ),
);
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
    if (!/^[\p{L}\p{N}]/u.test(token) || STOP_WORDS.has(token.toLowerCase()) || MONTH_WORD.test(token)) break;
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

/** "David reported ...", "Frank thinks that ...": the person and verb before what the sentence is about. */
const TASK_VERB_AT_START = new RegExp(`^\\s*${TASK_VERB.source.slice(1)}`, 'i');
const NAME_AND_VERB = /^(\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?) \p{Ll}+(?: that)? /u;

/**
 * What the event is about: a field label ("Travel budget: reduced ..."), the object of an action
 * item, the phrase before the verb ("Database connection pooling may ..."), or the phrase after
 * the cue ("agreed to go with a freemium model"); else the sentence's first words as `other`.
 */
function subjectOf(core: string, cueEnd: number, label: Label | null, roster: Roster): Subject {
  const typed = (phrase: string): Subject => {
    const person = roster.resolve(phrase);
    if (person !== null) return { type: 'person', ref: person };
    return { type: PROJECT_WORDS.test(phrase) ? 'project' : 'object', ref: phrase.slice(0, 200) };
  };
  const labelWords = label?.text.split(' ') ?? [];
  // "Travel budget: ...", "**Launch Date**: ..."; not "Emma flagged a concern: ...".
  const isFieldLabel =
    label !== null &&
    label.person === null &&
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

function cleanText(text: string): string {
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
function narrativeOf(text: string, draft: Draft, speaker: string | null, author: string | null): string {
  const span = spanOf(draft);
  const label = draft.firstSentenceIndex === 0 ? draft.block.label : null;
  let body = cleanText(text.slice(label?.person ? label.end : span.start, span.end));
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
function actorsOf(
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
  const label = draft.firstSentenceIndex === 0 ? draft.block.label : null;
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

interface Candidate {
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
function readEvents(text: string, from: number, to: number, input: ExtractionInput): Candidate[] {
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
      const label = draft.firstSentenceIndex === 0 ? draft.block.label : null;
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

/** Whether the chunks are exact slices of the content, as the worker stores them. */
function tilesContent(content: string, chunks: readonly SourceChunk[]): boolean {
  return chunks.every(
    (chunk) =>
      chunk.startChar >= 0 &&
      chunk.endChar <= content.length &&
      chunk.endChar - chunk.startChar === chunk.text.length &&
      content.startsWith(chunk.text, chunk.startChar),
  );
}

/** Finds, for an absolute span, the chunk its evidence is attributed to. */
interface ChunkLocator {
  /** The first chunk (by index) that holds the span, else the one overlapping it most, with the span clipped to it. */
  place(span: Span): { chunk: SourceChunk; span: Span } | null;
}

/**
 * Chunks as the chunker makes them (starts and ends both increasing) are searched by bisection,
 * so placing every event of a 10 MB revision stays O(events × log chunks); any other layout
 * falls back to a scan of all chunks.
 */
function chunkLocator(chunks: readonly SourceChunk[]): ChunkLocator {
  const ordered = [...chunks].sort((a, b) => a.startChar - b.startChar || a.index - b.index);
  const monotonic = ordered.every(
    (chunk, i) =>
      i === 0 || (chunk.endChar >= ordered[i - 1]!.endChar && chunk.index > ordered[i - 1]!.index),
  );
  const choose = (
    candidates: readonly SourceChunk[],
    span: Span,
  ): { chunk: SourceChunk; span: Span } | null => {
    let holder: SourceChunk | null = null;
    let best: SourceChunk | null = null;
    let bestOverlap = 0;
    for (const chunk of candidates) {
      if (chunk.startChar <= span.start && span.end <= chunk.endChar) {
        if (holder === null || chunk.index < holder.index) holder = chunk;
        continue;
      }
      const overlap = Math.min(chunk.endChar, span.end) - Math.max(chunk.startChar, span.start);
      if (overlap > bestOverlap) {
        best = chunk;
        bestOverlap = overlap;
      }
    }
    if (holder !== null) return { chunk: holder, span };
    if (best === null) return null;
    return {
      chunk: best,
      span: { start: Math.max(best.startChar, span.start), end: Math.min(best.endChar, span.end) },
    };
  };
  return {
    place(span) {
      if (!monotonic) return choose(ordered, span);
      // The last chunk starting at or before the span; the ones holding or overlapping it are
      // around it (with the chunker's overlap, at most one or two before and one after).
      let low = 0;
      let high = ordered.length;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (ordered[mid]!.startChar <= span.start) low = mid + 1;
        else high = mid;
      }
      const at = Math.max(0, low - 1);
      let first = at;
      while (first > 0 && ordered[first - 1]!.endChar > span.start) first--;
      let last = at;
      while (last + 1 < ordered.length && ordered[last + 1]!.startChar < span.end) last++;
      return choose(ordered.slice(first, last + 1), span);
    },
  };
}

function extractByRules(input: ExtractionInput): ExtractedEvent[] {
  const chunks = [...input.chunks].sort((a, b) => a.index - b.index);
  if (chunks.length === 0) return [];
  const events: ExtractedEvent[] = [];
  const seen = new Set<string>();
  /** `place` maps a span of the text that was read to a chunk and a span relative to that chunk. */
  const emit = (
    candidate: Candidate,
    place: (span: Span) => { chunk: SourceChunk; local: Span } | null,
  ): void => {
    const evidence: ExtractedEvent['evidence'] = [];
    let key: string | null = null;
    for (const span of candidate.evidence) {
      const placed = place(span);
      if (placed === null) continue;
      const { chunk, local } = placed;
      const trimmed = trimSpan(chunk.text, local);
      if (trimmed === null) continue;
      const exact = limitWords(chunk.text, trimmed);
      key ??= `${candidate.event.category}:${chunk.startChar + exact.start}:${chunk.startChar + exact.end}`;
      evidence.push({ quote: chunk.text.slice(exact.start, exact.end), chunk_index: chunk.index });
    }
    if (key === null || seen.has(key)) return;
    seen.add(key);
    events.push({ ...candidate.event, evidence });
  };

  if (input.content !== '' && tilesContent(input.content, chunks)) {
    const locator = chunkLocator(chunks);
    for (const candidate of readEvents(input.content, 0, input.content.length, input)) {
      emit(candidate, (span) => {
        const placed = locator.place(span);
        if (placed === null) return null;
        const { chunk } = placed;
        return {
          chunk,
          local: { start: placed.span.start - chunk.startChar, end: placed.span.end - chunk.startChar },
        };
      });
    }
    return events;
  }
  // The chunks are all we have: read each on its own, keep an event once per absolute span.
  for (const chunk of chunks) {
    for (const candidate of readEvents(chunk.text, 0, chunk.text.length, input)) {
      emit(candidate, (span) => ({ chunk, local: span }));
    }
  }
  return events;
}

/**
 * The offline extractor: cue phrases, document structure and dates (see the module comment).
 * Deterministic, no network; the same events for the same input.
 */
export function createRulesExtractor(): Extractor {
  return {
    name: 'rules',
    extract: async (input) => extractByRules(input),
  };
}

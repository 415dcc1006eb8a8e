/**
 * Dates in a sentence, resolved to calendar days against the artifact's own day: absolute dates,
 * named relative days ("next Friday", "tomorrow") and vague periods ("end of week", "Q3"). An
 * event's `event_time` is the date its sentence gives, a deadline first.
 */

const DAY_MS = 86_400_000;

const MONTH =
  'January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec';
export const MONTH_WORD = new RegExp(`^(?:${MONTH})$`);
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

export interface DateHit {
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
export function findDates(text: string, base: number | null): DateHit[] {
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
export function pickDate(hits: readonly DateHit[]): string | null {
  const best = [...hits].sort(
    (a, b) => Number(b.deadline) - Number(a.deadline) || b.precision - a.precision || a.index - b.index,
  )[0];
  return best === undefined ? null : new Date(best.day).toISOString().slice(0, 10);
}

export function utcDay(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
}

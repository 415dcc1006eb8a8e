/** Reusable valibot pieces for tool inputs, each with a message naming the rule. */
import * as v from 'valibot';

/**
 * Why a string cannot be stored, or undefined when it can. Postgres refuses NUL in `text`
 * (a raw driver error), and a lone surrogate is not Unicode at all: it cannot be encoded as
 * UTF-8, so Postgres, the vector index and every client reading it back would each fail in
 * their own way. Both are refused at the edge, before anything is written.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function illFormedText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain NUL characters (U+0000)';
  if (LONE_SURROGATE.test(value)) return 'must be well-formed Unicode (no unpaired surrogate code units)';
  return undefined;
}

/**
 * The first string anywhere in `value` (object keys included) that cannot be stored, with its
 * dotted path. The registry runs this over every call's arguments, so every text field of every
 * tool, nested ones included, is covered in one place, including fields added later.
 */
export function findIllFormedText(
  value: unknown,
  path: readonly string[] = [],
): { path: string; rule: string } | undefined {
  const at = (keys: readonly string[]) => (keys.length > 0 ? keys.join('.') : 'input');
  if (typeof value === 'string') {
    const rule = illFormedText(value);
    return rule === undefined ? undefined : { path: at(path), rule };
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findIllFormedText(item, [...path, String(index)]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const keyRule = illFormedText(key);
      if (keyRule !== undefined) return { path: at(path), rule: `field names ${keyRule}` };
      const found = findIllFormedText(item, [...path, key]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export function text(min: number, max: number, description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.minLength(min, `must be at least ${min} character${min === 1 ? '' : 's'} long`),
    v.maxLength(max, `must be at most ${max.toLocaleString('en-US')} characters long`),
    v.description(description),
  );
}

/** Text that must contain something other than white space. */
export function nonBlank(max: number, description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.minLength(1, 'must not be empty'),
    v.maxLength(max, `must be at most ${max.toLocaleString('en-US')} characters long`),
    v.check((value) => value.trim().length > 0, 'must not be blank'),
    v.description(description),
  );
}

/**
 * A whole number from `min` to `max`, at most `Number.MAX_SAFE_INTEGER`: beyond that a double
 * no longer holds every integer (1e308 "is" an integer), and the value would not survive being
 * stored, compared or sent back unchanged.
 */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  const rule =
    max === Number.MAX_SAFE_INTEGER
      ? `must be an integer >= ${min} and at most 2^53 - 1`
      : `must be an integer from ${min} to ${max}`;
  return v.pipe(
    v.number('must be a number'),
    v.safeInteger(rule),
    v.minValue(min, rule),
    v.maxValue(max, rule),
  );
}

export function integer(min: number, max: number, fallback: number, description: string) {
  return v.optional(
    v.pipe(
      v.number('must be a number'),
      v.integer(`must be an integer from ${min} to ${max}`),
      v.minValue(min, `must be an integer from ${min} to ${max}`),
      v.maxValue(max, `must be an integer from ${min} to ${max}`),
      v.description(description),
    ),
    fallback,
  );
}

export function flag(fallback: boolean, description: string) {
  return v.optional(v.pipe(v.boolean('must be true or false'), v.description(description)), fallback);
}

export function oneOf<const T extends readonly [string, ...string[]]>(options: T, description: string) {
  return v.pipe(v.picklist(options, `must be one of ${options.join(', ')}`), v.description(description));
}

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
// Years 1 to 9999 in UTC, what Postgres stores and gives back unchanged (Date.UTC would read
// year 1 as 1901, hence the parse).
const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether `value` names a real calendar day in years 1 to 9999. `Date.parse` rolls 2025-02-30
 * over to March 2nd and accepts year 0000, which Postgres refuses; both are caught here.
 */
function isCalendarDate(value: string): boolean {
  const match = ISO_DATE.exec(value);
  if (match === null) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const calendar = new Date(0);
  calendar.setUTCFullYear(year, month - 1, day);
  if (calendar.getUTCDate() !== day) return false; // past the end of its month
  const instant = Date.parse(value);
  return !Number.isNaN(instant) && instant >= FIRST_INSTANT && instant <= LAST_INSTANT;
}

export function isoDate(description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.check(
      isCalendarDate,
      'must be an ISO 8601 date or date-time in years 0001 to 9999, e.g. 2025-01-31 or 2025-01-31T09:30:00Z',
    ),
    v.description(description),
  );
}

const URL_SCHEMES = ['http:', 'https:', 'mailto:'];

/** An absolute http, https or mailto URL: a link a client may show, never `javascript:`/`data:`. */
export function link(max: number, description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.maxLength(max, `must be at most ${max.toLocaleString('en-US')} characters long`),
    v.url('must be an absolute URL, e.g. https://example.com/doc/1'),
    v.check(
      (value) => URL.canParse(value) && URL_SCHEMES.includes(new URL(value).protocol),
      'must be an http, https or mailto URL',
    ),
    v.description(description),
  );
}

export function id(prefix: string, hexLength: number, description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.regex(
      new RegExp(`^${prefix}[0-9a-f]{${hexLength}}$`),
      `must look like ${prefix}${'0'.repeat(hexLength)}`,
    ),
    v.description(description),
  );
}

export const artifactUid = id(
  'uid_',
  16,
  'The artifact_uid returned by artifact_ingest or artifact_get, e.g. uid_0123456789abcdef.',
);

export const revisionId = v.optional(
  id('rev_', 16, 'A revision_id of the artifact (default: its latest revision).'),
);

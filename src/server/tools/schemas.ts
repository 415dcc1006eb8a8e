/** Reusable valibot pieces for tool inputs, each with a message naming the rule. */
import * as v from 'valibot';

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

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

export function isoDate(description: string) {
  return v.pipe(
    v.string('must be a string'),
    v.check(
      (value) => ISO_DATE.test(value) && !Number.isNaN(Date.parse(value)),
      'must be an ISO 8601 date or date-time, e.g. 2025-01-31 or 2025-01-31T09:30:00Z',
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

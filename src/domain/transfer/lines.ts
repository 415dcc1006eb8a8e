/**
 * The export format: JSON Lines, one record per line. The first line is a header naming the
 * format and its version; then memories, conversation turns, artifact revisions (every revision,
 * with its full text, metadata and chunk offsets), events with their evidence, and job states.
 *
 * Every line is validated before anything is imported; an error names the line number and the
 * field. Ids, hashes and offsets are checked against each other (a revision's text must hash to
 * its content_hash, each chunk's offsets must lie inside the text), so a corrupted line is caught
 * here rather than by a constraint halfway through an import.
 */
import * as v from 'valibot';
import { MAX_TURN_INDEX } from '../history.js';
import { sha256Hex } from '../ids.js';

export const EXPORT_FORMAT = 'memory-export';
export const EXPORT_VERSION = 1;

const isoDate = v.pipe(
  v.string('must be an ISO 8601 time string'),
  v.check((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 time string'),
  v.transform((value) => new Date(value)),
);
const nullableDate = v.nullable(isoDate);
const nullableText = v.nullable(v.string('must be a string or null'));
const uuid = v.pipe(v.string('must be a string'), v.uuid('must be a UUID'));
const count = v.pipe(
  v.number('must be a number'),
  v.integer('must be an integer'),
  v.minValue(0, 'must be ≥ 0'),
);
const unit = v.pipe(
  v.number('must be a number'),
  v.minValue(0, 'must be from 0 to 1'),
  v.maxValue(1, 'must be from 0 to 1'),
);
const nonEmpty = v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'));
const pattern = (regex: RegExp, rule: string) => v.pipe(v.string('must be a string'), v.regex(regex, rule));

export const HeaderLine = v.strictObject({
  type: v.literal('header'),
  format: v.literal(EXPORT_FORMAT, `must be "${EXPORT_FORMAT}"`),
  version: v.literal(
    EXPORT_VERSION,
    `must be ${EXPORT_VERSION} (this version of memory reads version ${EXPORT_VERSION})`,
  ),
  exported_at: v.string('must be an ISO 8601 time string'),
});

export const MemoryLine = v.strictObject({
  type: v.literal('memory'),
  memory_id: pattern(/^mem_[0-9a-f]{12}$/, 'must be mem_ followed by 12 hex digits'),
  content: nonEmpty,
  memory_type: v.picklist(
    ['preference', 'fact', 'project', 'decision'],
    'must be preference, fact, project or decision',
  ),
  confidence: unit,
  conversation_id: nullableText,
  tags: v.array(v.string('must be a string'), 'must be an array of strings'),
  metadata: v.record(v.string(), v.unknown(), 'must be an object'),
  ts: isoDate,
});

export const TurnLine = v.strictObject({
  type: v.literal('turn'),
  conversation_id: v.pipe(
    v.string('must be a string'),
    v.minLength(1, 'must not be empty'),
    v.maxLength(100, 'must be at most 100 characters long'),
  ),
  turn_index: v.pipe(count, v.maxValue(MAX_TURN_INDEX, `must be at most ${MAX_TURN_INDEX}`)),
  role: v.picklist(['user', 'assistant', 'system'], 'must be user, assistant or system'),
  speaker: nullableText,
  content: nonEmpty,
  ts: isoDate,
});

const Chunk = v.strictObject({
  chunk_index: count,
  chunk_id: nonEmpty,
  start_char: count,
  end_char: count,
  token_count: count,
  content_hash: pattern(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
});

export const RevisionLine = v.pipe(
  v.strictObject({
    type: v.literal('revision'),
    artifact_uid: pattern(/^uid_[0-9a-f]{16}$/, 'must be uid_ followed by 16 hex digits'),
    revision_id: pattern(/^rev_[0-9a-f]{16}$/, 'must be rev_ followed by 16 hex digits'),
    artifact_id: pattern(/^art_[0-9a-f]{16}$/, 'must be art_ followed by 16 hex digits'),
    artifact_type: v.picklist(
      ['email', 'doc', 'chat', 'transcript', 'note'],
      'must be email, doc, chat, transcript or note',
    ),
    source_system: v.pipe(
      v.string('must be a string'),
      v.minLength(1, 'must not be empty'),
      v.maxLength(100, 'must be at most 100 characters long'),
    ),
    source_id: nullableText,
    source_url: nullableText,
    source_ts: nullableDate,
    title: nullableText,
    author: nullableText,
    participants: v.array(v.string('must be a string'), 'must be an array of strings'),
    content_hash: pattern(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
    token_count: count,
    is_chunked: v.boolean('must be true or false'),
    chunk_count: count,
    sensitivity: v.picklist(
      ['normal', 'sensitive', 'highly_sensitive'],
      'must be normal, sensitive or highly_sensitive',
    ),
    visibility_scope: v.picklist(['me', 'team', 'org', 'custom'], 'must be me, team, org or custom'),
    retention_policy: v.picklist(
      ['forever', '1y', 'until_resolved', 'custom'],
      'must be forever, 1y, until_resolved or custom',
    ),
    is_latest: v.boolean('must be true or false'),
    ingested_at: isoDate,
    content: v.string('must be a string'),
    chunks: v.pipe(v.array(Chunk, 'must be an array'), v.minLength(1, 'must hold at least one chunk')),
  }),
  v.forward(
    v.check((line) => sha256Hex(line.content) === line.content_hash, 'does not match the sha256 of content'),
    ['content_hash'],
  ),
  v.forward(
    v.check(
      (line) => line.chunks.length === (line.is_chunked ? line.chunk_count : 1),
      'must hold chunk_count chunks (one for an unchunked revision)',
    ),
    ['chunks'],
  ),
  v.forward(
    v.check(
      (line) =>
        line.chunks.every(
          (chunk) =>
            chunk.start_char < chunk.end_char &&
            chunk.end_char <= line.content.length &&
            sha256Hex(line.content.slice(chunk.start_char, chunk.end_char)) === chunk.content_hash,
        ),
      'each chunk must lie inside content and its text must match its content_hash',
    ),
    ['chunks'],
  ),
);

const Evidence = v.strictObject({
  evidence_id: uuid,
  chunk_id: nullableText,
  start_char: count,
  end_char: count,
  quote: nonEmpty,
  created_at: isoDate,
});

export const EventLine = v.strictObject({
  type: v.literal('event'),
  event_id: uuid,
  artifact_uid: pattern(/^uid_[0-9a-f]{16}$/, 'must be uid_ followed by 16 hex digits'),
  revision_id: pattern(/^rev_[0-9a-f]{16}$/, 'must be rev_ followed by 16 hex digits'),
  category: v.picklist(
    [
      'Commitment',
      'Execution',
      'Decision',
      'Collaboration',
      'QualityRisk',
      'Feedback',
      'Change',
      'Stakeholder',
    ],
    'must be one of the eight event categories',
  ),
  event_time: nullableDate,
  narrative: v.pipe(
    v.string('must be a string'),
    v.minLength(1, 'must not be empty'),
    v.maxLength(2000, 'must be at most 2,000 characters long'),
  ),
  subject: v.strictObject({
    type: v.picklist(['person', 'project', 'object', 'other'], 'must be person, project, object or other'),
    ref: v.string('must be a string'),
  }),
  actors: v.array(
    v.strictObject({ ref: v.string('must be a string'), role: v.string('must be a string') }),
    'must be an array',
  ),
  confidence: unit,
  extraction_run_id: v.nullable(uuid),
  created_at: isoDate,
  evidence: v.array(Evidence, 'must be an array'),
});

export const JobLine = v.strictObject({
  type: v.literal('job'),
  job_id: uuid,
  job_type: nonEmpty,
  artifact_uid: pattern(/^uid_[0-9a-f]{16}$/, 'must be uid_ followed by 16 hex digits'),
  revision_id: pattern(/^rev_[0-9a-f]{16}$/, 'must be rev_ followed by 16 hex digits'),
  status: v.picklist(
    ['PENDING', 'PROCESSING', 'DONE', 'FAILED'],
    'must be PENDING, PROCESSING, DONE or FAILED',
  ),
  attempts: count,
  max_attempts: v.pipe(count, v.minValue(1, 'must be ≥ 1')),
  next_run_at: isoDate,
  locked_at: nullableDate,
  locked_by: nullableText,
  last_error_code: nullableText,
  last_error_message: nullableText,
  created_at: isoDate,
  updated_at: isoDate,
});

const LINES = {
  memory: MemoryLine,
  turn: TurnLine,
  revision: RevisionLine,
  event: EventLine,
  job: JobLine,
} as const;

export type RecordType = keyof typeof LINES;
/** The order records follow in a file (an event needs its revision, a job too). */
export const RECORD_ORDER: readonly RecordType[] = ['memory', 'turn', 'revision', 'event', 'job'];

export type ParsedLine =
  | { type: 'memory'; value: v.InferOutput<typeof MemoryLine> }
  | { type: 'turn'; value: v.InferOutput<typeof TurnLine> }
  | { type: 'revision'; value: v.InferOutput<typeof RevisionLine> }
  | { type: 'event'; value: v.InferOutput<typeof EventLine> }
  | { type: 'job'; value: v.InferOutput<typeof JobLine> };

/** A line's problem: `line N: field: rule`. */
export class LineError extends Error {
  constructor(
    readonly line: number,
    readonly field: string,
    readonly rule: string,
  ) {
    super(`line ${line}: ${field}: ${rule}`);
    this.name = 'LineError';
  }
}

function firstIssue(line: number, issues: readonly v.BaseIssue<unknown>[]): LineError {
  const issue = issues[0]!;
  const path = issue.path?.map((item) => String(item.key)).join('.') || '(line)';
  return new LineError(line, path, issue.message);
}

function parseJson(text: string, line: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LineError(
      line,
      '(line)',
      `is not valid JSON (${(error as Error).message}); the file may be truncated or corrupted`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LineError(line, '(line)', 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** Checks the first line. */
export function parseHeader(text: string): v.InferOutput<typeof HeaderLine> {
  const result = v.safeParse(HeaderLine, parseJson(text, 1));
  if (!result.success) throw firstIssue(1, result.issues);
  return result.output;
}

/** Parses and validates one record line (number `line`, 1-based, for messages). */
export function parseLine(text: string, line: number): ParsedLine {
  const raw = parseJson(text, line);
  const type = raw.type;
  if (typeof type !== 'string' || !(type in LINES)) {
    throw new LineError(line, 'type', `must be one of ${Object.keys(LINES).join(', ')}`);
  }
  const result = v.safeParse(LINES[type as RecordType], raw);
  if (!result.success) throw firstIssue(line, result.issues);
  return { type, value: result.output } as ParsedLine;
}

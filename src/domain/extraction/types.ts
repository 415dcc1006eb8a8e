/**
 * The one output shape of both extractors (`llm` and `rules`). Extractors return events whose
 * evidence quotes point into a chunk by index; `anchorEvents` then locates every quote in the
 * source, and only anchored evidence is ever written.
 */
import * as v from 'valibot';

export const CATEGORIES = [
  'Commitment',
  'Execution',
  'Decision',
  'Collaboration',
  'QualityRisk',
  'Feedback',
  'Change',
  'Stakeholder',
] as const;
export type Category = (typeof CATEGORIES)[number];

export const SUBJECT_TYPES = ['person', 'project', 'object', 'other'] as const;
export const ACTOR_ROLES = ['owner', 'contributor', 'reviewer', 'stakeholder', 'other'] as const;

/** At most this many words in a stored quote (longer ones are trimmed to a found span). */
export const MAX_QUOTE_WORDS = 25;

/** One piece of the revision text, as the worker loads it from Postgres. */
export interface SourceChunk {
  /** The Chroma chunk id, or null when the revision is not chunked (one piece). */
  chunkId: string | null;
  index: number;
  startChar: number;
  endChar: number;
  text: string;
}

export interface ExtractionInput {
  artifactUid: string;
  revisionId: string;
  artifactType: string;
  title: string | null;
  author: string | null;
  participants: readonly string[];
  /** When the artifact was written; relative dates ("next Friday") resolve against it. */
  ts: Date | null;
  content: string;
  chunks: readonly SourceChunk[];
}

/** The validated shape of one extracted event (what the LLM must answer, per event). */
export const ExtractedEventSchema = v.strictObject({
  category: v.picklist(CATEGORIES),
  narrative: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(2000)),
  /** ISO 8601 date or date-time, or null when the text gives no time. */
  event_time: v.nullable(
    v.pipe(
      v.string(),
      v.check((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 date'),
    ),
  ),
  subject: v.strictObject({
    type: v.picklist(SUBJECT_TYPES),
    ref: v.pipe(v.string(), v.minLength(1), v.maxLength(500)),
  }),
  actors: v.array(
    v.strictObject({
      ref: v.pipe(v.string(), v.minLength(1), v.maxLength(500)),
      role: v.picklist(ACTOR_ROLES),
    }),
  ),
  confidence: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
  evidence: v.pipe(
    v.array(
      v.strictObject({
        quote: v.pipe(v.string(), v.minLength(1), v.maxLength(2000)),
        /** Index of the chunk the quote comes from (0 for an unchunked revision). */
        chunk_index: v.pipe(v.number(), v.integer(), v.minValue(0)),
      }),
    ),
    v.minLength(1),
  ),
});
export type ExtractedEvent = v.InferOutput<typeof ExtractedEventSchema>;

export interface Extractor {
  readonly name: 'llm' | 'rules';
  /** Throws `AppError`s (transient or not) on failure; returns the events before anchoring. */
  extract(input: ExtractionInput): Promise<ExtractedEvent[]>;
}

/**
 * Evidence located in the source. The offsets index the whole revision text, chunked or not;
 * the chunk only says where the quote was found.
 */
export interface AnchoredEvidence {
  /** The chunk the quote was found in (null when the revision is not chunked). */
  chunkId: string | null;
  chunkIndex: number;
  /** Offsets into the revision text (UTF-16 code units, as JavaScript strings index). */
  startChar: number;
  endChar: number;
  /**
   * Exactly `content.slice(startChar, endChar)`, which is also
   * `chunk.text.slice(startChar - chunk.startChar, endChar - chunk.startChar)`; at most
   * MAX_QUOTE_WORDS words.
   */
  quote: string;
}

export interface AnchoredEvent extends Omit<ExtractedEvent, 'evidence'> {
  evidence: AnchoredEvidence[];
}

export interface AnchorReport {
  events: AnchoredEvent[];
  droppedEvidence: number;
  droppedEvents: number;
}

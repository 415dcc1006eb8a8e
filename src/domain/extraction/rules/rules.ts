/**
 * The `rules` extractor: no network, no model. It reads the text as a person skims a meeting
 * note: document structure first (header lines, section headings, lists, chat speakers), then
 * sentence-level cue phrases for the eight categories, names from the roster the document and the
 * artifact's metadata give, and dates resolved against the artifact's timestamp.
 *
 * How a sentence becomes an event (the file that does each step in brackets):
 * 1. Lines are grouped into blocks: a paragraph, one list item (with its continuation lines), or
 *    a chat message; a line labelled with a person ("Bob: ...") or a category ("Decision: ...")
 *    opens a block of its own. Leading `Key: value` lines (From/To/Date/Attendees...) are
 *    metadata: they feed the roster and the document date but are never events.
 *    [document.ts, roster.ts]
 * 2. Blocks are split into sentences with exact offsets (abbreviations, decimals, e-mail handles
 *    and wrapped lines do not end a sentence; a line break before a capitalised line does).
 *    [sentences.ts]
 * 3. Every sentence gets a score per category: the strongest cue's weight, plus structural cues
 *    (an action item `Name: verb ... by <date>`), plus a bonus for the category a heading or list
 *    intro names ("## Risks", "Action Items:"). The best category wins if it scores at least
 *    MIN_SCORE; a label that names a category ("Risk: ...") decides the category of the one
 *    sentence it opens, not of the sentences after it. One sentence gives at most one event.
 *    [classify.ts with cues.ts and dates.ts]
 * 4. Consecutive sentences of one block that raise the same category become one event when the
 *    result fits in MAX_QUOTE_WORDS words; a sentence opening with a pronoun and no strong cue of
 *    its own ("This gives us two weeks of buffer.") belongs to the event before it. Splitting
 *    them was measured to cost precision on the benchmark (the same event counted twice).
 *    [drafts.ts]
 * 5. Evidence is the exact sentence span, cut to the 25-word window around the cue; subject,
 *    narrative and actors are read from the same span. [events.ts, subject.ts, narrative.ts,
 *    actors.ts]
 *
 * Extraction runs over the whole revision text (context such as headings and speakers may sit in
 * an earlier chunk) and each event's evidence is attributed to the first chunk that contains it;
 * when the chunks do not tile the content, each chunk is read on its own and events whose
 * evidence has the same absolute span are kept once. [this file, chunk-locator.ts]
 */
import { limitWords, type Span, trimSpan } from '../anchor.js';
import type { ExtractedEvent, ExtractionInput, Extractor, SourceChunk } from '../types.js';
import { chunkLocator, tilesContent } from './chunk-locator.js';
import { type Candidate, readEvents } from './events.js';

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

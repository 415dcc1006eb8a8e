/**
 * Where an evidence span of the revision text falls among the revision's chunks: events are read
 * from the whole text, but each quote is stored against one chunk.
 */
import type { Span } from '../anchor.js';
import type { SourceChunk } from '../types.js';

/** Whether the chunks are exact slices of the content, as the worker stores them. */
export function tilesContent(content: string, chunks: readonly SourceChunk[]): boolean {
  return chunks.every(
    (chunk) =>
      chunk.startChar >= 0 &&
      chunk.endChar <= content.length &&
      chunk.endChar - chunk.startChar === chunk.text.length &&
      content.startsWith(chunk.text, chunk.startChar),
  );
}

/** Finds, for an absolute span, the chunk its evidence is attributed to. */
export interface ChunkLocator {
  /** The first chunk (by index) that holds the span, else the one overlapping it most, with the span clipped to it. */
  place(span: Span): { chunk: SourceChunk; span: Span } | null;
}

/**
 * Chunks as the chunker makes them (starts and ends both increasing) are searched by bisection,
 * so placing every event of a 10 MB revision stays O(events × log chunks); any other layout
 * falls back to a scan of all chunks.
 */
export function chunkLocator(chunks: readonly SourceChunk[]): ChunkLocator {
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

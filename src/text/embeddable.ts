import { chunkText } from './chunking.js';

/**
 * Embedding models read a bounded number of tokens (8,191 for OpenAI's); a history turn or a
 * memory of CJK text can exceed that. Such a text is embedded by its opening window, which is
 * what a search should match it on anyway. The stored text is always the whole text.
 */
export const MAX_EMBED_TOKENS = 8000;

export function embeddableText(text: string): string {
  // A token covers at least one character, so text this short is within the limit uncounted.
  if (text.length <= MAX_EMBED_TOKENS) return text;
  const { chunks } = chunkText(text, {
    singlePieceMaxTokens: MAX_EMBED_TOKENS,
    targetTokens: MAX_EMBED_TOKENS,
    overlapTokens: 0,
  });
  return chunks[0]?.text ?? text;
}

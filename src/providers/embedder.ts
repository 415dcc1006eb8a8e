/**
 * An embedder turns texts into unit vectors of one embedding space. Chroma collections record
 * the space they were built with; a server started with another space refuses to mix vectors.
 */
export interface EmbeddingSpace {
  readonly provider: 'openai' | 'local';
  readonly model: string;
  readonly dimensions: number;
}

/** `document` for stored text, `query` for search input (an embedder may treat them differently). */
export type EmbeddingPurpose = 'document' | 'query';

export interface Embedder {
  readonly space: EmbeddingSpace;
  /**
   * Embeds `texts` in order, one vector of `space.dimensions` numbers each. Failures are
   * `AppError`s with the codes of the error table (OPENAI_RATE_LIMIT, OPENAI_TIMEOUT, ...).
   */
  embed(texts: readonly string[], purpose: EmbeddingPurpose): Promise<number[][]>;
}

/** The metadata that records an embedding space on a Chroma collection and on each record. */
export function embeddingMetadata(space: EmbeddingSpace): {
  embedding_provider: string;
  embedding_model: string;
  embedding_dimensions: number;
} {
  return {
    embedding_provider: space.provider,
    embedding_model: space.model,
    embedding_dimensions: space.dimensions,
  };
}

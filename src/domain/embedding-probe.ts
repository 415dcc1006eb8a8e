import { AppError, describeError } from '../errors.js';
import type { Services } from './services.js';

/** Embeds a short probe text and reports the embedder and the outcome; never throws. */
export async function measureEmbedding(services: Services) {
  const { space } = services.embedder;
  const { openai } = services.config;
  const started = performance.now();
  const base = {
    provider: space.provider,
    model: space.model,
    dimensions: space.dimensions,
    api_key_configured: openai.apiKey !== undefined,
    base_url: space.provider === 'openai' ? (openai.baseUrl ?? 'https://api.openai.com/v1') : null,
    note:
      space.provider === 'local'
        ? 'Offline embedder: a deterministic hashed bag of words, word bigrams and character n-grams (no network, no model). Set OPENAI_API_KEY or OPENAI_BASE_URL for a neural embedder.'
        : undefined,
  };
  try {
    const [vector] = await services.embedder.embed(['embedding health check'], 'query');
    return {
      ...base,
      ok: true,
      latency_ms: Math.round(performance.now() - started),
      returned_dimensions: vector?.length ?? 0,
    };
  } catch (error) {
    return {
      ...base,
      ok: false,
      latency_ms: Math.round(performance.now() - started),
      error: {
        code: error instanceof AppError ? error.code : 'INTERNAL_ERROR',
        message: describeError(error),
      },
    };
  }
}

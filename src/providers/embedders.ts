import type { Config } from '../config.js';
import type { Embedder } from './embedder.js';
import { createLocalEmbedder } from './local-embedder.js';
import { createOpenAIEmbedder } from './openai-embedder.js';

/** The embedder the configuration asks for: OpenAI-compatible when configured, else local. */
export function createEmbedder(config: Config): Embedder {
  if (config.embeddingProvider === 'local') return createLocalEmbedder();
  const { openai } = config;
  return createOpenAIEmbedder({
    ...(openai.apiKey !== undefined ? { apiKey: openai.apiKey } : {}),
    ...(openai.baseUrl !== undefined ? { baseUrl: openai.baseUrl } : {}),
    model: openai.embedModel,
    dimensions: openai.embedDims,
    timeoutMs: openai.timeoutMs,
    maxRetries: openai.maxRetries,
    batchSize: openai.batchSize,
  });
}

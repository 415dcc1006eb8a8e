import type { Config } from '../../config.js';
import type { Extractor } from './types.js';

/**
 * `llm` when an OpenAI key or base URL is configured (or EVENT_EXTRACTOR=llm), else `rules`.
 * Imported lazily: a server without a worker loads neither.
 */
export async function createExtractor(config: Config): Promise<Extractor> {
  if (config.eventExtractor === 'rules') {
    const { createRulesExtractor } = await import('./rules/rules.js');
    return createRulesExtractor();
  }
  const { createLlmExtractor } = await import('./llm.js');
  const { openai } = config;
  return createLlmExtractor({
    ...(openai.apiKey !== undefined ? { apiKey: openai.apiKey } : {}),
    ...(openai.baseUrl !== undefined ? { baseUrl: openai.baseUrl } : {}),
    model: openai.eventModel,
    timeoutMs: openai.timeoutMs,
    maxRetries: openai.maxRetries,
  });
}

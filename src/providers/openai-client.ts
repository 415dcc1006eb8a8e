import OpenAI from 'openai';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAIClientOptions {
  apiKey?: string | undefined;
  baseUrl?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
}

/**
 * The one way we build an `openai` client. Everything is passed explicitly: left undefined, the
 * client would read OPENAI_* variables itself, and only src/config.ts reads the environment.
 * Logging is off because the client logs to the console, and in `serve --stdio` stdout carries
 * the MCP protocol. A server reached by base URL alone (Ollama, vLLM) gets a placeholder key,
 * since the client insists on one.
 */
export function createOpenAIClient(options: OpenAIClientOptions): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey ?? 'not-needed',
    baseURL: options.baseUrl ?? DEFAULT_OPENAI_BASE_URL,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    timeout: options.timeoutMs,
    maxRetries: options.maxRetries,
    logLevel: 'off',
  });
}

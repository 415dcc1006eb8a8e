/**
 * The embedder for OpenAI and OpenAI-compatible servers (Ollama, vLLM, LM Studio, proxies),
 * through the official `openai` client: it brings timeouts and retries with backoff that honour
 * Retry-After; `toAppError` turns what is left into our error codes.
 */
import type OpenAI from 'openai';
import { AppError } from '../errors.js';
import type { Embedder, EmbeddingSpace } from './embedder.js';
import { createOpenAIClient } from './openai-client.js';
import { toAppError } from './openai-errors.js';

export interface OpenAIEmbedderOptions {
  /** Without a key (a local server behind `baseUrl`), a placeholder is sent: the client needs one. */
  apiKey?: string;
  baseUrl?: string;
  model: string;
  dimensions: number;
  timeoutMs: number;
  maxRetries: number;
  /** Inputs per request. */
  batchSize: number;
}

/**
 * Only OpenAI's `text-embedding-3-*` models accept `dimensions` (they are trained to be cut
 * short). Other models (`text-embedding-ada-002`, `nomic-embed-text` on Ollama, ...) have one
 * size and some servers reject the parameter, so it is not sent to them; the length of what
 * comes back is checked against OPENAI_EMBED_DIMS either way. A prefix such as `openai/` (used
 * by routers) is allowed.
 */
export function supportsDimensions(model: string): boolean {
  return /(^|\/)text-embedding-3-/i.test(model);
}

/** Decodes one embedding: a base64 string of little-endian float32, or a plain number array. */
function toVector(embedding: unknown): number[] | undefined {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    if (bytes.length % 4 !== 0) return undefined;
    const vector = new Array<number>(bytes.length / 4);
    for (let i = 0; i < vector.length; i++) vector[i] = bytes.readFloatLE(i * 4);
    return vector;
  }
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === 'number')) return embedding as number[];
  return undefined;
}

function unitLength(vector: number[]): number[] {
  let sum = 0;
  for (const x of vector) sum += x * x;
  const norm = Math.sqrt(sum);
  // A zero vector has no direction; it is returned as is rather than divided by zero.
  return norm === 0 || norm === 1 ? vector : vector.map((x) => x / norm);
}

/**
 * An `Embedder` over the `/embeddings` endpoint. Texts go in batches of `batchSize`, one batch
 * at a time (parallel batches would mostly meet the rate limit sooner), and come back in input
 * order as unit vectors of `dimensions` numbers.
 */
export function createOpenAIEmbedder(options: OpenAIEmbedderOptions): Embedder {
  const { model, dimensions, batchSize, apiKey } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be an integer >= 1, got ${batchSize}`);
  }
  const client = createOpenAIClient({
    apiKey,
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs,
    maxRetries: options.maxRetries,
  });
  const sendDimensions = supportsDimensions(model);
  const space: EmbeddingSpace = { provider: 'openai', model, dimensions };
  const context = { model, modelVariable: 'OPENAI_EMBED_MODEL', ...(apiKey === undefined ? {} : { apiKey }) };

  async function embedBatch(batch: string[]): Promise<number[][]> {
    let response: OpenAI.Embeddings.CreateEmbeddingResponse;
    try {
      // base64 is asked for explicitly so the client hands the answer over undecoded: servers
      // that ignore `encoding_format` (Ollama, LM Studio) send float arrays, which the client's
      // own decoding would silently turn into vectors a quarter of the size.
      response = await client.embeddings.create({
        model,
        input: batch,
        encoding_format: 'base64',
        ...(sendDimensions ? { dimensions } : {}),
      });
    } catch (error) {
      throw toAppError(error, context);
    }
    const data = Array.isArray(response.data) ? [...response.data].sort((a, b) => a.index - b.index) : [];
    if (data.length !== batch.length) {
      throw new AppError(
        'OPENAI_SERVER_ERROR',
        `the embeddings endpoint returned ${data.length} vectors for ${batch.length} inputs (model ${JSON.stringify(model)})`,
        { details: { model, expected: batch.length, received: data.length } },
      );
    }
    return data.map((item) => {
      const vector = toVector(item.embedding as unknown);
      if (vector === undefined || vector.some((x) => !Number.isFinite(x))) {
        throw new AppError(
          'OPENAI_SERVER_ERROR',
          `the embeddings endpoint returned a malformed vector (model ${JSON.stringify(model)})`,
          { details: { model } },
        );
      }
      if (vector.length !== dimensions) {
        const how = sendDimensions
          ? 'the server ignored the requested dimensions'
          : 'this model has a fixed size and does not accept a dimensions parameter';
        throw new AppError(
          'EMBEDDING_SPACE_MISMATCH',
          `model ${JSON.stringify(model)} returned ${vector.length}-dimensional vectors but OPENAI_EMBED_DIMS=${dimensions} (${how}): set OPENAI_EMBED_DIMS=${vector.length}`,
          { details: { model, expected: dimensions, received: vector.length } },
        );
      }
      return unitLength(vector);
    });
  }

  return {
    space,
    async embed(texts) {
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        vectors.push(...(await embedBatch(texts.slice(start, start + batchSize))));
      }
      return vectors;
    },
  };
}

/**
 * Maps errors of the official `openai` client to `AppError`s with our codes and a `transient`
 * flag the worker's retry policy trusts. Shared by the embedder and the LLM extractor.
 *
 * Secrets: an HTTP error's message is built from the server's answer, and OpenAI echoes part of
 * a rejected key ("Incorrect API key provided: sk-proj-****abcd"), a proxy may echo all of it.
 * So the client error is not kept as `cause` (loggers and `describeError` print causes), and
 * the server's text goes through `redactSecrets` before it enters our message. Connection
 * errors keep their network cause (it names a host and port, never a header).
 */
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  OpenAIError,
} from 'openai';
import { AppError, describeError, networkErrorCode } from '../errors.js';

export interface OpenAIErrorContext {
  /** The model of the failed call, named in model errors. */
  model?: string;
  /** The variable that configures that model: `OPENAI_EMBED_MODEL` or `OPENAI_EVENT_MODEL`. */
  modelVariable?: string;
  /** The key in use, scrubbed from any server text even when it does not look like `sk-...`. */
  apiKey?: string;
}

const MAX_SERVER_TEXT = 200;

/** Removes API keys and bearer tokens from text that came from a server or a client error. */
export function redactSecrets(text: string, apiKey?: string): string {
  let out = text;
  if (apiKey !== undefined && apiKey.length >= 4) out = out.split(apiKey).join('***');
  return out
    .replace(/\b(sk|rk|pk|sess)-[A-Za-z0-9_\-*.]{4,}/g, '$1-***')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9_\-.~+/=*]+/gi, '$1 ***')
    .replace(/((?:api[_-]?key|authorization|token)["']?\s*[:=]\s*["']?)[^\s"',;}]+/gi, '$1***');
}

/** The server's own explanation, redacted and shortened, or '' when it gave none. */
function serverText(error: APIError, apiKey: string | undefined): string {
  const body = error.error as { message?: unknown } | undefined;
  const raw = typeof body?.message === 'string' ? body.message : '';
  const oneLine = redactSecrets(raw, apiKey).replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_SERVER_TEXT ? `${oneLine.slice(0, MAX_SERVER_TEXT)}...` : oneLine;
}

/** Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date), if sent. */
function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms / 1000;
  const value = headers?.get('retry-after');
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

const MODEL_MISSING =
  /model.*(not found|does not exist|not exist|unknown|not available|not supported)|(unknown|invalid|unsupported) model|no such model|try pulling it/i;

/**
 * The `AppError` for an error thrown by the `openai` client (anything else is wrapped as
 * INTERNAL_ERROR unless it is already an `AppError` or a network error). `context` makes the
 * messages name the model and its variable, and scrubs the key in use.
 */
export function toAppError(error: unknown, context: OpenAIErrorContext = {}): AppError {
  if (error instanceof AppError) return error;
  const { apiKey } = context;
  const modelVariable = context.modelVariable ?? 'OPENAI_EMBED_MODEL or OPENAI_EVENT_MODEL';
  const modelName = context.model === undefined ? 'the model' : `model ${JSON.stringify(context.model)}`;

  if (error instanceof APIConnectionTimeoutError) {
    return new AppError(
      'OPENAI_TIMEOUT',
      'the OpenAI request timed out: try again later or raise OPENAI_TIMEOUT',
      {
        transient: true,
      },
    );
  }
  if (error instanceof APIConnectionError) {
    const cause = error.cause;
    const why = cause === undefined ? 'connection failed' : redactSecrets(describeError(cause), apiKey);
    return new AppError(
      'OPENAI_CONNECTION_ERROR',
      `cannot reach the OpenAI API (${why}): check OPENAI_BASE_URL and the network`,
      { transient: true, ...(cause === undefined ? {} : { cause }) },
    );
  }
  if (error instanceof APIUserAbortError) {
    return new AppError('OPENAI_CONNECTION_ERROR', 'the OpenAI request was cancelled', { transient: true });
  }
  if (error instanceof APIError) return fromStatus(error, modelName, modelVariable, apiKey);
  if (networkErrorCode(error) !== undefined) {
    return new AppError(
      'OPENAI_CONNECTION_ERROR',
      `cannot reach the OpenAI API (${redactSecrets(describeError(error), apiKey)}): check OPENAI_BASE_URL and the network`,
      { transient: true, cause: error },
    );
  }
  const what = error instanceof OpenAIError ? 'the OpenAI client failed' : 'the OpenAI call failed';
  return new AppError('INTERNAL_ERROR', `${what}: ${redactSecrets(describeError(error), apiKey)}`);
}

function fromStatus(error: APIError, modelName: string, modelVariable: string, apiKey?: string): AppError {
  const status = error.status;
  const text = serverText(error, apiKey);
  // "(401: Incorrect API key provided: sk-***)": the status, then the server's words if any.
  const label = status ?? 'no status';
  const said = text === '' ? `(${label})` : `(${label}: ${text})`;
  const code = typeof error.code === 'string' ? error.code : undefined;
  const details: Record<string, unknown> = {
    status,
    ...(code === undefined ? {} : { code }),
    ...(typeof error.type === 'string' ? { type: error.type } : {}),
    ...(typeof error.requestID === 'string' ? { requestId: error.requestID } : {}),
  };
  const modelMissing = code === 'model_not_found' || MODEL_MISSING.test(text);

  if (status === 401) {
    return new AppError('OPENAI_AUTH_ERROR', `the API key was rejected ${said}: check OPENAI_API_KEY`, {
      details,
    });
  }
  if (status === 403) {
    return new AppError(
      'OPENAI_AUTH_ERROR',
      `access denied ${said}: check that OPENAI_API_KEY may use ${modelName} (project, organisation, region)`,
      { details },
    );
  }
  if (status === 404 || (status === 400 && modelMissing)) {
    const message = modelMissing
      ? `${modelName} was not found ${said}: check ${modelVariable}`
      : `the endpoint or ${modelName} was not found ${said}: check OPENAI_BASE_URL (it usually ends in /v1) and ${modelVariable}`;
    return new AppError('OPENAI_INVALID_MODEL', message, { details });
  }
  if (status === 429) {
    const wait = retryAfterSeconds(error.headers);
    if (wait !== undefined) details.retryAfterSeconds = wait;
    // Retrying does not refill a quota: failing at once says "fix billing" sooner than five
    // backed-off attempts would.
    if (code === 'insufficient_quota') {
      return new AppError(
        'OPENAI_RATE_LIMIT',
        `the OpenAI quota is exhausted ${said}: check the plan and billing of the OPENAI_API_KEY account`,
        { details },
      );
    }
    const after = wait === undefined ? '' : `: retry after ${wait} s`;
    return new AppError('OPENAI_RATE_LIMIT', `rate limited by the OpenAI API ${said}${after}`, {
      details,
      transient: true,
    });
  }
  if (status === 408) {
    return new AppError('OPENAI_TIMEOUT', `the OpenAI API timed out ${said}: try again later`, {
      details,
      transient: true,
    });
  }
  if (status !== undefined && (status >= 500 || status === 409)) {
    return new AppError('OPENAI_SERVER_ERROR', `the OpenAI API failed ${said}: try again later`, {
      details,
      transient: true,
    });
  }
  return new AppError('OPENAI_BAD_REQUEST', `the OpenAI API rejected the request ${said}`, { details });
}

/**
 * Errors that cross a boundary (a tool answer, a job row, a CLI line) carry a stable `code`.
 * Messages say what was expected and what to do; they never carry secrets or stack traces.
 */
export type ErrorCode =
  | 'VALIDATION_ERROR'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'EMBEDDING_SPACE_MISMATCH'
  | 'OPENAI_AUTH_ERROR'
  | 'OPENAI_RATE_LIMIT'
  | 'OPENAI_TIMEOUT'
  | 'OPENAI_SERVER_ERROR'
  | 'OPENAI_CONNECTION_ERROR'
  | 'OPENAI_BAD_REQUEST'
  | 'OPENAI_INVALID_MODEL'
  | 'INVALID_JSON_SCHEMA'
  | 'CHROMA_CONNECTION_ERROR'
  | 'CHROMA_ERROR'
  | 'POSTGRES_CONNECTION_ERROR'
  | 'POSTGRES_ERROR'
  | 'SERVICE_UNAVAILABLE'
  | 'ARTIFACT_MISSING'
  | 'MAX_ATTEMPTS_EXCEEDED'
  | 'STARTUP_FAILED'
  | 'PORT_IN_USE'
  | 'INTERNAL_ERROR';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown>; transient?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.details = options?.details;
    this.transient = options?.transient ?? false;
  }
  readonly details: Record<string, unknown> | undefined;
  /** Whether retrying the same operation later may succeed (rate limits, timeouts, outages). */
  readonly transient: boolean;
}

export class ValidationError extends AppError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super('VALIDATION_ERROR', `${field}: ${rule}`, { details: { field, rule } });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends AppError {
  /**
   * `owner` names what the id was looked up in (a revision of one artifact), and `hint` what to
   * do: `revision "rev_..." of artifact "art_..." was not found; artifact_get lists its revisions`.
   */
  constructor(kind: string, id: string, owner?: { kind: string; id: string; hint?: string }) {
    const of = owner === undefined ? '' : ` of ${owner.kind} ${JSON.stringify(owner.id)}`;
    const hint = owner?.hint === undefined ? '' : `; ${owner.hint}`;
    super('NOT_FOUND', `${kind} ${JSON.stringify(id)}${of} was not found${hint}`, {
      details: owner === undefined ? { kind, id } : { kind, id, [owner.kind]: owner.id },
    });
    this.name = 'NotFoundError';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** The network error code (`ECONNREFUSED`, ...) of an error or of one of its causes, if any. */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    const nested = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(nested)) {
      for (const inner of nested) {
        const innerCode = networkErrorCode(inner);
        if (innerCode !== undefined) return innerCode;
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * One short line for an error: the innermost useful message, with the address for network
 * errors (`connection refused 127.0.0.1:8000`). Never a stack trace.
 */
export function describeError(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const candidate = current as {
      code?: unknown;
      address?: unknown;
      port?: unknown;
      errors?: unknown[];
      cause?: unknown;
    };
    const inner = Array.isArray(candidate.errors) ? candidate.errors[0] : undefined;
    const withAddress = (inner ?? candidate) as { code?: unknown; address?: unknown; port?: unknown };
    if (typeof withAddress.code === 'string' && NETWORK_CODES.has(withAddress.code)) {
      const where =
        withAddress.address !== undefined
          ? ` ${String(withAddress.address)}${withAddress.port !== undefined ? `:${String(withAddress.port)}` : ''}`
          : '';
      const words: Record<string, string> = {
        ECONNREFUSED: 'connection refused',
        ECONNRESET: 'connection reset',
        ETIMEDOUT: 'connection timed out',
        ENOTFOUND: 'host not found',
        EAI_AGAIN: 'host lookup failed',
        EHOSTUNREACH: 'host unreachable',
        ENETUNREACH: 'network unreachable',
      };
      return `${words[withAddress.code] ?? withAddress.code}${where}`;
    }
    if (candidate.cause === undefined) break;
    current = candidate.cause;
  }
  // Our own errors already say what happened; `fetch failed` says nothing, so there the innermost
  // cause (e.g. "bad port") is the message.
  let innermost: unknown = error;
  for (
    let depth = 0;
    depth < 5 &&
    !(innermost instanceof AppError) &&
    innermost instanceof Error &&
    innermost.cause instanceof Error;
    depth++
  ) {
    innermost = innermost.cause;
  }
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  return message.split('\n')[0] ?? message;
}

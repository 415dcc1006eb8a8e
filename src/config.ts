/**
 * The one place that reads the environment. Every variable is validated once, at start, into a
 * frozen object; everything else receives a `Config`. An invalid value is a `ConfigError` whose
 * message is a single line naming the variable, what was wrong and what is expected.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import * as v from 'valibot';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  readonly code = 'CONFIG_ERROR';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Every variable the program reads, with its default; `.env.example` documents the same list. */
export const CONFIG_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_BASE_URL',
  'OPENAI_EMBED_MODEL',
  'OPENAI_EMBED_DIMS',
  'OPENAI_EVENT_MODEL',
  'OPENAI_TIMEOUT',
  'OPENAI_MAX_RETRIES',
  'OPENAI_BATCH_SIZE',
  'EMBEDDING_PROVIDER',
  'EVENT_EXTRACTOR',
  'EVENTS_DB_DSN',
  'POSTGRES_DB',
  'POSTGRES_USER',
  'POSTGRES_PASSWORD',
  'CHROMA_HOST',
  'CHROMA_PORT',
  'MCP_PORT',
  'MCP_HOST',
  'MCP_AUTH_TOKEN',
  'MCP_ALLOWED_ORIGINS',
  'MCP_ALLOWED_HOSTS',
  'MCP_REQUIRE_AUTH',
  'METRICS_TOKEN',
  'MCP_PUBLIC_URL',
  'MCP_OWNER_SECRET',
  'MCP_ACCESS_TOKEN_TTL',
  'LOG_LEVEL',
  'WORKER_ID',
  'POLL_INTERVAL_MS',
  'EVENT_MAX_ATTEMPTS',
  'JOB_LEASE_SECONDS',
  'WORKER_CONCURRENCY',
  'STARTUP_TIMEOUT_SECONDS',
  'SINGLE_PIECE_MAX_TOKENS',
  'CHUNK_TARGET_TOKENS',
  'CHUNK_OVERLAP_TOKENS',
  'RRF_CONSTANT',
  'INDEX_POLL_MS',
  'ORPHAN_SWEEP_INTERVAL_SECONDS',
  'ORPHAN_GRACE_SECONDS',
  'MEMORY_DATA_DIR',
] as const;
export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];

export interface Config {
  readonly openai: {
    readonly apiKey: string | undefined;
    readonly baseUrl: string | undefined;
    readonly embedModel: string;
    readonly embedDims: number;
    readonly eventModel: string;
    readonly timeoutMs: number;
    readonly maxRetries: number;
    readonly batchSize: number;
  };
  /** `openai` when a key or base URL is configured (or forced), else the offline `local` embedder. */
  readonly embeddingProvider: 'openai' | 'local';
  /** `llm` when a key or base URL is configured (or forced), else the offline `rules` extractor. */
  readonly eventExtractor: 'llm' | 'rules';
  /** Undefined means embedded Postgres (PGlite) under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly postgres: { readonly db: string; readonly user: string; readonly password: string };
  /** Undefined host means an embedded Chroma server under `dataDir`. */
  readonly chroma: { readonly host: string | undefined; readonly port: number };
  readonly mcp: {
    readonly port: number;
    readonly host: string;
    readonly authToken: string | undefined;
    readonly allowedOrigins: readonly string[];
    /**
     * Host header values accepted beyond the loopback names and IP literals (MCP_ALLOWED_HOSTS,
     * plus MCP_PUBLIC_URL's host): lower-case names, `name` for any port or `name:port`.
     */
    readonly allowedHosts: readonly string[];
    /** MCP_REQUIRE_AUTH: refuse to serve beyond loopback without MCP_AUTH_TOKEN or OAuth. */
    readonly requireAuth: boolean;
    /** A token for /metrics and the detailed /health besides MCP_AUTH_TOKEN (METRICS_TOKEN). */
    readonly metricsToken: string | undefined;
    /** The origin clients reach this server at (MCP_PUBLIC_URL), without a trailing slash. */
    readonly publicUrl: string | undefined;
  };
  /** OAuth 2.1 for /mcp: on only when MCP_PUBLIC_URL and MCP_OWNER_SECRET are both set. */
  readonly oauth: OAuthConfig | undefined;
  readonly logLevel: LogLevel;
  readonly worker: {
    readonly id: string;
    readonly pollIntervalMs: number;
    readonly maxAttempts: number;
    readonly leaseSeconds: number;
    /** Jobs in flight at once per worker process (WORKER_CONCURRENCY). */
    readonly concurrency: number;
  };
  readonly chunking: {
    readonly singlePieceMaxTokens: number;
    readonly targetTokens: number;
    readonly overlapTokens: number;
  };
  readonly rrfConstant: number;
  readonly dataDir: string;
  /** How long `memory serve` and `memory work` wait for Postgres and the vector index at start. */
  readonly startupTimeoutSeconds: number;
  /** The vector index's generations (`memory reindex`) and the orphan sweep. */
  readonly index: {
    /** How often a server re-reads which collections are active (it follows a switch within two). */
    readonly pollMs: number;
    /** How often a server sweeps orphan vectors and retired collections; 0 turns the sweep off. */
    readonly sweepIntervalSeconds: number;
    /** How old an orphan vector (or a retired collection) must be before the sweep removes it. */
    readonly graceSeconds: number;
  };
}

export interface OAuthConfig {
  /** The issuer and the base of every OAuth endpoint: MCP_PUBLIC_URL. */
  readonly issuer: string;
  /** The owner approves clients on the consent page with it (MCP_OWNER_SECRET). */
  readonly ownerSecret: string;
  readonly accessTokenSeconds: number;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads `path` as a dotenv file when it exists; values already in `env` win. */
export function withDotEnv(env: Env, path = resolve('.env')): Env {
  if (!existsSync(path)) return env;
  const fromFile = parseEnv(readFileSync(path, 'utf8'));
  return { ...fromFile, ...env };
}

function fail(variable: string, value: string, expected: string): never {
  throw new ConfigError(variable, `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

function text(env: Env, name: ConfigVariable, fallback: string): string;
function text(env: Env, name: ConfigVariable): string | undefined;
function text(env: Env, name: ConfigVariable, fallback?: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? fallback : raw;
}

function integer(env: Env, name: ConfigVariable, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const parsed = v.safeParse(
    v.pipe(
      v.string(),
      v.regex(/^-?\d+$/),
      v.transform(Number),
      v.integer(),
      v.minValue(min),
      v.maxValue(max),
    ),
    raw,
  );
  if (!parsed.success) fail(name, raw, `an integer from ${min} to ${max}`);
  return parsed.output;
}

function seconds(env: Env, name: ConfigVariable, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const parsed = v.safeParse(
    v.pipe(v.string(), v.regex(/^\d+(\.\d+)?$/), v.transform(Number), v.minValue(min), v.maxValue(max)),
    raw,
  );
  if (!parsed.success) fail(name, raw, `a number of seconds from ${min} to ${max}`);
  return parsed.output;
}

function oneOf<const T extends string>(
  env: Env,
  name: ConfigVariable,
  options: readonly T[],
  fallback: T,
): T {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const match = options.find((option) => option.toLowerCase() === raw.toLowerCase());
  if (match === undefined) fail(name, raw, `one of ${options.join(', ')}`);
  return match;
}

function url(env: Env, name: ConfigVariable, protocols: readonly string[]): string | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    fail(name, redactUrl(raw), `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    fail(name, redactUrl(raw), `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return raw;
}

/** Replaces the password of a URL (e.g. a DSN) with `***`, so errors and logs never carry it. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:/?#@\s]*:)[^@/?#\s]*@/, '$1***@');
}

/**
 * Builds the configuration from an environment (the process's by default, plus `.env`).
 * Throws `ConfigError` on the first invalid variable.
 */
export function loadConfig(env: Env = withDotEnv(process.env)): Config {
  const apiKey = text(env, 'OPENAI_API_KEY');
  const baseUrl = url(env, 'OPENAI_BASE_URL', ['http:', 'https:']);
  const llmConfigured = apiKey !== undefined || baseUrl !== undefined;

  const embeddingProvider = oneOf(env, 'EMBEDDING_PROVIDER', ['auto', 'openai', 'local'], 'auto');
  const eventExtractor = oneOf(env, 'EVENT_EXTRACTOR', ['auto', 'llm', 'rules'], 'auto');
  if (embeddingProvider === 'openai' && !llmConfigured) {
    fail('EMBEDDING_PROVIDER', 'openai', 'OPENAI_API_KEY or OPENAI_BASE_URL to be set as well');
  }
  if (eventExtractor === 'llm' && !llmConfigured) {
    fail('EVENT_EXTRACTOR', 'llm', 'OPENAI_API_KEY or OPENAI_BASE_URL to be set as well');
  }

  const host = text(env, 'CHROMA_HOST');
  if (host !== undefined && !/^[A-Za-z0-9.\-:[\]]+$/.test(host))
    fail('CHROMA_HOST', host, 'a host name or IP address');

  const targetTokens = integer(env, 'CHUNK_TARGET_TOKENS', 900, 16, 8000);
  const overlapTokens = integer(env, 'CHUNK_OVERLAP_TOKENS', 100, 0, 4000);
  if (overlapTokens >= targetTokens) {
    fail(
      'CHUNK_OVERLAP_TOKENS',
      String(overlapTokens),
      `fewer tokens than CHUNK_TARGET_TOKENS (${targetTokens})`,
    );
  }

  const origins = (text(env, 'MCP_ALLOWED_ORIGINS') ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      fail(
        'MCP_ALLOWED_ORIGINS',
        origin,
        'a comma-separated list of origins such as https://app.example.com',
      );
    }
  }

  const allowedHosts = (text(env, 'MCP_ALLOWED_HOSTS') ?? '')
    .split(',')
    .map((host) => host.trim().toLowerCase())
    .filter((host) => host !== '');
  for (const host of allowedHosts) {
    if (
      !/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.?(?::\d{1,5})?$/.test(host)
    ) {
      fail(
        'MCP_ALLOWED_HOSTS',
        host,
        'a comma-separated list of host names, each optionally with :port, such as memory.example.com,mcp-server:3000',
      );
    }
  }
  const requireAuth = oneOf(env, 'MCP_REQUIRE_AUTH', ['true', 'false'], 'false') === 'true';
  const metricsToken = text(env, 'METRICS_TOKEN');
  if (metricsToken !== undefined && metricsToken.length < 16) {
    throw new ConfigError(
      'METRICS_TOKEN',
      `METRICS_TOKEN=*** is invalid: expected at least 16 characters (it has ${metricsToken.length}); e.g. openssl rand -hex 24`,
    );
  }

  const publicUrl = publicOrigin(env);
  const ownerSecret = text(env, 'MCP_OWNER_SECRET');
  if (ownerSecret !== undefined && ownerSecret.length < OWNER_SECRET_MIN_LENGTH) {
    throw new ConfigError(
      'MCP_OWNER_SECRET',
      `MCP_OWNER_SECRET=*** is invalid: expected at least ${OWNER_SECRET_MIN_LENGTH} characters (it has ${ownerSecret.length}); e.g. openssl rand -base64 24`,
    );
  }
  if (ownerSecret !== undefined && publicUrl === undefined) {
    throw new ConfigError(
      'MCP_OWNER_SECRET',
      'MCP_OWNER_SECRET=*** is invalid: expected MCP_PUBLIC_URL to be set as well (OAuth needs the public https:// address of this server)',
    );
  }
  const accessTokenSeconds = integer(env, 'MCP_ACCESS_TOKEN_TTL', 3600, 60, 86_400);

  const config: Config = {
    openai: {
      apiKey,
      baseUrl,
      embedModel: text(env, 'OPENAI_EMBED_MODEL', 'text-embedding-3-large'),
      embedDims: integer(env, 'OPENAI_EMBED_DIMS', 3072, 1, 16384),
      eventModel: text(env, 'OPENAI_EVENT_MODEL', 'gpt-4o-mini'),
      timeoutMs: Math.round(seconds(env, 'OPENAI_TIMEOUT', 30, 0.1, 3600) * 1000),
      maxRetries: integer(env, 'OPENAI_MAX_RETRIES', 3, 0, 20),
      batchSize: integer(env, 'OPENAI_BATCH_SIZE', 100, 1, 2048),
    },
    embeddingProvider:
      embeddingProvider === 'auto' ? (llmConfigured ? 'openai' : 'local') : embeddingProvider,
    eventExtractor: eventExtractor === 'auto' ? (llmConfigured ? 'llm' : 'rules') : eventExtractor,
    databaseUrl: url(env, 'EVENTS_DB_DSN', ['postgres:', 'postgresql:']),
    postgres: {
      db: text(env, 'POSTGRES_DB', 'events'),
      user: text(env, 'POSTGRES_USER', 'events'),
      password: text(env, 'POSTGRES_PASSWORD', 'events'),
    },
    chroma: { host, port: integer(env, 'CHROMA_PORT', 8000, 1, 65535) },
    mcp: {
      port: integer(env, 'MCP_PORT', 3000, 0, 65535),
      host: text(env, 'MCP_HOST', '127.0.0.1'),
      authToken: text(env, 'MCP_AUTH_TOKEN'),
      allowedOrigins: Object.freeze(origins),
      allowedHosts: Object.freeze(
        publicUrl === undefined ? allowedHosts : [...allowedHosts, new URL(publicUrl).host.toLowerCase()],
      ),
      requireAuth,
      metricsToken,
      publicUrl,
    },
    oauth:
      publicUrl !== undefined && ownerSecret !== undefined
        ? { issuer: publicUrl, ownerSecret, accessTokenSeconds }
        : undefined,
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'INFO'),
    worker: {
      id: text(env, 'WORKER_ID', `${hostname()}-${process.pid}`),
      pollIntervalMs: integer(env, 'POLL_INTERVAL_MS', 1000, 10, 3_600_000),
      maxAttempts: integer(env, 'EVENT_MAX_ATTEMPTS', 5, 1, 100),
      leaseSeconds: integer(env, 'JOB_LEASE_SECONDS', 30, 1, 86_400),
      concurrency: integer(env, 'WORKER_CONCURRENCY', DEFAULT_WORKER_CONCURRENCY, 1, 64),
    },
    chunking: {
      singlePieceMaxTokens: integer(env, 'SINGLE_PIECE_MAX_TOKENS', 1200, 16, 100_000),
      targetTokens,
      overlapTokens,
    },
    rrfConstant: integer(env, 'RRF_CONSTANT', 60, 1, 10_000),
    dataDir: dataDirectory(env),
    startupTimeoutSeconds: integer(env, 'STARTUP_TIMEOUT_SECONDS', 300, 0, 86_400),
    index: {
      pollMs: integer(env, 'INDEX_POLL_MS', 2000, 50, 600_000),
      sweepIntervalSeconds: integer(env, 'ORPHAN_SWEEP_INTERVAL_SECONDS', 300, 0, 86_400),
      graceSeconds: integer(env, 'ORPHAN_GRACE_SECONDS', 600, 0, 604_800),
    },
  };
  return deepFreeze(config);
}

/**
 * Jobs in flight per worker process: an extraction mostly waits on the model, so a few at once
 * keep one process busy; the queue itself gains little past the machine's cores.
 */
export const DEFAULT_WORKER_CONCURRENCY = 4;
/** The folder name under the platform's per-user data folder. */
export const DATA_FOLDER_NAME = 'memory-mcp-server';

/**
 * Where embedded data lives: MEMORY_DATA_DIR; else `./.memory` when the working directory has
 * one (checkouts from before keep their data); else the platform's per-user data folder. Clients
 * that spawn the server (Claude Desktop, Cursor) choose its working directory, often one the user
 * cannot write or would never look in, so the working directory is not the default.
 */
function dataDirectory(env: Env, platform: NodeJS.Platform = process.platform): string {
  const configured = text(env, 'MEMORY_DATA_DIR');
  if (configured !== undefined) return resolve(configured);
  const local = resolve('.memory');
  if (existsSync(local)) return local;
  const home = env.HOME?.trim() || homedir();
  if (platform === 'win32') {
    const appData = env.APPDATA?.trim();
    return join(
      appData !== undefined && appData !== '' ? appData : join(home, 'AppData', 'Roaming'),
      DATA_FOLDER_NAME,
    );
  }
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', DATA_FOLDER_NAME);
  // XDG Base Directory: a relative XDG_DATA_HOME is invalid and ignored.
  const xdg = env.XDG_DATA_HOME?.trim();
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.local', 'share'), DATA_FOLDER_NAME);
}

/** The per-user data folder for `platform` (exported for tests of the other platforms). */
export function platformDataDirectory(env: Env, platform: NodeJS.Platform): string {
  return dataDirectory({ ...env, MEMORY_DATA_DIR: undefined }, platform);
}

const OWNER_SECRET_MIN_LENGTH = 16;
const LOOPBACK_HOSTNAME = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * MCP_PUBLIC_URL: the origin clients reach this server at. It becomes the OAuth issuer and the
 * base of the resource URL tokens are bound to, so it must be exact: https (plain http only for a
 * loopback address, where nothing crosses a network), no path, query, fragment or credentials.
 * A path prefix is refused rather than half-supported: RFC 8414 puts the metadata of an issuer
 * with a path at the host's root, which a proxy forwarding only that path would never send here.
 */
function publicOrigin(env: Env): string | undefined {
  const raw = text(env, 'MCP_PUBLIC_URL');
  if (raw === undefined) return undefined;
  const expected =
    'the https:// address clients reach this server at, with no path, e.g. https://memory.example.com (http:// only for localhost)';
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    fail('MCP_PUBLIC_URL', redactUrl(raw), expected);
  }
  const secure =
    parsed.protocol === 'https:' || (parsed.protocol === 'http:' && LOOPBACK_HOSTNAME.test(parsed.hostname));
  const bare =
    parsed.username === '' &&
    parsed.password === '' &&
    parsed.pathname === '/' &&
    parsed.search === '' &&
    parsed.hash === '' &&
    !/[?#]/.test(raw);
  if (!secure || !bare) fail('MCP_PUBLIC_URL', redactUrl(raw), expected);
  return parsed.origin;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child);
  }
  return Object.freeze(value);
}

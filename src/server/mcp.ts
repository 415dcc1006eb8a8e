/**
 * The MCP face of the tool registry. Tool failures are tool results with `isError: true` and a
 * structured `{ error: { code, message } }` (so a model can read and correct them); only
 * protocol faults are JSON-RPC errors.
 *
 * Two ways in. Over stdio, one SDK `Server` lives as long as the process. Over HTTP the server
 * is stateless, and `createMcpDispatcher` answers each JSON-RPC message itself: building an SDK
 * `Server` and transport per request cost a new JSON-Schema validator and a zod parse of every
 * message per POST, and tools/list ran 39-64x slower than a raw Node http server answering the
 * same bytes (bench/mcp-overhead.ts measures both side by side).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  LATEST_PROTOCOL_VERSION,
  ListToolsRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/sdk/types.js';
import { toJsonSchema } from '@valibot/to-json-schema';
import type { Services } from '../domain/services.js';
import { AppError, describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { parseToolInput, type Tool } from './tools/registry.js';

const logger = taggedLogger('mcp');

export const SERVER_INFO = { name: 'memory', version: '0.1.0' };

export type ToolOutcome = 'ok' | 'error';

export interface McpHooks {
  /** Called after every tool call (for metrics). `code` is the error code of a failed call. */
  onToolCall?(name: string, outcome: ToolOutcome, seconds: number, code?: string): void;
}

const listings = new WeakMap<readonly Tool[], unknown[]>();

/** The tools as MCP lists them: JSON Schemas generated from the valibot schemas, once. */
export function listTools(tools: readonly Tool[]): unknown[] {
  let listing = listings.get(tools);
  if (listing === undefined) {
    listing = tools.map((tool) => {
      const { $schema: _ignored, ...inputSchema } = toJsonSchema(tool.input, {
        errorMode: 'ignore',
        typeMode: 'input',
      }) as Record<string, unknown>;
      return {
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: { type: 'object', ...inputSchema },
        annotations: { title: tool.title, ...tool.annotations },
      };
    });
    listings.set(tools, listing);
  }
  return listing;
}

function errorResult(code: string, message: string, details?: Record<string, unknown>): CallToolResult {
  const error = { code, message, ...(details ? { details } : {}) };
  return {
    isError: true,
    content: [{ type: 'text', text: JSON.stringify({ error }) }],
    structuredContent: { error },
  };
}

/**
 * The services tools run against, or their start still under way: `initialize` and `tools/list`
 * need none, so they are answered at once, and a tool call waits for the start (a failed start is
 * its error).
 */
export type ServicesSource = Services | PromiseLike<Services>;

/** Runs one tool call: validate, handle, and turn every failure into a readable tool error. */
export async function callTool(
  source: ServicesSource,
  tools: readonly Tool[],
  name: string,
  args: unknown,
  hooks: McpHooks = {},
): Promise<CallToolResult> {
  const tool = tools.find((candidate) => candidate.name === name);
  if (tool === undefined) {
    return errorResult('NOT_FOUND', `unknown tool "${name}"; call tools/list for the available tools`);
  }
  const started = performance.now();
  try {
    const input = parseToolInput(tool, args);
    let services: Services;
    try {
      services = await source;
    } catch (error) {
      throw new AppError(
        'STARTUP_FAILED',
        `the memory server could not start, so no tool can run: ${describeError(error)}`,
        { cause: error },
      );
    }
    // The call runs on a view taken now: a `memory reindex` switch replaces the shared services'
    // index and embedder between calls, and a call must not embed in one space and search another.
    const output = await tool.handler({ ...services }, input);
    hooks.onToolCall?.(name, 'ok', (performance.now() - started) / 1000);
    return { content: [{ type: 'text', text: JSON.stringify(output) }], structuredContent: output };
  } catch (error) {
    const seconds = (performance.now() - started) / 1000;
    if (error instanceof AppError) {
      hooks.onToolCall?.(name, 'error', seconds, error.code);
      if (error.code !== 'VALIDATION_ERROR' && error.code !== 'NOT_FOUND') {
        logger.warn(`Tool ${name} failed`, { code: error.code, error: error.message });
      }
      return errorResult(error.code, error.message, error.details);
    }
    hooks.onToolCall?.(name, 'error', seconds, 'INTERNAL_ERROR');
    logger.error(`Tool ${name} failed unexpectedly`, {
      error: error instanceof Error ? error.stack : String(error),
    });
    return errorResult(
      'INTERNAL_ERROR',
      'the server failed to handle this call; the error is in the server log',
    );
  }
}

const INSTRUCTIONS =
  'Long-term memory. Store durable facts with memory_store, whole documents with artifact_ingest; find them ' +
  'with hybrid_search. Decisions, commitments and risks extracted from artifacts come with exact quotes ' +
  '(event_search).';

/** An MCP server over the given services, for a long-lived transport (stdio). */
export function createMcpServer(
  services: ServicesSource,
  tools: readonly Tool[],
  hooks: McpHooks = {},
): Server {
  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listTools(tools) as never }));
  server.setRequestHandler(CallToolRequestSchema, async (request) =>
    callTool(services, tools, request.params.name, request.params.arguments, hooks),
  );
  return server;
}

// --- stateless JSON-RPC over HTTP ------------------------------------------------------------

export { SUPPORTED_PROTOCOL_VERSIONS };

/** JSON-RPC error codes (JSON-RPC 2.0, section 5.1). */
export const INVALID_REQUEST = -32600;
const METHOD_NOT_FOUND = -32601;
const INVALID_PARAMS = -32602;
const INTERNAL_ERROR = -32603;

/** The most messages one POST may carry. */
export const MAX_BATCH_MESSAGES = 100;

type Id = string | number;

export interface McpReply {
  /** HTTP status: 200 with a body, 202 without one (only notifications or responses came in). */
  status: 200 | 202 | 400;
  /** The JSON text to send back, when there is one. */
  body?: string;
}

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function errorText(id: Id | null, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });
}

/** The kind of a JSON-RPC message, or the reason it is not one. */
function classify(
  message: unknown,
):
  | { kind: 'request'; id: Id; method: string; params: unknown }
  | { kind: 'other' }
  | { kind: 'invalid'; why: string } {
  if (!isRecord(message) || message.jsonrpc !== '2.0') {
    return { kind: 'invalid', why: 'a JSON-RPC 2.0 message is an object with "jsonrpc": "2.0"' };
  }
  const { id, method } = message;
  if (method === undefined) {
    // A response to a request of ours: we send none, so there is nothing to match it to.
    if ('result' in message || 'error' in message) return { kind: 'other' };
    return { kind: 'invalid', why: 'a request needs a "method"' };
  }
  if (typeof method !== 'string') return { kind: 'invalid', why: '"method" must be a string' };
  if (id === undefined) return { kind: 'other' }; // a notification: nothing to answer
  if (typeof id !== 'string' && (typeof id !== 'number' || !Number.isFinite(id))) {
    return { kind: 'invalid', why: '"id" must be a string or a number' };
  }
  return { kind: 'request', id, method, params: message.params };
}

/**
 * Answers the JSON-RPC messages of one HTTP POST (an object or a batch array) for a stateless
 * server: `initialize`, `ping`, `tools/list` and `tools/call`. Nothing is built per request: the
 * tool listing is serialised once, and calls go straight to the tool registry.
 */
export function createMcpDispatcher(services: ServicesSource, tools: readonly Tool[], hooks: McpHooks = {}) {
  const toolsJson = JSON.stringify({ tools: listTools(tools) });

  async function answer(id: Id, method: string, params: unknown): Promise<string> {
    const reply = (result: unknown) => JSON.stringify({ jsonrpc: '2.0', id, result });
    switch (method) {
      case 'tools/list':
        return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${toolsJson}}`;
      case 'tools/call': {
        if (!isRecord(params) || typeof params.name !== 'string') {
          throw new ProtocolError(INVALID_PARAMS, 'Invalid params: tools/call needs "name", a string');
        }
        if (params.arguments !== undefined && !isRecord(params.arguments)) {
          throw new ProtocolError(INVALID_PARAMS, 'Invalid params: "arguments" must be an object');
        }
        return reply(await callTool(services, tools, params.name, params.arguments, hooks));
      }
      case 'initialize': {
        if (!isRecord(params) || typeof params.protocolVersion !== 'string') {
          throw new ProtocolError(
            INVALID_PARAMS,
            'Invalid params: initialize needs "protocolVersion", a string',
          );
        }
        const requested = params.protocolVersion;
        return reply({
          protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
            ? requested
            : LATEST_PROTOCOL_VERSION,
          capabilities: { tools: {} },
          serverInfo: SERVER_INFO,
          instructions: INSTRUCTIONS,
        });
      }
      case 'ping':
        return reply({});
      default:
        throw new ProtocolError(METHOD_NOT_FOUND, `Method not found: ${method}`);
    }
  }

  async function one(message: unknown): Promise<string | undefined> {
    const kind = classify(message);
    if (kind.kind === 'other') return undefined;
    if (kind.kind === 'invalid') return errorText(null, INVALID_REQUEST, `Invalid Request: ${kind.why}`);
    try {
      return await answer(kind.id, kind.method, kind.params);
    } catch (error) {
      if (error instanceof ProtocolError) return errorText(kind.id, error.code, error.message);
      logger.error(`MCP ${kind.method} failed unexpectedly`, {
        error: error instanceof Error ? error.stack : String(error),
      });
      return errorText(kind.id, INTERNAL_ERROR, 'Internal error: the error is in the server log');
    }
  }

  return {
    /** Answers a parsed POST body. */
    async handle(body: unknown): Promise<McpReply> {
      if (!Array.isArray(body)) {
        const kind = classify(body);
        if (kind.kind === 'invalid') {
          return { status: 400, body: errorText(null, INVALID_REQUEST, `Invalid Request: ${kind.why}`) };
        }
        const text = await one(body);
        return text === undefined ? { status: 202 } : { status: 200, body: text };
      }
      if (body.length === 0) {
        return { status: 400, body: errorText(null, INVALID_REQUEST, 'Invalid Request: the batch is empty') };
      }
      if (body.length > MAX_BATCH_MESSAGES) {
        return {
          status: 400,
          body: errorText(
            null,
            INVALID_REQUEST,
            `Invalid Request: a batch holds at most ${MAX_BATCH_MESSAGES} messages`,
          ),
        };
      }
      if (body.length > 1 && body.some((m) => isRecord(m) && m.method === 'initialize')) {
        return {
          status: 400,
          body: errorText(null, INVALID_REQUEST, 'Invalid Request: initialize must be sent on its own'),
        };
      }
      const answers = (await Promise.all(body.map(one))).filter((text): text is string => text !== undefined);
      return answers.length === 0 ? { status: 202 } : { status: 200, body: `[${answers.join(',')}]` };
    },
  };
}

/**
 * The MCP face of the tool registry: a low-level `Server` with ListTools and CallTool handlers.
 * Tool failures are tool results with `isError: true` and a structured `{ error: { code, message } }`
 * (so a model can read and correct them); only protocol faults are JSON-RPC errors.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { toJsonSchema } from '@valibot/to-json-schema';
import type { Services } from '../domain/services.js';
import { AppError } from '../errors.js';
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

/** Runs one tool call: validate, handle, and turn every failure into a readable tool error. */
export async function callTool(
  services: Services,
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
    const output = await tool.handler(services, input);
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

/** A fresh MCP server over the given services (one per HTTP request in stateless mode). */
export function createMcpServer(services: Services, tools: readonly Tool[], hooks: McpHooks = {}): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {} },
    instructions:
      'Long-term memory. Store durable facts with memory_store, whole documents with artifact_ingest; find them ' +
      'with hybrid_search. Decisions, commitments and risks extracted from artifacts come with exact quotes ' +
      '(event_search).',
  });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: listTools(tools) as never }));
  server.setRequestHandler(CallToolRequestSchema, async (request) =>
    callTool(services, tools, request.params.name, request.params.arguments, hooks),
  );
  return server;
}

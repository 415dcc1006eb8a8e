/**
 * Our tool registry: each tool is declared once with its name, a description a model can act on,
 * a valibot input schema, MCP annotations and a handler over `Services`. The MCP layer lists the
 * schemas as JSON Schema and validates every call; the handlers never see unvalidated input.
 */
import * as v from 'valibot';
import type { Services } from '../../domain/services.js';
import { ValidationError } from '../../errors.js';
import { findIllFormedText } from './schemas.js';

export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface Tool<TSchema extends v.GenericSchema = v.GenericSchema> {
  name: string;
  title: string;
  description: string;
  input: TSchema;
  annotations: ToolAnnotations;
  handler(services: Services, input: v.InferOutput<TSchema>): Promise<Record<string, unknown>>;
}

/** Declares a tool; the identity function that lets TypeScript tie the handler to the schema. */
export function defineTool<TSchema extends v.GenericSchema>(tool: Tool<TSchema>): Tool<TSchema> {
  return tool;
}

/** Dotted path of a valibot issue (`filters.time_range_start`, `participants.3`), or `input`. */
function issuePath(issue: v.BaseIssue<unknown>): string {
  const keys = (issue.path ?? []).map((item) => String(item.key));
  return keys.length > 0 ? keys.join('.') : 'input';
}

/** valibot's wording for object keys ("Invalid key: Expected ...") rephrased as the rule broken. */
function ruleOf(issue: v.BaseIssue<unknown>, tool: Tool): string {
  if (issue.kind === 'schema' && (issue.type === 'object' || issue.type === 'strict_object')) {
    if (issue.received === 'undefined') return 'is required';
    if (issue.expected === 'never') {
      type Shape = { entries?: object; pipe?: Array<{ entries?: object }> };
      const shape = tool.input as unknown as Shape;
      const entries =
        (issue.path?.length ?? 0) <= 1 ? (shape.entries ?? shape.pipe?.[0]?.entries) : undefined;
      const known = Object.keys(entries ?? {});
      return `is not a known field${known.length > 0 ? ` (known fields: ${known.join(', ')})` : ''}`;
    }
  }
  return issue.message;
}

/**
 * Validates `args` against the tool's schema. Throws a `ValidationError` naming the first
 * offending field and the rule it broke. Text that cannot be stored (NUL, lone surrogates) is
 * refused first, in any field at any depth, so no schema has to remember it.
 */
export function parseToolInput<TSchema extends v.GenericSchema>(
  tool: Tool<TSchema>,
  args: unknown,
): v.InferOutput<TSchema> {
  const illFormed = findIllFormedText(args);
  if (illFormed !== undefined) throw new ValidationError(illFormed.path, illFormed.rule);
  const result = v.safeParse(tool.input, args ?? {});
  if (result.success) return result.output;
  const [first] = result.issues;
  throw new ValidationError(issuePath(first), ruleOf(first, tool));
}

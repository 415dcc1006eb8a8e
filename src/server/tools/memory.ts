import * as v from 'valibot';
import {
  deleteMemory,
  listMemories,
  MEMORY_TYPES,
  searchMemories,
  storeMemory,
} from '../../domain/memories.js';
import { defineTool } from './registry.js';
import { integer, nonBlank, oneOf, text } from './schemas.js';

export const memoryStore = defineTool({
  name: 'memory_store',
  title: 'Store a memory',
  description:
    'Store a short, durable memory about the user or their work: a preference ("prefers TypeScript"), a fact, ' +
    'a project detail or a decision. Use it for things worth remembering across conversations; use ' +
    'artifact_ingest for whole documents. Returns the memory_id.',
  input: v.strictObject({
    content: nonBlank(10_000, 'The memory, in one or a few sentences (1 to 10,000 characters).'),
    type: oneOf(MEMORY_TYPES, 'Kind of memory: preference, fact, project or decision.'),
    confidence: v.pipe(
      v.number('must be a number'),
      v.minValue(0, 'must be between 0 and 1'),
      v.maxValue(1, 'must be between 0 and 1'),
      v.description('How sure you are that this is true and lasting, from 0 to 1.'),
    ),
    conversation_id: v.optional(text(1, 100, 'The conversation this memory came from, if any.')),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  handler: async (services, input) => ({ memory: await storeMemory(services, input) }),
});

export const memorySearch = defineTool({
  name: 'memory_search',
  title: 'Search memories',
  description:
    'Find stored memories relevant to a question or topic: by their words (BM25, so exact identifiers such as ' +
    '"INC-4471" match) and their meaning (vectors), fused. Returns the best matches first, each with its fused ' +
    'score and the channels that found it.',
  input: v.strictObject({
    query: nonBlank(500, 'What to look for, in natural language (1 to 500 characters).'),
    limit: integer(1, 20, 5, 'How many memories to return (1 to 20, default 5).'),
    min_confidence: v.optional(
      v.pipe(
        v.number('must be a number'),
        v.minValue(0, 'must be between 0 and 1'),
        v.maxValue(1, 'must be between 0 and 1'),
        v.description('Only memories stored with at least this confidence (0 to 1, default 0).'),
      ),
      0,
    ),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => {
    const memories = await searchMemories(services, input);
    return { query: input.query, memories, total: memories.length };
  },
});

export const memoryList = defineTool({
  name: 'memory_list',
  title: 'List memories',
  description:
    'List stored memories, newest first, optionally of one type. Use memory_search to find by topic.',
  input: v.strictObject({
    type: v.optional(oneOf(MEMORY_TYPES, 'Only memories of this type.')),
    limit: integer(1, 100, 20, 'How many memories to return (1 to 100, default 20).'),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => listMemories(services, input),
});

export const memoryDelete = defineTool({
  name: 'memory_delete',
  title: 'Delete a memory',
  description: 'Delete one memory by its memory_id (from memory_store, memory_search or memory_list).',
  input: v.strictObject({
    memory_id: v.pipe(
      v.string('must be a string'),
      v.regex(/^mem_[0-9a-f]{12}$/, 'must look like mem_0123456789ab'),
      v.description('The id of the memory to delete, e.g. mem_0123456789ab.'),
    ),
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  handler: async (services, input) => deleteMemory(services, input.memory_id),
});

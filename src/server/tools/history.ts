import * as v from 'valibot';
import { appendTurn, getHistory, MAX_TURN_INDEX, ROLES, searchHistory } from '../../domain/history.js';
import { defineTool } from './registry.js';
import { integer, isoDate, nonBlank, oneOf, text, wholeNumber } from './schemas.js';

export const historyAppend = defineTool({
  name: 'history_append',
  title: 'Append a conversation turn',
  description:
    'Record one turn of a conversation (user, assistant or system) at its position turn_index, with when it ' +
    'was said (ts, default now) and who said it (speaker, optional). Writing the same conversation_id and ' +
    'turn_index again replaces that turn. history_search finds turns by what was said.',
  input: v.strictObject({
    conversation_id: text(1, 100, 'Identifier of the conversation (1 to 100 characters).'),
    role: oneOf(ROLES, 'Who spoke: user, assistant or system.'),
    content: nonBlank(50_000, 'What was said (1 to 50,000 characters).'),
    turn_index: v.pipe(
      wholeNumber(0, MAX_TURN_INDEX),
      v.description('Position of the turn in the conversation, starting at 0.'),
    ),
    ts: v.optional(isoDate('When the turn was said, ISO 8601 (default: now).')),
    speaker: v.optional(text(1, 100, 'Name of the person who spoke, e.g. "Caroline" (1 to 100 characters).')),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  handler: async (services, input) => ({ turn: await appendTurn(services, input) }),
});

export const historyGet = defineTool({
  name: 'history_get',
  title: 'Get conversation history',
  description: 'The most recent turns of a conversation, oldest first.',
  input: v.strictObject({
    conversation_id: text(1, 100, 'Identifier of the conversation.'),
    limit: integer(1, 50, 16, 'How many of the most recent turns to return (1 to 50, default 16).'),
  }),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => getHistory(services, input),
});

export const historySearch = defineTool({
  name: 'history_search',
  title: 'Search conversation history',
  description:
    'Find past conversation turns about a question or topic, by their words (BM25) and their meaning (vectors), ' +
    'optionally within one conversation, by role or speaker, and within a time range (since/until on when the ' +
    'turn was said). Returns turns best first, each with its score and the channels that found it. Use ' +
    'history_get for the latest turns of a conversation regardless of topic.',
  input: v.pipe(
    v.strictObject({
      query: nonBlank(500, 'What to look for, in natural language (1 to 500 characters).'),
      conversation_id: v.optional(text(1, 100, 'Only turns of this conversation.')),
      role: v.optional(oneOf(ROLES, 'Only turns of this role: user, assistant or system.')),
      speaker: v.optional(text(1, 100, 'Only turns said by this speaker (case-insensitive).')),
      since: v.optional(isoDate('Only turns said at or after this time (ISO 8601).')),
      until: v.optional(isoDate('Only turns said at or before this time (ISO 8601).')),
      limit: integer(1, 50, 10, 'How many turns to return (1 to 50, default 10).'),
    }),
    v.forward(
      v.check(
        (input) =>
          input.since === undefined ||
          input.until === undefined ||
          Date.parse(input.since) <= Date.parse(input.until),
        'must not be before since',
      ),
      ['until'],
    ),
  ),
  annotations: { readOnlyHint: true, idempotentHint: true },
  handler: async (services, input) => {
    const turns = await searchHistory(services, input);
    return { query: input.query, turns, total: turns.length };
  },
});

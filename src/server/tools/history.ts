import * as v from 'valibot';
import { appendTurn, getHistory, ROLES } from '../../domain/history.js';
import { defineTool } from './registry.js';
import { integer, nonBlank, oneOf, text, wholeNumber } from './schemas.js';

export const historyAppend = defineTool({
  name: 'history_append',
  title: 'Append a conversation turn',
  description:
    'Record one turn of a conversation (user, assistant or system) at its position turn_index. Writing the ' +
    'same conversation_id and turn_index again replaces that turn.',
  input: v.strictObject({
    conversation_id: text(1, 100, 'Identifier of the conversation (1 to 100 characters).'),
    role: oneOf(ROLES, 'Who spoke: user, assistant or system.'),
    content: nonBlank(50_000, 'What was said (1 to 50,000 characters).'),
    turn_index: v.pipe(
      wholeNumber(0),
      v.description('Position of the turn in the conversation, starting at 0.'),
    ),
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

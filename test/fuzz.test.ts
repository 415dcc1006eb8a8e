/**
 * Generated bad calls (fast-check) through the real MCP client: each call takes a valid call of
 * one tool and breaks one field (a wrong type, NUL or a lone surrogate, a number out of range
 * or past 2^53, a date outside years 1-9999 or not on the calendar, a link that is not
 * http/https/mailto, a malformed id, an unknown field). Every answer must be a VALIDATION_ERROR
 * naming that field; nothing may be written; the server must keep answering.
 *
 * FUZZ_RUNS sets the number of calls (default 300).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_TURN_INDEX } from '../src/domain/history.js';
import { snapshot, startTestServer, type TestServer } from './helpers/server.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

type Kind =
  | { kind: 'text' }
  | { kind: 'texts' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'unit' }
  | { kind: 'date' }
  | { kind: 'url' }
  | { kind: 'enum' }
  | { kind: 'bool' }
  | { kind: 'id' };

const text: Kind = { kind: 'text' };
const date: Kind = { kind: 'date' };
const enumeration: Kind = { kind: 'enum' };
const bool: Kind = { kind: 'bool' };
const id: Kind = { kind: 'id' };
const int = (min: number, max: number): Kind => ({ kind: 'int', min, max });

interface ToolShape {
  tool: string;
  base: Record<string, unknown>;
  fields: Record<string, Kind>;
}

const SHAPES: ToolShape[] = [
  {
    tool: 'memory_store',
    base: { content: 'Prefers tea', type: 'preference', confidence: 0.5 },
    fields: { content: text, type: enumeration, confidence: { kind: 'unit' }, conversation_id: text },
  },
  {
    tool: 'memory_search',
    base: { query: 'tea' },
    fields: { query: text, limit: int(1, 20), min_confidence: { kind: 'unit' } },
  },
  { tool: 'memory_list', base: {}, fields: { type: enumeration, limit: int(1, 100) } },
  { tool: 'memory_delete', base: { memory_id: 'mem_0123456789ab' }, fields: { memory_id: id } },
  {
    tool: 'history_append',
    base: { conversation_id: 'c', role: 'user', content: 'hi', turn_index: 0 },
    fields: {
      conversation_id: text,
      role: enumeration,
      content: text,
      turn_index: int(0, MAX_TURN_INDEX),
    },
  },
  {
    tool: 'history_get',
    base: { conversation_id: 'c' },
    fields: { conversation_id: text, limit: int(1, 50) },
  },
  {
    tool: 'artifact_ingest',
    base: { artifact_type: 'note', source_system: 'fuzz', content: 'A note about the launch.' },
    fields: {
      artifact_type: enumeration,
      source_system: text,
      content: text,
      source_id: text,
      source_url: { kind: 'url' },
      title: text,
      author: text,
      participants: { kind: 'texts' },
      ts: date,
      sensitivity: enumeration,
      visibility_scope: enumeration,
      retention_policy: enumeration,
    },
  },
  {
    tool: 'artifact_search',
    base: { query: 'launch' },
    fields: {
      query: text,
      limit: int(1, 50),
      artifact_type: enumeration,
      source_system: text,
      time_range_start: date,
      time_range_end: date,
      expand_neighbors: bool,
    },
  },
  {
    tool: 'artifact_get',
    base: { artifact_id: 'art_0123456789abcdef' },
    fields: { artifact_id: id, revision_id: id, include_content: bool, include_chunks: bool },
  },
  { tool: 'artifact_delete', base: { artifact_id: 'art_0123456789abcdef' }, fields: { artifact_id: id } },
  {
    tool: 'hybrid_search',
    base: { query: 'launch', filters: {} },
    fields: {
      query: text,
      limit: int(1, 50),
      include_memory: bool,
      include_events: bool,
      'filters.source_system': text,
      'filters.artifact_type': enumeration,
      'filters.time_range_start': date,
      'filters.sensitivity': enumeration,
    },
  },
  {
    tool: 'event_search',
    base: {},
    fields: {
      query: text,
      limit: int(1, 100),
      category: enumeration,
      time_from: date,
      time_to: date,
      artifact_uid: id,
      include_superseded: bool,
    },
  },
  { tool: 'event_get', base: { event_id: '6f1c2a4e-0b7d-4f43-9a57-2f2b8f0c9d11' }, fields: { event_id: id } },
  {
    tool: 'event_list_for_revision',
    base: { artifact_uid: 'uid_0123456789abcdef' },
    fields: { artifact_uid: id, revision_id: id, include_evidence: bool },
  },
  {
    tool: 'event_reextract',
    base: { artifact_uid: 'uid_0123456789abcdef' },
    fields: { artifact_uid: id, revision_id: id, force: bool },
  },
  { tool: 'job_status', base: { artifact_uid: 'uid_0123456789abcdef' }, fields: { artifact_uid: id } },
];

const wrongType = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);
const notAString = wrongType.filter((value) => typeof value !== 'string');
const lone = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff');
/** Printable text with NUL or an unpaired surrogate somewhere in it. */
const illFormed = fc
  .tuple(fc.string({ maxLength: 20 }), fc.oneof(fc.constant('\u0000'), lone), fc.string({ maxLength: 20 }))
  .map(([head, bad, tail]) => `${head}${bad}${tail}`);

/** A value that breaks a field of `kind`, and the path (below the field) the error must name. */
function badValue(kind: Kind): fc.Arbitrary<{ value: unknown; below?: string }> {
  const plain = (arbitrary: fc.Arbitrary<unknown>) => arbitrary.map((value) => ({ value }));
  switch (kind.kind) {
    case 'text':
      return plain(fc.oneof(illFormed, notAString));
    case 'texts':
      return fc.oneof(
        plain(fc.oneof(fc.string(), fc.integer(), fc.constant(null))),
        fc
          .tuple(
            fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 3 }),
            fc.oneof(illFormed, notAString),
          )
          .map(([good, bad]) => ({ value: [...good, bad], below: String(good.length) })),
      );
    case 'int':
      return plain(
        fc.oneof(
          fc.constantFrom(1e308, -1e308, 2 ** 53, 2 ** 60, kind.min - 1, kind.max + 1),
          fc.integer({ min: -(2 ** 31), max: kind.min - 1 }),
          fc
            .double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })
            .filter((x) => !Number.isInteger(x)),
          fc.string().map((s) => `${s}1`),
          fc.boolean(),
        ),
      );
    case 'unit':
      return plain(
        fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true, min: 1.0000001, max: 1e308 }),
          fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e308, max: -0.0000001 }),
          fc.string(),
        ),
      );
    case 'date':
      return plain(
        fc.oneof(
          fc.constantFrom(
            '0000-01-01',
            '0000-12-31T23:59:59Z',
            '2023-02-29',
            '2025-04-31',
            '2025-13-01',
            '2025-00-10',
            '10000-01-01',
            '+010000-01-01',
            'yesterday',
            '2025-01-01T25:00:00Z',
          ),
          fc.string({ maxLength: 12 }).filter((s) => !/^\d{4}-\d{2}-\d{2}/.test(s)),
          illFormed,
          notAString,
        ),
      );
    case 'url':
      return plain(
        fc.oneof(
          fc
            .tuple(
              fc.constantFrom('javascript:', 'data:', 'file://', 'ftp://', 'vbscript:', 'chrome://'),
              fc.webPath(),
            )
            .map(([scheme, path]) => `${scheme}x${path}`),
          fc.string({ maxLength: 20 }).filter((s) => !URL.canParse(s)),
          illFormed,
          notAString,
        ),
      );
    case 'enum':
      return plain(
        fc.oneof(
          fc.string({ maxLength: 12 }).map((s) => `zz${s}`),
          illFormed,
          notAString,
        ),
      );
    case 'bool':
      return plain(fc.oneof(fc.constantFrom('true', 'false', 0, 1, null), fc.string()));
    case 'id':
      return plain(
        fc.oneof(
          fc.string({ maxLength: 30 }).map((s) => `zz${s}`),
          illFormed,
          notAString,
        ),
      );
  }
}

interface BadCall {
  tool: string;
  args: Record<string, unknown>;
  field: string;
}

/** One valid call with exactly one field broken (or an unknown field added). */
const badCall: fc.Arbitrary<BadCall> = fc.constantFrom(...SHAPES).chain((shape) =>
  fc.oneof(
    {
      weight: 9,
      arbitrary: fc.constantFrom(...Object.keys(shape.fields)).chain((field) =>
        badValue(shape.fields[field]!).map(({ value, below }) => {
          const args = structuredClone(shape.base);
          const [outer, inner] = field.split('.') as [string, string | undefined];
          if (inner === undefined) args[outer] = value;
          else args[outer] = { ...(args[outer] as object), [inner]: value };
          return { tool: shape.tool, args, field: below === undefined ? field : `${field}.${below}` };
        }),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ minLength: 1, maxLength: 10 })
        .filter((key) => /^[a-z_]+$/.test(key))
        .map((key) => ({ tool: shape.tool, args: { ...shape.base, [`x_${key}`]: 1 }, field: `x_${key}` })),
    },
  ),
);

describe('fuzzed bad calls', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t?.stop());

  test(`${RUNS} generated bad calls: each a VALIDATION_ERROR naming its field, nothing written, server alive`, async () => {
    const before = await snapshot(t);
    const codes = new Map<string, number>();
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(badCall, async ({ tool, args, field }) => {
        calls++;
        const answer = await t.call(tool, args);
        const code = answer.data.error?.code ?? 'none';
        codes.set(code, (codes.get(code) ?? 0) + 1);
        assert.equal(answer.isError, true, `${tool} ${JSON.stringify(args)} was accepted`);
        assert.equal(
          code,
          'VALIDATION_ERROR',
          `${tool} ${JSON.stringify(args)}: ${JSON.stringify(answer.data)}`,
        );
        assert.equal(answer.data.error?.details?.field, field, `${tool} ${JSON.stringify(args)}`);
        assert.match(answer.data.error!.message, /^\S+: /);
        assert.ok(answer.data.error!.message.length < 600, 'a short message, no dump');
      }),
      { numRuns: RUNS },
    );
    assert.ok(calls >= RUNS, `${calls} calls`);
    assert.deepEqual(await snapshot(t), before, 'nothing was written');
    // Still serving: a valid write and read go through.
    const stored = await t.call('memory_store', {
      content: 'Still alive after the fuzz',
      type: 'fact',
      confidence: 1,
    });
    assert.equal(stored.isError, false, JSON.stringify(stored.data));
    const health = await fetch(`${t.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual([...codes.keys()], ['VALIDATION_ERROR']);
  });
});

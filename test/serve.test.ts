import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_BODY_BYTES } from '../src/server/http.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '../src/server/mcp.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const TOOL_NAMES = [
  'memory_store',
  'memory_search',
  'memory_list',
  'memory_delete',
  'history_append',
  'history_get',
  'history_search',
  'artifact_ingest',
  'artifact_search',
  'artifact_get',
  'artifact_delete',
  'hybrid_search',
  'embedding_health',
  'event_search',
  'event_get',
  'event_list_for_revision',
  'event_reextract',
  'job_status',
];

/** About 3,000 tokens of varied text, with CRLF line ends, emoji and CJK. */
function longDocument(): string {
  const paragraphs: string[] = [];
  for (let i = 0; i < 60; i++) {
    paragraphs.push(
      `Section ${i}: the platform team reviewed latency budget item ${i} 🚀 and agreed on follow-ups.\r\n` +
        `Owner ${['Alice', 'Bob', 'Chen 陈', 'Dana'][i % 4]} will report on cache warmup, queue depth and retries by week ${i + 1}.\r\n` +
        `日本語のテキストも含まれます。 Notes: ${'lorem ipsum dolor sit amet '.repeat(3)}\r\n`,
    );
  }
  return paragraphs.join('\r\n');
}

describe('memory serve over MCP Streamable HTTP', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  test('tools/list returns the 18 tools with JSON input schemas and annotations', async () => {
    const { tools } = await t.client.listTools();
    assert.deepEqual(
      tools.map((tool) => tool.name),
      TOOL_NAMES,
    );
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object', tool.name);
      assert.ok(tool.description && tool.description.length > 40, `${tool.name} has a usable description`);
      assert.equal(typeof tool.annotations?.readOnlyHint, 'boolean');
    }
    const ingest = tools.find((tool) => tool.name === 'artifact_ingest')!;
    const props = ingest.inputSchema.properties as Record<string, { maxLength?: number; enum?: string[] }>;
    assert.equal(props.content?.maxLength, 10_000_000);
    assert.deepEqual(props.artifact_type?.enum, ['email', 'doc', 'chat', 'transcript', 'note']);
    assert.deepEqual(ingest.inputSchema.required?.sort(), ['artifact_type', 'content', 'source_system']);
    assert.equal(tools.find((tool) => tool.name === 'artifact_delete')?.annotations?.destructiveHint, true);
  });

  test('/mcp without the trailing slash works too', async () => {
    const client = await t.connect('/mcp');
    const { tools } = await client.listTools();
    assert.equal(tools.length, TOOL_NAMES.length);
  });

  test('memories: store, search, list, delete', async () => {
    const stored = await t.call('memory_store', {
      content: 'The user prefers TypeScript with strict mode for new services',
      type: 'preference',
      confidence: 0.9,
      conversation_id: 'conv-1',
    });
    assert.equal(stored.isError, false, JSON.stringify(stored.data));
    const memory = stored.data.memory as { memory_id: string };
    assert.match(memory.memory_id, /^mem_[0-9a-f]{12}$/);
    await t.call('memory_store', { content: 'Deploys happen on Tuesdays', type: 'fact', confidence: 0.4 });

    const found = await t.call('memory_search', {
      query: 'which language does the user prefer, TypeScript?',
    });
    const memories = found.data.memories as Array<{ memory_id: string; score: number; content: string }>;
    assert.equal(memories[0]?.memory_id, memory.memory_id);
    assert.ok(memories[0]!.score > 0);

    const confident = await t.call('memory_search', { query: 'deploys Tuesdays', min_confidence: 0.5 });
    assert.ok(
      (confident.data.memories as Array<{ content: string }>).every((m) => !m.content.includes('Tuesdays')),
      'min_confidence filters out the 0.4 memory',
    );

    const listed = await t.call('memory_list', { type: 'preference' });
    assert.deepEqual(
      (listed.data.memories as Array<{ memory_id: string }>).map((m) => m.memory_id),
      [memory.memory_id],
    );
    const all = await t.call('memory_list', { limit: 1 });
    assert.equal((all.data.memories as unknown[]).length, 1);
    assert.equal(all.data.total, 2);

    const deleted = await t.call('memory_delete', { memory_id: memory.memory_id });
    assert.equal(deleted.isError, false);
    const again = await t.call('memory_delete', { memory_id: memory.memory_id });
    assert.equal(again.isError, true);
    assert.equal(again.data.error?.code, 'NOT_FOUND');
  });

  test('history: append and get the most recent turns in order; re-appending a turn replaces it', async () => {
    for (let i = 0; i < 5; i++) {
      const role = i % 2 === 0 ? 'user' : 'assistant';
      const answer = await t.call('history_append', {
        conversation_id: 'chat-7',
        role,
        content: `turn ${i}`,
        turn_index: i,
      });
      assert.equal(answer.isError, false, JSON.stringify(answer.data));
    }
    const replaced = await t.call('history_append', {
      conversation_id: 'chat-7',
      role: 'assistant',
      content: 'turn 3 (edited)',
      turn_index: 3,
    });
    assert.equal((replaced.data.turn as { replaced: boolean }).replaced, true);
    const history = await t.call('history_get', { conversation_id: 'chat-7', limit: 3 });
    assert.deepEqual(
      (history.data.turns as Array<{ turn_index: number; content: string }>).map((turn) => [
        turn.turn_index,
        turn.content,
      ]),
      [
        [2, 'turn 2'],
        [3, 'turn 3 (edited)'],
        [4, 'turn 4'],
      ],
    );
    assert.equal(history.data.total, 5);
    const empty = await t.call('history_get', { conversation_id: 'nobody' });
    assert.deepEqual(empty.data.turns, []);
  });

  test('artifacts: a small note is one piece; re-ingest is a no-op; a new revision gets a new job', async () => {
    const first = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      source_id: 'note-1',
      title: 'Pricing sync',
      content: 'We decided to adopt freemium pricing for the starter plan.',
      ts: '2025-03-01T10:00:00Z',
      participants: ['Alice', 'Bob'],
    });
    assert.equal(first.isError, false, JSON.stringify(first.data));
    assert.equal(first.data.status, 'created');
    assert.match(String(first.data.artifact_id), /^art_[0-9a-f]{16}$/);
    assert.match(String(first.data.artifact_uid), /^uid_[0-9a-f]{16}$/);
    assert.match(String(first.data.revision_id), /^rev_[0-9a-f]{16}$/);
    assert.equal(first.data.is_chunked, false);
    assert.equal(first.data.num_chunks, 0);
    assert.equal(first.data.job_status, 'PENDING');
    assert.deepEqual(first.data.stored_ids, [first.data.artifact_id]);

    const same = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      source_id: 'note-1',
      content: 'We decided to adopt freemium pricing for the starter plan.',
    });
    assert.equal(same.data.status, 'unchanged');
    assert.equal(same.data.job_id, first.data.job_id);
    assert.equal(same.data.revision_id, first.data.revision_id);

    const second = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      source_id: 'note-1',
      content: 'We decided to adopt usage-based pricing instead of freemium.',
    });
    assert.equal(second.data.status, 'new_revision');
    assert.equal(second.data.artifact_uid, first.data.artifact_uid);
    assert.equal(second.data.artifact_id, first.data.artifact_id);
    assert.notEqual(second.data.revision_id, first.data.revision_id);
    assert.notEqual(second.data.job_id, first.data.job_id);

    const revisions = await t.db.sql`
      select revision_id, is_latest from artifact_revision where artifact_uid = ${String(first.data.artifact_uid)}
      order by ingested_at`;
    assert.deepEqual(
      revisions.map((r) => [r.revision_id, r.is_latest]),
      [
        [first.data.revision_id, false],
        [second.data.revision_id, true],
      ],
    );
    const jobs = await t.db
      .sql`select status from event_jobs where artifact_uid = ${String(first.data.artifact_uid)}`;
    assert.deepEqual(
      jobs.map((j) => j.status),
      ['PENDING', 'PENDING'],
    );

    const got = await t.call('artifact_get', { artifact_id: first.data.artifact_id, include_content: true });
    assert.equal(got.data.content, 'We decided to adopt usage-based pricing instead of freemium.');
    assert.equal((got.data.revisions as unknown[]).length, 2);

    const search = await t.call('artifact_search', { query: 'usage-based pricing' });
    const hits = search.data.results as Array<{
      artifact_id: string;
      revision_id: string;
      match: { text: string };
    }>;
    assert.equal(hits[0]?.artifact_id, first.data.artifact_id);
    assert.equal(hits[0]?.revision_id, second.data.revision_id, 'search shows the latest revision');
  });

  test('an id-less note with the same content in the same source system is a no-op', async () => {
    const a = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'scratch',
      content: 'Buy more coffee.',
    });
    const b = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'scratch',
      content: 'Buy more coffee.',
    });
    const c = await t.call('artifact_ingest', {
      artifact_type: 'note',
      source_system: 'scratch',
      content: 'Buy tea.',
    });
    assert.equal(a.data.status, 'created');
    assert.equal(b.data.status, 'unchanged');
    assert.equal(b.data.artifact_uid, a.data.artifact_uid);
    assert.equal(c.data.status, 'created');
    assert.notEqual(c.data.artifact_uid, a.data.artifact_uid);
  });

  test('a document over 1,200 tokens is chunked with exact offsets and round-trips', async () => {
    const content = longDocument();
    const ingest = await t.call('artifact_ingest', {
      artifact_type: 'doc',
      source_system: 'notion',
      source_id: 'doc-long',
      title: 'Latency review',
      content,
    });
    assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
    assert.equal(ingest.data.is_chunked, true);
    const numChunks = ingest.data.num_chunks as number;
    assert.ok(numChunks >= 3, `num_chunks ${numChunks}`);
    const storedIds = ingest.data.stored_ids as string[];
    assert.equal(storedIds.length, numChunks + 1);
    assert.match(storedIds[1]!, new RegExp(`^${String(ingest.data.artifact_id)}::chunk::000::[0-9a-f]{8}$`));

    const got = await t.call('artifact_get', {
      artifact_id: ingest.data.artifact_id,
      include_content: true,
      include_chunks: true,
    });
    assert.equal(got.data.content, content, 'content rebuilt from chunks is the exact original');
    const chunks = got.data.chunks as Array<{
      start_char: number;
      end_char: number;
      text: string;
      chunk_index: number;
    }>;
    assert.equal(chunks.length, numChunks);
    for (const chunk of chunks) assert.equal(content.slice(chunk.start_char, chunk.end_char), chunk.text);
    assert.equal(chunks[0]?.start_char, 0);
    assert.equal(chunks.at(-1)?.end_char, content.length);

    const pgChunks = await t.db.sql`
      select count(*)::int as n from artifact_chunk where artifact_uid = ${String(ingest.data.artifact_uid)}`;
    assert.equal(pgChunks[0]?.n, numChunks);

    const search = await t.call('artifact_search', {
      query: 'cache warmup report week 31',
      expand_neighbors: true,
      artifact_type: 'doc',
    });
    const hit = (search.data.results as Array<Record<string, unknown>>)[0] as {
      artifact_id: string;
      match: { chunk_id: string; start_char: number; end_char: number; text: string; chunk_index: number };
      neighbors: Array<{ chunk_index: number }>;
    };
    assert.equal(hit.artifact_id, ingest.data.artifact_id);
    assert.equal(content.slice(hit.match.start_char, hit.match.end_char), hit.match.text);
    assert.ok(hit.neighbors.length >= 1);
    for (const n of hit.neighbors) assert.equal(Math.abs(n.chunk_index - hit.match.chunk_index), 1);
  });

  test('hybrid_search fuses channels and says which found each hit', async () => {
    await t.call('artifact_ingest', {
      artifact_type: 'email',
      source_system: 'gmail',
      source_id: 'mail-zebra',
      content: 'Subject: zebra migration. The zebracorn cluster migrates to Postgres 17 next Thursday.',
      ts: '2025-05-02T09:00:00Z',
    });
    await t.call('memory_store', {
      content: 'zebracorn is the code name of the analytics cluster',
      type: 'fact',
      confidence: 1,
    });
    const result = await t.call('hybrid_search', {
      query: 'zebracorn cluster migration',
      include_memory: true,
      limit: 5,
    });
    assert.equal(result.isError, false, JSON.stringify(result.data));
    const hits = result.data.results as Array<{
      kind: string;
      channels: Record<string, number>;
      score: number;
      source_id?: string;
    }>;
    const email = hits.find((h) => h.kind === 'artifact' && h.source_id === 'mail-zebra');
    assert.ok(email, 'the email is found');
    assert.equal(email.channels.lexical, 1, 'lexical channel ranks it first');
    // A small artifact's one vector votes once, in the passage list, not also as an artifact.
    assert.ok(email.channels.chunk_vectors !== undefined);
    assert.equal(email.channels.artifact_vectors, undefined);
    assert.ok(hits.some((h) => h.kind === 'memory' && h.channels.memory !== undefined));
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score);
    assert.equal(result.data.rrf_k, 60);

    const filtered = await t.call('hybrid_search', {
      query: 'zebracorn cluster migration',
      filters: { source_system: 'notion' },
    });
    assert.ok(
      (filtered.data.results as Array<{ source_id?: string }>).every((h) => h.source_id !== 'mail-zebra'),
      'filters apply to every channel',
    );
    const ranged = await t.call('hybrid_search', {
      query: 'zebracorn',
      filters: { time_range_start: '2025-05-01', time_range_end: '2025-05-03' },
    });
    assert.deepEqual(
      (ranged.data.results as Array<{ source_id?: string }>).map((h) => h.source_id),
      ['mail-zebra'],
    );
  });

  test('artifact_delete removes the artifact, its chunks and its revisions from search', async () => {
    const ingest = await t.call('artifact_ingest', {
      artifact_type: 'doc',
      source_system: 'notion',
      source_id: 'doc-to-delete',
      content: longDocument().replaceAll('latency', 'quokka'),
    });
    const id = String(ingest.data.artifact_id);
    const deleted = await t.call('artifact_delete', { artifact_id: id });
    assert.equal(deleted.isError, false, JSON.stringify(deleted.data));
    const removed = deleted.data.removed as Record<string, number>;
    assert.equal(removed.revisions, 1);
    assert.equal(removed.jobs, 1);
    assert.equal(removed.chroma_records, (ingest.data.num_chunks as number) + 1);
    const rows = await t.db
      .sql`select count(*)::int as n from artifact_chunk where artifact_uid = ${String(ingest.data.artifact_uid)}`;
    assert.equal(rows[0]?.n, 0);
    const search = await t.call('hybrid_search', { query: 'quokka budget', limit: 50 });
    assert.ok((search.data.results as Array<{ artifact_id?: string }>).every((h) => h.artifact_id !== id));
    const again = await t.call('artifact_get', { artifact_id: id });
    assert.equal(again.data.error?.code, 'NOT_FOUND');
  });

  test('embedding_health names the offline embedder and measures a live embedding', async () => {
    const health = await t.call('embedding_health');
    assert.equal(health.data.ok, true);
    assert.equal(health.data.provider, 'local');
    assert.equal(health.data.api_key_configured, false);
    assert.equal(health.data.returned_dimensions, health.data.dimensions);
    assert.equal(typeof health.data.latency_ms, 'number');
  });

  describe('validation: a tool error names the field and the rule, and nothing is written', () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      ['memory_store', { content: '', type: 'fact', confidence: 1 }, 'content', /at least 1 character|empty/],
      [
        'memory_store',
        { content: 'x'.repeat(10_001), type: 'fact', confidence: 1 },
        'content',
        /at most 10,000/,
      ],
      [
        'memory_store',
        { content: 'x', type: 'rumour', confidence: 1 },
        'type',
        /one of preference, fact, project, decision/,
      ],
      ['memory_store', { content: 'x', type: 'fact', confidence: 1.5 }, 'confidence', /between 0 and 1/],
      ['memory_store', { content: 'x', type: 'fact' }, 'confidence', /is required/],
      [
        'memory_store',
        { content: 'x', type: 'fact', confidence: 1, extra: 1 },
        'extra',
        /not a known field.*content, type/,
      ],
      ['memory_search', { query: 'x'.repeat(501) }, 'query', /at most 500/],
      ['memory_search', { query: 'x', limit: 21 }, 'limit', /integer from 1 to 20/],
      ['memory_search', { query: 'x', limit: 2.5 }, 'limit', /integer/],
      ['memory_list', { limit: 0 }, 'limit', /integer from 1 to 100/],
      ['memory_delete', { memory_id: 'abc' }, 'memory_id', /mem_/],
      [
        'history_append',
        { conversation_id: '', role: 'user', content: 'x', turn_index: 0 },
        'conversation_id',
        /at least 1/,
      ],
      [
        'history_append',
        { conversation_id: 'c'.repeat(101), role: 'user', content: 'x', turn_index: 0 },
        'conversation_id',
        /at most 100/,
      ],
      [
        'history_append',
        { conversation_id: 'c', role: 'bot', content: 'x', turn_index: 0 },
        'role',
        /user, assistant, system/,
      ],
      [
        'history_append',
        { conversation_id: 'c', role: 'user', content: 'x', turn_index: -1 },
        'turn_index',
        /from 0 to 2147483647/,
      ],
      [
        'history_append',
        { conversation_id: 'c', role: 'user', content: 'x'.repeat(50_001), turn_index: 0 },
        'content',
        /at most 50,000/,
      ],
      ['history_get', { conversation_id: 'c', limit: 51 }, 'limit', /1 to 50/],
      [
        'artifact_ingest',
        { artifact_type: 'tweet', source_system: 's', content: 'x' },
        'artifact_type',
        /email, doc, chat, transcript, note/,
      ],
      ['artifact_ingest', { artifact_type: 'note', source_system: 's', content: '   ' }, 'content', /blank/],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: 's', content: 'x', ts: 'yesterday' },
        'ts',
        /ISO 8601/,
      ],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: 's', content: 'x', sensitivity: 'secret' },
        'sensitivity',
        /normal, sensitive, highly_sensitive/,
      ],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: 's', content: 'x', visibility_scope: 'world' },
        'visibility_scope',
        /me, team, org, custom/,
      ],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: 's', content: 'x', retention_policy: '2y' },
        'retention_policy',
        /forever/,
      ],
      [
        'artifact_ingest',
        {
          artifact_type: 'note',
          source_system: 's',
          content: 'x',
          participants: Array.from({ length: 101 }, (_, i) => `p${i}`),
        },
        'participants',
        /at most 100/,
      ],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: 's', content: 'x', source_url: 'not a url' },
        'source_url',
        /URL/,
      ],
      [
        'artifact_ingest',
        { artifact_type: 'note', source_system: '', content: 'x' },
        'source_system',
        /at least 1/,
      ],
      ['artifact_search', { query: 'x', limit: 51 }, 'limit', /1 to 50/],
      [
        'artifact_search',
        { query: 'x', time_range_start: '2025-02-01', time_range_end: '2025-01-01' },
        'time_range_end',
        /before time_range_start/,
      ],
      ['artifact_get', { artifact_id: 'art_123' }, 'artifact_id', /art_0000000000000000/],
      ['artifact_delete', { artifact_id: 'nope' }, 'artifact_id', /art_/],
      ['hybrid_search', { query: '' }, 'query', /./],
      ['hybrid_search', { query: 'x', filters: { artifact_type: 'fax' } }, 'filters.artifact_type', /one of/],
      ['hybrid_search', { query: 'x', include_memory: 'yes' }, 'include_memory', /true or false/],
    ];
    for (const [tool, args, field, rule] of cases) {
      test(`${tool} ${JSON.stringify(args).slice(0, 80)} → ${field}`, async () => {
        const [before] = await t.db.sql`select count(*)::int as n from artifact_revision`;
        const memoriesBefore = await t.server.services.vectors.count('memory');
        const answer = await t.call(tool, args);
        assert.equal(answer.isError, true);
        assert.equal(answer.data.error?.code, 'VALIDATION_ERROR');
        assert.equal(answer.data.error?.details?.field, field);
        assert.match(answer.data.error!.message, new RegExp(`^${field.replace('.', '\\.')}: `));
        assert.match(answer.data.error!.message, rule);
        const [after] = await t.db.sql`select count(*)::int as n from artifact_revision`;
        assert.equal(after?.n, before?.n);
        assert.equal(await t.server.services.vectors.count('memory'), memoriesBefore);
      });
    }
  });

  test('unknown ids answer NOT_FOUND', async () => {
    for (const [tool, args] of [
      ['artifact_get', { artifact_id: 'art_0000000000000000' }],
      ['artifact_delete', { artifact_id: 'art_0000000000000000' }],
      ['memory_delete', { memory_id: 'mem_000000000000' }],
    ] as const) {
      const answer = await t.call(tool, args);
      assert.equal(answer.data.error?.code, 'NOT_FOUND', tool);
    }
  });

  test('a forged Origin gets 403; a loopback Origin is allowed', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const forged = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      body,
      headers: { ...headers, origin: 'https://evil.example' },
    });
    assert.equal(forged.status, 403);
    const local = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      body,
      headers: { ...headers, origin: 'http://localhost:5173' },
    });
    assert.equal(local.status, 200);
  });

  test('an oversized body gets 413, malformed JSON-RPC a JSON-RPC error, and the server keeps serving', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const big = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      headers,
      body: Buffer.alloc(MAX_BODY_BYTES + 1024, 0x61),
    });
    assert.equal(big.status, 413);
    assert.match(await big.text(), /too large/);

    const malformed = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      headers,
      body: '{"jsonrpc": "2.0", "id": 1, ',
    });
    const answer = (await malformed.json()) as { error?: { code: number } };
    assert.equal(answer.error?.code, -32700);

    const wrongShape = await fetch(`${t.url}/mcp/`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ hello: 'world' }),
    });
    assert.ok(wrongShape.status >= 400);
    const wrongAnswer = (await wrongShape.json()) as { error?: { code: number } };
    assert.ok(wrongAnswer.error !== undefined);

    const { tools } = await t.client.listTools();
    assert.equal(tools.length, TOOL_NAMES.length);
  });

  test('JSON-RPC edges: batches, notifications, bad params, unknown methods, transport headers', async () => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    };
    const post = async (body: unknown, extra: Record<string, string> = {}) => {
      const response = await fetch(`${t.url}/mcp/`, {
        method: 'POST',
        headers: { ...headers, ...extra },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
    };
    type Reply = { id: unknown; result?: Record<string, unknown>; error?: { code: number; message: string } };

    const empty = await post([]);
    assert.equal(empty.status, 400);
    assert.equal((empty.json as Reply).error?.code, -32600);

    const notification = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    assert.equal(notification.status, 202);
    assert.equal(notification.json, undefined);

    const batch = await post([
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
    ]);
    assert.equal(batch.status, 200);
    const replies = batch.json as Reply[];
    assert.deepEqual(
      replies.map((r) => r.id),
      ['a', 'b'],
    );
    assert.deepEqual(replies[0]?.result, {});
    assert.equal((replies[1]!.result!.tools as unknown[]).length, TOOL_NAMES.length);

    for (const args of [['a'], 'text', 42]) {
      const bad = await post({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'memory_list', arguments: args },
      });
      assert.equal(bad.status, 200);
      assert.equal((bad.json as Reply).id, 7);
      assert.equal((bad.json as Reply).error?.code, -32602);
      assert.match((bad.json as Reply).error!.message, /"arguments" must be an object/);
      assert.ok((bad.json as Reply).error!.message.length < 120, 'a short message, no validator dump');
    }

    const unknown = await post({ jsonrpc: '2.0', id: 8, method: 'resources/list' });
    assert.equal((unknown.json as Reply).error?.code, -32601);

    const initialize = await post({
      jsonrpc: '2.0',
      id: 9,
      method: 'initialize',
      params: { protocolVersion: '1999-01-01', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    const init = (initialize.json as Reply).result as {
      protocolVersion: string;
      serverInfo: { name: string };
    };
    assert.ok(
      SUPPORTED_PROTOCOL_VERSIONS.includes(init.protocolVersion),
      'an unknown version gets one we speak',
    );
    assert.equal(init.serverInfo.name, 'memory');

    const initWithOthers = await post([
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18' } },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
    assert.equal(initWithOthers.status, 400);

    const version = await post(
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { 'mcp-protocol-version': '1999-01-01' },
    );
    assert.equal(version.status, 400);
    const accept = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { accept: 'application/json' });
    assert.equal(accept.status, 406);
    const type = await post({ jsonrpc: '2.0', id: 1, method: 'ping' }, { 'content-type': 'text/plain' });
    assert.equal(type.status, 415);
  });

  test('GET /health reports dependencies and queue', async () => {
    const response = await fetch(`${t.url}/health`);
    assert.equal(response.status, 200);
    const report = (await response.json()) as Record<string, { ok?: boolean; pending?: number }>;
    assert.equal(report.postgres?.ok, true);
    assert.equal(report.chroma?.ok, true);
    assert.ok((report.queue?.pending ?? 0) >= 1);
  });
});

describe('failures leave no partial state', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.stop());

  test('Chroma stopped during ingest: CHROMA_CONNECTION_ERROR, no revision row, server keeps serving', async () => {
    await t.chroma.stop();
    {
      const answer = await t.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        source_id: 'while-chroma-down',
        content: 'This should not be stored anywhere.',
      });
      assert.equal(answer.isError, true);
      assert.equal(answer.data.error?.code, 'CHROMA_CONNECTION_ERROR');
      const rows = await t.db.sql`select count(*)::int as n from artifact_revision`;
      assert.equal(rows[0]?.n, 0);
      const health = await fetch(`${t.url}/health`);
      assert.equal(health.status, 503);
      const report = (await health.json()) as { chroma: { ok: boolean; error: string } };
      assert.equal(report.chroma.ok, false);
      assert.match(report.chroma.error, /connection refused|not reachable/);
    }
  });

  test('Postgres failing after the Chroma write: nothing stays searchable', async () => {
    const other = await startTestServer();
    try {
      await other.db.sql.unsafe(`
        create function refuse_revision() returns trigger language plpgsql as $$
        begin
          if new.source_system = 'doomed' then raise exception 'simulated failure'; end if;
          return new;
        end $$;
        create trigger refuse_revision before insert on artifact_revision
          for each row execute function refuse_revision();`);
      const answer = await other.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'doomed',
        source_id: 'x1',
        content: 'The wombat protocol is confidential and must never be indexed.',
      });
      assert.equal(answer.isError, true);
      assert.equal(answer.data.error?.code, 'POSTGRES_ERROR');
      assert.doesNotMatch(answer.data.error!.message, /\n\s+at /);
      const records = await other.server.services.vectors.get('artifacts', {
        filter: { source_system: 'doomed' },
      });
      assert.equal(records.length, 0, 'the Chroma write was undone');
      const search = await other.call('hybrid_search', { query: 'wombat protocol' });
      assert.deepEqual(search.data.results, []);

      // A new revision failing restores the previous one in Chroma.
      const ok = await other.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        source_id: 'keep',
        content: 'Original text about otters.',
      });
      assert.equal(ok.data.status, 'created');
      await other.db.sql.unsafe(`
        create or replace function refuse_revision() returns trigger language plpgsql as $$
        begin
          if new.source_id = 'keep' then raise exception 'simulated failure'; end if;
          return new;
        end $$;`);
      const failed = await other.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        source_id: 'keep',
        content: 'Replacement text about beavers.',
      });
      assert.equal(failed.data.error?.code, 'POSTGRES_ERROR');
      const [record] = await other.server.services.vectors.get('artifacts', {
        ids: [String(ok.data.artifact_id)],
      });
      assert.equal(record?.document, 'Original text about otters.');
      const found = await other.call('artifact_search', { query: 'otters' });
      assert.equal(
        (found.data.results as Array<{ artifact_id: string }>)[0]?.artifact_id,
        ok.data.artifact_id,
      );
    } finally {
      await other.stop();
    }
  });
});

describe('the openai embedder through the real client', () => {
  test('ingest and search embed through an OpenAI-compatible endpoint', async () => {
    const { startFakeOpenAI } = await import('./helpers/openai-server.js');
    const fake = await startFakeOpenAI();
    const t = await startTestServer({
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: 'sk-test-key',
      OPENAI_EMBED_MODEL: 'text-embedding-3-small',
      OPENAI_EMBED_DIMS: '64',
      EVENT_EXTRACTOR: 'rules',
    });
    try {
      const ingest = await t.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        content: 'Quarterly planning for the billing team',
      });
      assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
      assert.ok(fake.count('embeddings') >= 1);
      assert.equal(fake.requests.at(-1)?.authorization, 'Bearer sk-test-key');
      assert.equal(fake.requests.at(-1)?.body.dimensions, 64);
      const search = await t.call('artifact_search', { query: 'billing team planning' });
      assert.equal(
        (search.data.results as Array<{ artifact_id: string }>)[0]?.artifact_id,
        ingest.data.artifact_id,
      );
      const health = await t.call('embedding_health');
      assert.equal(health.data.provider, 'openai');
      assert.equal(health.data.model, 'text-embedding-3-small');
      assert.equal(health.data.api_key_configured, true);

      fake.queue('embeddings', { kind: 'status', status: 401, message: 'bad key' });
      const denied = await t.call('artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        content: 'another note',
      });
      assert.equal(denied.data.error?.code, 'OPENAI_AUTH_ERROR');
      assert.doesNotMatch(JSON.stringify(denied.data), /sk-test-key/);
    } finally {
      await t.stop();
      await fake.close();
    }
  });

  test('a server started with another embedding space refuses to mix vectors', async () => {
    const first = await startTestServer();
    const { startFakeOpenAI } = await import('./helpers/openai-server.js');
    const fake = await startFakeOpenAI();
    try {
      await assert.rejects(
        startTestServer(
          {
            OPENAI_BASE_URL: fake.url,
            OPENAI_EMBED_MODEL: 'text-embedding-3-small',
            OPENAI_EMBED_DIMS: '64',
          },
          { db: first.db, chroma: first.chroma },
        ),
        (error: Error) =>
          /EMBEDDING_SPACE_MISMATCH|cannot be mixed/.test(
            `${(error as { code?: string }).code} ${error.message}`,
          ) && /memory reindex/.test(error.message),
      );
    } finally {
      await first.stop();
      await fake.close();
    }
  });
});

/**
 * Our server next to the reference MCP memory server, `@modelcontextprotocol/server-memory` (a
 * knowledge graph kept in one JSONL file, searched by substring), side by side in one run:
 *
 *   npm run build && node dist/bench/memory-peer.js [--quick] [--items N] [--queries M]
 *
 * Every server is spawned as an MCP client would spawn it and spoken to by the SDK's `Client`
 * over stdio: the reference with MEMORY_FILE_PATH in a fresh folder; ours as `bin/memory serve
 * --stdio` twice, in its one-command default (embedded PGlite with pgvector, offline embedder,
 * in-process worker) and against an external Postgres and Chroma. The phases are the same for
 * all, and each step goes to every server in a rotating order, so that a burst of other work on
 * the machine falls on all of them alike:
 *   - store N items (1,000 by default), one call each: memory_store; create_entities with one
 *     entity holding the text as its one observation;
 *   - M queries (300 by default): memory_search and hybrid_search (include_memory) on ours,
 *     search_nodes on the reference. A third of them is a person's name, a third a phrase copied
 *     from the item, a third a question about the item in other words (the reference matches the
 *     whole query as one substring, so this is where the two ways of searching part);
 *   - read back: memory_list (its maximum page, 100) on ours, read_graph (everything) on the
 *     reference;
 *   - MCP ping, the floor of a round trip over stdio to each process.
 * To say where our time goes, each of our two setups also runs in this process, on a store of its
 * own, behind our MCP server on the SDK's in-memory transport, with the tool handler, the
 * embedder and the vector index timed apart; it takes its turn in the same rotation, so the
 * split is measured under the same conditions as the figures it explains.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { runServe } from '../src/cli/serve.js';
import { loadConfig } from '../src/config.js';
import type { MemoryType } from '../src/domain/memories.js';
import { lexicalQuery } from '../src/domain/search/lexical-query.js';
import type { Services } from '../src/domain/services.js';
import { configureLogging } from '../src/log.js';
import type { Embedder } from '../src/providers/embedder.js';
import { createMcpServer } from '../src/server/mcp.js';
import { TOOLS } from '../src/server/tools/index.js';
import type { Tool } from '../src/server/tools/registry.js';
import { lexicalMemories, memoriesById } from '../src/store/memories.js';
import type { VectorIndex } from '../src/vectors/index.js';
import { startTestChroma, type TestChroma } from '../test/helpers/chroma.js';
import { BIN, within } from '../test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/database.js';
import {
  type BenchResult,
  cleanupOnInterrupt,
  isMainModule,
  mean,
  percentile,
  runAsScript,
  sleep,
} from './result.js';

/** The reference server's entry point (as its package.json `bin` names it) and version. */
function referencePackage(): { bin: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-memory/package.json');
  const { bin, version } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    bin: Record<string, string>;
    version: string;
  };
  return { bin: join(dirname(manifest), bin['mcp-server-memory']!), version };
}
const REFERENCE = referencePackage();

// ---------------------------------------------------------------------------------------------
// The items and the queries

const FIRST = (
  'Priya Marcus Elena Tomasz Aisha Kenji Sofia Daniel Fatima Lukas Mei Oliver Nadia Rafael Ingrid ' +
  'Samuel Yara Henrik Leila Mateo Chloe Arjun Hannah Diego Zofia Kwame Irene Pablo Greta Omar Julia ' +
  'Viktor Amara Felix Noor Carmen Idris Paula Ruben Astrid Hugo Selin Tariq Wanda Emil Rosa Bilal ' +
  'Freya Jonas Lucia'
).split(' ');
const LAST = (
  'Raman Okafor Lindqvist Novak Haddad Tanaka Moreau Costa Schneider Kowalski Adeyemi Larsen Petrov ' +
  'Nakamura Alvarez Fischer Mensah Horvat Quinn Sato Dubois Ibrahim Jensen Kaur Rossi Baptiste Varga ' +
  'Ortiz Lund Brennan Silva Weber Ahmed Keller Mwangi Park Volkov Eriksen Moretti Yilmaz'
).split(' ');
const PROJECTS = (
  'Orion Atlas Juniper Beacon Cobalt Falcon Harbor Lumen Meridian Nimbus Quartz Sequoia Tundra Vertex ' +
  'Willow Zephyr Aurora Bramble Cascade Delta Ember Granite Helix Kestrel Mosaic'
).split(' ');
const SUBJECTS = [
  'billing migration',
  'search index',
  'onboarding flow',
  'mobile release',
  'payment gateway',
  'data warehouse',
  'login redesign',
  'pricing page',
  'support chatbot',
  'audit logging',
  'invoice export',
  'email digest',
  'feature flags',
  'load balancer',
  'backup policy',
  'cost dashboard',
  'partner API',
  'security review',
  'usage metering',
  'release train',
  'error budget',
  'design system',
  'access control',
  'customer survey',
  'tax engine',
  'report builder',
  'image pipeline',
  'sync service',
  'rate limiter',
  'help center',
  'trial signup',
  'forecast model',
  'queue workers',
  'admin console',
  'status page',
  'data retention',
  'refund workflow',
  'cache layer',
  'contract renewal',
  'vendor audit',
];
const MONTHS = 'January February March April May June July August September October November December'.split(
  ' ',
);
const REASONS = [
  'the vendor contract is still unsigned',
  'two engineers are on leave',
  'the security review found open issues',
  'the budget was cut this quarter',
  'legal has not approved the terms',
  'the load tests failed twice',
  'the design is still changing',
  'a customer escalation took priority',
];
const WHEN = [
  'on Tuesday mornings',
  'before the weekly standup',
  'in writing rather than in meetings',
  'at the end of each sprint',
  'asynchronously in the tracker',
];
const FORMATS = [
  'short written summaries',
  'a demo instead of slides',
  'diagrams before code',
  'a checklist per change',
  'screenshots for every step',
];
const MILESTONES = [
  'a private beta',
  'the public launch',
  'a load test',
  'an internal demo',
  'the security sign-off',
];
const TECH = [
  'Postgres and Redis',
  'a managed Kafka cluster',
  'three spot instances',
  'serverless functions',
  'a single large VM',
  'Kubernetes on two nodes',
];

const pick = <T>(list: readonly T[], i: number, salt: number): T => list[(i * salt + salt) % list.length]!;

interface Item {
  index: number;
  type: MemoryType;
  text: string;
  person: string;
  /** The project and subject together name the item (unique up to 1,000 items). */
  topic: string;
  /** A phrase copied from the text, holding the topic. */
  phrase: string;
  /** The item asked about in other words; never a substring of any item. */
  question: string;
}

/**
 * Item `i`: a person (unique up to 2,000 items) and a topic, a project and a subject (unique up
 * to 1,000), in one of four kinds of sentence, one per memory type.
 */
function item(i: number): Item {
  const first = FIRST[i % FIRST.length]!;
  const person = `${first} ${LAST[Math.floor(i / FIRST.length) % LAST.length]!}`;
  const subject = SUBJECTS[i % SUBJECTS.length]!;
  const project = PROJECTS[Math.floor(i / SUBJECTS.length) % PROJECTS.length]!;
  const topic = `${project} ${subject}`;
  const month = pick(MONTHS, i, 7);
  const kind = (i + Math.floor(i / SUBJECTS.length)) % 4;
  const base = { index: i, person, topic };
  switch (kind) {
    case 0:
      return {
        ...base,
        type: 'decision',
        text: `${person} decided to postpone the ${topic} until ${month} because ${pick(REASONS, i, 3)}.`,
        phrase: `postpone the ${topic} until ${month}`,
        question: `Why was the ${subject} for ${project} pushed back?`,
      };
    case 1:
      return {
        ...base,
        type: 'preference',
        text: `${person} prefers reviews of the ${topic} ${pick(WHEN, i, 3)}, with ${pick(FORMATS, i, 11)}.`,
        phrase: `reviews of the ${topic}`,
        question: `How does ${first} like ${subject} reviews on ${project} to be run?`,
      };
    case 2:
      return {
        ...base,
        type: 'project',
        text: `${person} owns the ${topic}; the next milestone is ${pick(MILESTONES, i, 3)} in ${month}.`,
        phrase: `owns the ${topic}`,
        question: `Who is responsible for ${subject} in ${project}, and what comes next?`,
      };
    default:
      return {
        ...base,
        type: 'fact',
        text:
          `The ${topic} runs on ${pick(TECH, i, 5)} and costs about ${200 + ((i * 37) % 50) * 100} dollars ` +
          `a month, according to ${person}.`,
        phrase: `${topic} runs on ${pick(TECH, i, 5)}`,
        question: `What is the monthly bill for ${subject} at ${project}?`,
      };
  }
}

const KINDS = ['name', 'phrase', 'question'] as const;
type Kind = (typeof KINDS)[number];

interface Query {
  kind: Kind;
  text: string;
  /** Indexes of the items that answer it: one at up to 1,000 items. */
  right: Set<number>;
}

/**
 * Query `q` asks about an item spread over the store. A name or a phrase is answered by every
 * item containing it (what a substring search promises); a question by the items of its topic.
 */
function queries(items: readonly Item[], count: number): Query[] {
  const out: Query[] = [];
  for (let q = 0; q < count; q++) {
    const target = items[(q * 7919 + 13) % items.length]!;
    const kind = KINDS[q % KINDS.length]!;
    const text = kind === 'name' ? target.person : kind === 'phrase' ? target.phrase : target.question;
    const needle = text.toLowerCase();
    const right = new Set(
      items
        .filter((it) =>
          kind === 'question' ? it.topic === target.topic : it.text.toLowerCase().includes(needle),
        )
        .map((it) => it.index),
    );
    out.push({ kind, text, right });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The servers

/** A server the bench talks to through the SDK's `Client`. */
interface Target {
  key: string;
  label: string;
  client: Client;
  stop(): Promise<void>;
  /** Ours in this process: the handler, embedder and index time of the call in flight. */
  spans?: Spans;
  /** Ours in this process: its Postgres pool. */
  sql?: Services['sql'];
}

/** Spawns `args` as an MCP client does and connects the SDK's client to it over stdio. */
async function spawnTarget(
  key: string,
  label: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<Target> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const client = new Client({ name: 'memory-peer-bench', version: '1.0.0' });
  const stop = async () => {
    const pid = transport.pid;
    await client.close().catch(() => {});
    if (pid !== null) await gone(pid);
  };
  try {
    await client.connect(transport, { timeout: 120_000 });
  } catch (error) {
    await stop();
    throw new Error(`${label} did not answer initialize:\n${stderr}`, { cause: error });
  }
  client.onerror = (error) => process.stderr.write(`${label}: ${error.message}\n${stderr}\n`);
  return { key, label, client, stop };
}

/** Resolves once process `pid` has exited; SIGKILL after 30 s. */
async function gone(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const began = performance.now();
  while (alive()) {
    if (performance.now() - began > 30_000) process.kill(pid, 'SIGKILL');
    await sleep(50);
  }
}

/** Wall time during which at least one timed call is in flight (parallel calls count once). */
class Span {
  private open = 0;
  private since = 0;
  total = 0;
  async time<T>(work: () => Promise<T>): Promise<T> {
    if (this.open++ === 0) this.since = performance.now();
    try {
      return await work();
    } finally {
      if (--this.open === 0) this.total += performance.now() - this.since;
    }
  }
}

interface Spans {
  handler: Span;
  embedding: Span;
  index: Span;
  /** Index calls of the call in flight, by method and collection ("query memory"). */
  indexCalls: Map<string, number>;
}

const TIMED_INDEX_CALLS = new Set<PropertyKey>(['upsert', 'get', 'query', 'delete', 'listIds', 'count']);

/** `services` with every embedding and every call of the vector index timed. */
function timedServices(services: Services, spans: Spans): Services {
  const inner = services.embedder;
  const embedder: Embedder = {
    space: inner.space,
    embed: (texts, purpose) => spans.embedding.time(() => inner.embed(texts, purpose)),
  };
  const vectors = new Proxy(services.vectors, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (!TIMED_INDEX_CALLS.has(property)) return method.bind(target);
      return (...args: unknown[]) => {
        const call = `${String(property)} ${String(args[0])}`;
        spans.indexCalls.set(call, (spans.indexCalls.get(call) ?? 0) + 1);
        return spans.index.time(() => method.apply(target, args));
      };
    },
  }) as VectorIndex;
  return { config: services.config, sql: services.sql, embedder, vectors };
}

/**
 * Our server in this process, started by `runServe` as `memory serve` starts in `env`'s mode, its
 * tools behind our MCP server on the SDK's in-memory transport: no pipe and no other process,
 * and the tool handler, the embedder and the vector index timed.
 */
async function inProcessTarget(key: string, label: string, env: Record<string, string>): Promise<Target> {
  const config = loadConfig({ MCP_PORT: '0', LOG_LEVEL: 'ERROR', ...env });
  configureLogging(config.logLevel);
  const server = await runServe(config);
  const spans: Spans = {
    handler: new Span(),
    embedding: new Span(),
    index: new Span(),
    indexCalls: new Map(),
  };
  const tools = TOOLS.map(
    (tool): Tool => ({
      ...tool,
      handler: (services, input) => spans.handler.time(() => tool.handler(services, input)),
    }),
  );
  const mcp = createMcpServer(timedServices(server.services, spans), tools);
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'memory-peer-bench', version: '1.0.0' });
  try {
    await mcp.connect(serverSide);
    await client.connect(clientSide);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const stop = async () => {
    await client.close().catch(() => {});
    await server.stop();
  };
  return { key, label, client, stop, spans, sql: server.services.sql };
}

// ---------------------------------------------------------------------------------------------
// What is recorded

/** Latencies and response sizes of one tool on one server. */
class Samples {
  readonly ms: number[] = [];
  readonly bytes: number[] = [];
  /** In-process targets: the handler, embedder and index time of each call. */
  readonly handler: number[] = [];
  readonly embedding: number[] = [];
  readonly index: number[] = [];
  /** In-process targets: index calls over all calls, by method and collection. */
  readonly indexCalls = new Map<string, number>();
}

/** Per query kind: how many queries had a right item in the first 5 results, and how many results came. */
class Hits {
  readonly top5 = new Map<Kind, number>(KINDS.map((kind) => [kind, 0]));
  readonly anywhere = new Map<Kind, number>(KINDS.map((kind) => [kind, 0]));
  readonly returned: number[] = [];
  add(query: Query, ranked: readonly number[]): void {
    if (ranked.slice(0, 5).some((i) => query.right.has(i)))
      this.top5.set(query.kind, this.top5.get(query.kind)! + 1);
    if (ranked.some((i) => query.right.has(i)))
      this.anywhere.set(query.kind, this.anywhere.get(query.kind)! + 1);
    this.returned.push(ranked.length);
  }
}

class Recorder {
  readonly samples = new Map<string, Samples>();
  readonly hits = new Map<string, Hits>();

  /** Calls a tool; its latency (and, in process, its parts) go under `${target.key}/${name}`. */
  async call(target: Target, name: string, args: Record<string, unknown>) {
    if (target.spans !== undefined) {
      for (const span of [target.spans.handler, target.spans.embedding, target.spans.index]) span.total = 0;
      target.spans.indexCalls.clear();
    }
    const began = performance.now();
    let result: CallToolResult;
    // A call this slow is a fault to look into while it lasts, not a figure.
    const watchdog = setTimeout(
      () => process.stderr.write(`${target.label} ${name}: no answer after 20 s\n`),
      20_000,
    );
    try {
      result = (await target.client.callTool({ name, arguments: args }, undefined, {
        timeout: 120_000,
      })) as CallToolResult;
    } catch (error) {
      throw new Error(`${target.label} ${name}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(watchdog);
    }
    const ms = performance.now() - began;
    const text = (result.content[0] as { text?: string } | undefined)?.text ?? '';
    if (result.isError) throw new Error(`${target.label} ${name}: ${text.slice(0, 500)}`);
    const samples = this.of(`${target.key}/${name}`);
    samples.ms.push(ms);
    samples.bytes.push(JSON.stringify(result).length);
    if (target.spans !== undefined) {
      samples.handler.push(target.spans.handler.total);
      samples.embedding.push(target.spans.embedding.total);
      samples.index.push(target.spans.index.total);
      for (const [call, n] of target.spans.indexCalls)
        samples.indexCalls.set(call, (samples.indexCalls.get(call) ?? 0) + n);
    }
    return (result.structuredContent ?? JSON.parse(text)) as Record<string, unknown>;
  }

  async ping(target: Target): Promise<void> {
    const began = performance.now();
    await target.client.ping();
    this.of(`${target.key}/ping`).ms.push(performance.now() - began);
  }

  score(key: string, query: Query, ranked: number[]): void {
    if (!this.hits.has(key)) this.hits.set(key, new Hits());
    this.hits.get(key)!.add(query, ranked);
  }

  of(key: string): Samples {
    if (!this.samples.has(key)) this.samples.set(key, new Samples());
    return this.samples.get(key)!;
  }
}

/** `steps` in the order that starts at `turn`, so that no server always goes first. */
async function rotated(turn: number, steps: Array<() => Promise<void>>): Promise<void> {
  for (let k = 0; k < steps.length; k++) await steps[(turn + k) % steps.length]!();
}

const MODES = [
  { mode: 'embedded', label: 'ours, embedded (PGlite + pgvector)' },
  { mode: 'external', label: 'ours, external Postgres + Chroma' },
] as const;
type Mode = (typeof MODES)[number]['mode'];
const inProcessKey = (mode: Mode) => `${mode} in process`;

interface Sizes {
  items: number;
  queries: number;
  lists: number;
  pings: number;
}

interface Run {
  recorder: Recorder;
  /** Median `select 1` on each in-process server's pool. */
  roundTripMs: Map<Mode, number>;
}

function numberArg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} expects a positive integer`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The run

/**
 * The reference and ours (embedded, external) over stdio, and ours again in this process (each on
 * a store of its own), all started first; then every step of every phase goes to all five in a
 * rotating order.
 */
async function measure(items: readonly Item[], asked: readonly Query[], sizes: Sizes): Promise<Run> {
  const recorder = new Recorder();
  const dir = mkdtempSync(join(tmpdir(), 'memory-bench-peer-'));
  const targets: Target[] = [];
  const databases: TestDatabase[] = [];
  const chromas: TestChroma[] = [];
  const stopAll = async () => {
    // A server that does not stop is reported, and the rest is still cleaned up.
    await Promise.all(
      targets.map((target) =>
        within(target.stop(), 60_000, `stopping ${target.label}`).catch((error: Error) =>
          process.stderr.write(`${error.message}\n`),
        ),
      ),
    );
    await Promise.all([...chromas.map((c) => c.destroy()), ...databases.map((d) => d.drop())]);
    rmSync(dir, { recursive: true, force: true });
  };
  const unregister = cleanupOnInterrupt(stopAll);
  try {
    const externalEnv = async () => {
      const [db, chroma] = await Promise.all([createTestDatabase(), startTestChroma()]);
      databases.push(db);
      chromas.push(chroma);
      return { EVENTS_DB_DSN: db.url, CHROMA_HOST: '127.0.0.1', CHROMA_PORT: String(chroma.port) };
    };
    mkdirSync(join(dir, 'reference'));
    const reference = await spawnTarget(
      'reference',
      `reference ${REFERENCE.version}`,
      [REFERENCE.bin],
      { MEMORY_FILE_PATH: join(dir, 'reference', 'memory.jsonl') },
      dir,
    );
    targets.push(reference);
    const serve = [BIN, 'serve', '--stdio'];
    const quiet = { LOG_LEVEL: 'ERROR' };
    targets.push(
      await spawnTarget(
        'embedded',
        MODES[0].label,
        serve,
        { ...quiet, MEMORY_DATA_DIR: join(dir, 'embedded') },
        dir,
      ),
    );
    targets.push(
      await spawnTarget('external', MODES[1].label, serve, { ...quiet, ...(await externalEnv()) }, dir),
    );
    targets.push(
      await inProcessTarget(inProcessKey('embedded'), `${MODES[0].label}, in process`, {
        MEMORY_DATA_DIR: join(dir, 'embedded-in-process'),
      }),
    );
    targets.push(
      await inProcessTarget(inProcessKey('external'), `${MODES[1].label}, in process`, {
        MEMORY_DATA_DIR: join(dir, 'external-in-process'),
        ...(await externalEnv()),
      }),
    );
    const ours = targets.filter((target) => target !== reference);

    // Warm-up on the empty stores (our first tool call waits for the database to start): not counted.
    const warmUp = new Recorder();
    for (const target of ours) {
      await warmUp.call(target, 'memory_list', { limit: 1 });
      await warmUp.call(target, 'memory_search', { query: 'warm up', limit: 5 });
      await warmUp.call(target, 'hybrid_search', { query: 'warm up', limit: 5, include_memory: true });
    }
    await warmUp.call(reference, 'read_graph', {});
    await warmUp.call(reference, 'search_nodes', { query: 'warm up' });

    // Store.
    const memoryIds = new Map<string, number>();
    for (const it of items) {
      await rotated(it.index, [
        async () => {
          await recorder.call(reference, 'create_entities', {
            entities: [{ name: `note-${it.index}`, entityType: it.type, observations: [it.text] }],
          });
        },
        ...ours.map((target) => async () => {
          const data = await recorder.call(target, 'memory_store', {
            content: it.text,
            type: it.type,
            confidence: 0.9,
          });
          memoryIds.set((data.memory as { memory_id: string }).memory_id, it.index);
        }),
      ]);
    }
    if (memoryIds.size !== items.length * ours.length) throw new Error('memory ids were not all distinct');

    // Search.
    const ofMemory = (id: string | undefined) => (id === undefined ? -1 : (memoryIds.get(id) ?? -1));
    for (const [q, query] of asked.entries()) {
      await rotated(q, [
        async () => {
          const data = await recorder.call(reference, 'search_nodes', { query: query.text });
          const entities = data.entities as Array<{ name: string }>;
          recorder.score(
            'reference/search_nodes',
            query,
            entities.map((e) => Number(e.name.slice('note-'.length))),
          );
        },
        ...ours.flatMap((target) => [
          async () => {
            const data = await recorder.call(target, 'memory_search', { query: query.text, limit: 5 });
            const memories = data.memories as Array<{ memory_id: string }>;
            recorder.score(
              `${target.key}/memory_search`,
              query,
              memories.map((m) => ofMemory(m.memory_id)),
            );
          },
          async () => {
            const data = await recorder.call(target, 'hybrid_search', {
              query: query.text,
              limit: 5,
              include_memory: true,
            });
            const results = data.results as Array<{ memory_id?: string }>;
            recorder.score(
              `${target.key}/hybrid_search`,
              query,
              results.map((r) => ofMemory(r.memory_id)),
            );
          },
        ]),
        // memory_search's own SQL, alone: BM25 over the memories, then the rows of the best 50.
        ...ours
          .filter((target) => target.sql !== undefined)
          .map((target) => async () => {
            const sql = target.sql!;
            const began = performance.now();
            const hits = await lexicalMemories(sql, lexicalQuery(query.text), { limit: 50 });
            await memoriesById(
              sql,
              hits.map((hit) => hit.id),
              { minConfidence: 0 },
            );
            recorder.of(`${target.key}/memory_search SQL`).ms.push(performance.now() - began);
          }),
      ]);
    }

    // Read back.
    for (let l = 0; l < sizes.lists; l++) {
      await rotated(l, [
        async () => {
          const data = await recorder.call(reference, 'read_graph', {});
          if ((data.entities as unknown[]).length !== items.length)
            throw new Error('read_graph did not return every item');
        },
        ...ours.map((target) => async () => {
          const data = await recorder.call(target, 'memory_list', { limit: 100 });
          if (data.total !== items.length)
            throw new Error(`${target.label}: memory_list total ${data.total}`);
        }),
      ]);
    }

    // The round-trip floor.
    for (let p = 0; p < sizes.pings; p++) {
      await rotated(
        p,
        targets.map((target) => () => recorder.ping(target)),
      );
    }
    const roundTripMs = new Map<Mode, number>();
    for (const { mode } of MODES) {
      const sql = targets.find((target) => target.key === inProcessKey(mode))!.sql!;
      const trips: number[] = [];
      for (let p = 0; p < sizes.pings; p++) {
        const began = performance.now();
        await sql`select 1`;
        trips.push(performance.now() - began);
      }
      roundTripMs.set(mode, percentile(trips, 0.5));
    }
    return { recorder, roundTripMs };
  } finally {
    await stopAll();
    unregister();
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

const OPERATIONS: Array<{ operation: string; reference: string; ours: string }> = [
  { operation: 'store one item', reference: 'create_entities', ours: 'memory_store' },
  { operation: 'search', reference: 'search_nodes', ours: 'memory_search' },
  { operation: 'search', reference: 'search_nodes', ours: 'hybrid_search' },
  { operation: 'read back', reference: 'read_graph', ours: 'memory_list' },
  { operation: 'MCP ping (round-trip floor)', reference: 'ping', ours: 'ping' },
];

function latencyTable({ recorder }: Run, sizes: Sizes): BenchResult {
  const rows: BenchResult['rows'] = [];
  for (const { operation, reference, ours } of OPERATIONS) {
    const theirs = recorder.of(`reference/${reference}`);
    const theirP50 = percentile(theirs.ms, 0.5);
    const theirP95 = percentile(theirs.ms, 0.95);
    const row = (server: string, tool: string, s: Samples) => ({
      operation,
      server,
      tool,
      calls: s.ms.length,
      'p50 ms': round(percentile(s.ms, 0.5), 2),
      'p95 ms': round(percentile(s.ms, 0.95), 2),
      'p50 ÷ reference': round(percentile(s.ms, 0.5) / theirP50, 2),
      'p95 ÷ reference': round(percentile(s.ms, 0.95) / theirP95, 2),
      'response KB': tool === 'ping' ? '' : round(mean(s.bytes) / 1024, 1),
    });
    // The hybrid_search row compares with the same search_nodes samples as the row above it.
    if (ours !== 'hybrid_search') rows.push(row(`reference ${REFERENCE.version}`, reference, theirs));
    for (const { mode, label } of MODES) rows.push(row(label, ours, recorder.of(`${mode}/${ours}`)));
  }
  return {
    name: `side by side over MCP stdio: ${sizes.items} items, ${sizes.queries} queries, ${sizes.lists} read-backs`,
    rows,
    notes: [
      'each step went to every server in a rotating order; latency is the MCP client call, spawn and start excluded (warm-up calls first)',
      'store: memory_store (offline embedder) vs create_entities with one entity holding the text as its observation; the reference reads and rewrites its whole file on every call, so its cost grows with the store',
      'search: every query went to all (memory_search and hybrid_search with include_memory, limit 5, on ours; search_nodes on the reference); the reference row serves both',
      `read back: memory_list limit 100 (its maximum) vs read_graph, which returns all ${sizes.items} items: not the same amount of data (response KB)`,
      'response KB: the whole CallToolResult as JSON (text content and structuredContent), mean per call',
    ],
  };
}

function qualityTable({ recorder }: Run, asked: readonly Query[], items: readonly Item[]): BenchResult {
  const perKind = new Map<Kind, number>(
    KINDS.map((kind) => [kind, asked.filter((q) => q.kind === kind).length]),
  );
  const servers: Array<[string, string, string]> = [
    ['reference/search_nodes', `reference ${REFERENCE.version}`, 'search_nodes'],
    ...MODES.flatMap(
      ({ mode, label }): Array<[string, string, string]> => [
        [`${mode}/memory_search`, label, 'memory_search'],
        [`${mode}/hybrid_search`, label, 'hybrid_search'],
      ],
    ),
  ];
  const rows = servers.map(([key, server, tool]) => {
    const hits = recorder.hits.get(key)!;
    const row: Record<string, string | number> = { server, tool };
    for (const kind of KINDS)
      row[`${kind}: right item in first 5`] = round(hits.top5.get(kind)! / perKind.get(kind)!, 2);
    row['results per query'] = round(mean(hits.returned), 1);
    return row;
  });
  const reference = recorder.hits.get('reference/search_nodes')!;
  const beyondFive = KINDS.map((kind) => reference.anywhere.get(kind)! - reference.top5.get(kind)!).reduce(
    (a, b) => a + b,
    0,
  );
  const example = (kind: Kind) => asked.find((q) => q.kind === kind)!;
  const exampleItem = items[[...example('question').right][0]!]!;
  return {
    name: 'search quality: is a right item among the first 5 results?',
    rows,
    notes: [
      `${asked.length} queries, a third of each kind; right items per query: ${round(mean(asked.map((q) => q.right.size)), 2)} on average`,
      `name: a person's full name, e.g. "${example('name').text}"; phrase: words copied from the item, e.g. "${example('phrase').text}"`,
      `question: the item asked about in other words, sharing its project and subject words but not its sentence, e.g. "${example('question').text}" for "${exampleItem.text}"`,
      'the reference returns every entity whose name, type or an observation contains the whole query (case-insensitive), unranked, in file order; ours rank by BM25 and the offline embedder, fused, and return 5',
      `reference: queries whose right item came only after its first 5 results: ${beyondFive}`,
    ],
  };
}

function breakdownTable({ recorder, roundTripMs }: Run): BenchResult {
  const rows: BenchResult['rows'] = [];
  for (const { mode, label } of MODES) {
    for (const tool of ['memory_store', 'memory_search', 'hybrid_search', 'memory_list', 'ping']) {
      const overStdio = mean(recorder.of(`${mode}/${tool}`).ms);
      const inProcess = recorder.of(`${inProcessKey(mode)}/${tool}`);
      const mcp = mean(inProcess.ms);
      const handler = tool === 'ping' ? 0 : mean(inProcess.handler);
      const embedding = tool === 'ping' ? 0 : mean(inProcess.embedding);
      const index = tool === 'ping' ? 0 : mean(inProcess.index);
      rows.push({
        server: label,
        tool,
        'over stdio ms': round(overStdio, 2),
        'in process ms': round(mcp, 2),
        'embedding ms': round(embedding, 2),
        'vector index ms': round(index, 2),
        'Postgres + domain code ms': round(handler - embedding - index, 2),
        'MCP SDK, validation, JSON ms': round(mcp - handler, 2),
        'stdio + other process ms': round(overStdio - mcp, 2),
        'index calls per call': [...inProcess.indexCalls]
          .map(([call, n]) => `${call} ${round(n / inProcess.ms.length, 2)}`)
          .join(', '),
      });
    }
  }
  return {
    name: 'where our time goes (means per call, same run)',
    rows,
    notes: [
      'in process: our server started by runServe in the bench process (a store of its own, same setup), behind our MCP server on the SDK in-memory transport, called in the same rotation as the servers over stdio',
      'embedding and vector index: wall time while an embedding or an index call was in flight (parallel calls counted once); in embedded mode the index is pgvector in the same PGlite, so its SQL is in the index column',
      'Postgres + domain code: the rest of the tool handler; MCP SDK, validation, JSON: in process minus the handler (both sides of the SDK); stdio + other process: over stdio minus in process',
      `Postgres round trip (\`select 1\`, median): embedded ${round(roundTripMs.get('embedded')!, 2)} ms, external ${round(roundTripMs.get('external')!, 2)} ms`,
      `memory_search's two SQL statements alone (BM25 over the memories, then the rows of the best 50), timed in the same rotation, mean: ${MODES.map(({ mode }) => `${mode} ${round(mean(recorder.of(`${inProcessKey(mode)}/memory_search SQL`).ms), 2)} ms`).join(', ')}`,
      'means, not medians, so that the parts add up',
    ],
  };
}

export async function run(options: { quick: boolean }): Promise<BenchResult[]> {
  const sizes: Sizes = {
    items: numberArg('--items', options.quick ? 100 : 1000),
    queries: numberArg('--queries', options.quick ? 30 : 300),
    lists: options.quick ? 10 : 50,
    pings: options.quick ? 50 : 200,
  };
  const items = Array.from({ length: sizes.items }, (_, i) => item(i));
  const asked = queries(items, sizes.queries);
  const result = await measure(items, asked, sizes);
  return [latencyTable(result, sizes), qualityTable(result, asked, items), breakdownTable(result)];
}

if (isMainModule(import.meta.url)) await runAsScript(run);

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { freePort } from '../src/embedded/chroma-server.js';
import { openPglite } from '../src/embedded/pglite.js';
import { BIN, exitOf, runCli, SLOW_MS, stopChild, within } from './helpers/cli.js';
import { callTool, connectClient } from './helpers/server.js';
import { eventually } from './helpers/worker.js';

const NOTE = 'Pricing review, March 3.\nWe decided to adopt freemium pricing for the starter plan.';

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' });
  return out
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter(([, parent]) => parent === pid)
    .map(([child]) => child!);
}

interface Served {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/**
 * The real binary, from an empty folder, with an empty environment but for PATH and the port.
 * The child goes into `children` at once, so the after hook kills it even when it never answers.
 */
async function serveIn(dir: string, port: number, children: ChildProcess[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    // A fresh HOME: with no MEMORY_DATA_DIR and no ./.memory, the data goes to its per-user folder.
    env: { PATH: process.env.PATH ?? '', HOME: dir, MCP_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = exitOf(child);
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`serve exited early:\n${output}`);
      const ok = await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      );
      return ok ? true : undefined;
    },
    2 * SLOW_MS,
    'the embedded server to answer /health',
  );
  return { child, url, output: () => output, exited };
}

async function waitForEvents(client: Client, artifactUid: string): Promise<void> {
  await eventually(
    async () => {
      const status = await callTool(client, 'job_status', { artifact_uid: artifactUid });
      const job = status.data.job as { status: string } | undefined;
      if (job?.status === 'FAILED') throw new Error(JSON.stringify(status.data));
      return job?.status === 'DONE' ? true : undefined;
    },
    SLOW_MS,
    'the extraction job',
  );
}

async function assertDecisionFound(client: Client): Promise<string> {
  const found = await callTool(client, 'event_search', { query: 'decision about pricing' });
  const events = found.data.events as Array<{
    event_id: string;
    category: string;
    evidence: Array<{ start_char: number; end_char: number; quote: string }>;
  }>;
  const decision = events.find((event) => event.category === 'Decision');
  assert.ok(decision, JSON.stringify(found.data));
  assert.ok(decision.evidence.length >= 1);
  for (const evidence of decision.evidence)
    assert.equal(NOTE.slice(evidence.start_char, evidence.end_char), evidence.quote);
  return decision.event_id;
}

describe('zero setup: memory serve with no services at all', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'memory-embedded-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    // Killed and awaited on every path: a `memory serve` left running keeps this test file's
    // process alive, and the whole run waits for it (a CI run once hung 22 minutes on one).
    await Promise.all(children.map((child) => stopChild(child, 'SIGKILL')));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('HTTP: ingest a note, the in-process worker extracts, the event is found with its evidence; data survives a restart', async () => {
    const dir = tempDir();
    const port = await freePort();
    const first = await serveIn(dir, port, children);
    const client = await connectClient(`${first.url}/mcp/`);
    const ingest = await callTool(client, 'artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      source_id: 'pricing-1',
      content: NOTE,
      ts: '2025-03-03T10:00:00Z',
    });
    assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
    await callTool(client, 'memory_store', {
      content: 'Prefers dark mode',
      type: 'preference',
      confidence: 0.8,
    });
    await waitForEvents(client, String(ingest.data.artifact_uid));
    const eventId = await assertDecisionFound(client);
    await client.close();

    const check = await runCli(['check', '--service', 'all'], { HOME: dir }, dir);
    assert.equal(check.code, 0, check.stdout);
    assert.match(
      check.stdout,
      /^mcp-server: ok \(offline: local\/hashed-ngrams-v1 embedder and rules extractor/m,
    );
    assert.match(check.stdout, /^chroma: ok \(no Chroma: vectors in Postgres with pgvector\)/m);
    const dataDir = join(dir, '.local', 'share', 'memory-mcp-server');
    assert.match(check.stdout, new RegExp(`^data: ${dataDir}$`, 'm'), 'memory check says where the data is');
    assert.ok(first.output().includes(dataDir), 'the start-up log says where the data is');
    assert.ok(existsSync(join(dataDir, 'pg')), 'the database is in the per-user data folder');
    assert.ok(!existsSync(join(dir, '.memory')), 'nothing is written to the working directory');
    // One process: the database and the vectors run inside it.
    assert.deepEqual(childrenOf(first.child.pid!), [], 'the server runs no child process');

    first.child.kill('SIGTERM');
    assert.equal(await within(first.exited, SLOW_MS, 'serve to exit on SIGTERM'), 0, first.output());

    const second = await serveIn(dir, port, children);
    const again = await connectClient(`${second.url}/mcp/`);
    const got = await callTool(again, 'artifact_get', {
      artifact_id: ingest.data.artifact_id,
      include_content: true,
    });
    assert.equal(got.data.content, NOTE);
    const event = await callTool(again, 'event_get', { event_id: eventId });
    assert.equal(event.isError, false);
    const job = await callTool(again, 'job_status', { artifact_uid: ingest.data.artifact_uid });
    assert.equal((job.data.job as { status: string }).status, 'DONE');
    const memories = await callTool(again, 'memory_list', {});
    assert.equal(memories.data.total, 1);
    const search = await callTool(again, 'hybrid_search', { query: 'freemium pricing' });
    assert.equal(
      (search.data.results as Array<{ artifact_id?: string }>)[0]?.artifact_id,
      ingest.data.artifact_id,
    );
    await again.close();

    // A second instance on the same folder is refused at once, naming the running process.
    const refused = await runCli(['serve'], { HOME: dir, MCP_PORT: String(await freePort()) }, dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`another memory server \\(pid ${second.child.pid}`));

    // A taken port is refused before anything starts, naming MCP_PORT.
    const taken = await runCli(
      ['serve'],
      { HOME: dir, MEMORY_DATA_DIR: join(dir, 'other'), MCP_PORT: String(port) },
      dir,
    );
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /cannot listen on 127\.0\.0\.1:\d+ \(the port is already in use\).*MCP_PORT/);
    assert.ok(!existsSync(join(dir, 'other')), 'no service started for a taken port');

    second.child.kill('SIGKILL');
    await second.exited;
  });

  test('a data folder whose vectors were in Chroma: rebuilt from Postgres on the first start, once', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dataDir = join(dir, '.local', 'share', 'memory-mcp-server');
    const first = await serveIn(dir, port, children);
    const client = await connectClient(`${first.url}/mcp/`);
    const ingest = await callTool(client, 'artifact_ingest', {
      artifact_type: 'note',
      source_system: 'manual',
      source_id: 'pricing-1',
      content: NOTE,
    });
    assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
    await client.close();
    first.child.kill('SIGTERM');
    assert.equal(await within(first.exited, SLOW_MS, 'serve to exit'), 0, first.output());

    // As a folder from before: the artifacts in Postgres, the vectors in a Chroma folder.
    const db = await openPglite(join(dataDir, 'pg'));
    await db.exec(
      'drop table vector_memory, vector_history, vector_artifacts, vector_artifact_chunks, vector_collection',
    );
    await db.close();
    mkdirSync(join(dataDir, 'chroma'));

    const second = await serveIn(dir, port, children);
    await eventually(
      async () => (/Vectors rebuilt: 1 artifacts/.test(second.output()) ? true : undefined),
      SLOW_MS,
      'the rebuild to finish',
    );
    assert.match(second.output(), /rebuilding them in PGlite/);
    assert.ok(existsSync(join(dataDir, 'vectors-rebuilt.json')));
    const again = await connectClient(`${second.url}/mcp/`);
    const search = await callTool(again, 'hybrid_search', { query: 'freemium pricing for the starter plan' });
    const [top] = search.data.results as Array<{ artifact_id?: string; channels: Record<string, unknown> }>;
    assert.equal(top?.artifact_id, ingest.data.artifact_id);
    // A small artifact is its own single passage: its vector votes in the passage channel.
    assert.ok(top?.channels.chunk_vectors !== undefined, 'found by its rebuilt vector');
    await again.close();
    second.child.kill('SIGTERM');
    assert.equal(await within(second.exited, SLOW_MS, 'serve to exit'), 0, second.output());

    const third = await serveIn(dir, port, children);
    assert.doesNotMatch(third.output(), /rebuilding/i, 'once');
    third.child.kill('SIGTERM');
    await within(third.exited, SLOW_MS, 'serve to exit');
  });

  test('stdio: the same through a spawned `memory serve --stdio`, nothing but protocol on stdout', async () => {
    const dir = tempDir();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'serve', '--stdio'],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const client = new Client({ name: 'memory-tests', version: '1.0.0' });
    try {
      // Inside the try: a connect that fails or times out must still close the transport, which
      // ends the spawned `memory serve --stdio` (stdin closed, then SIGTERM, then SIGKILL).
      // `initialize` is answered before the embedded database starts; tool calls wait for it.
      await client.connect(transport, { timeout: 2 * SLOW_MS });
      const { tools } = await client.listTools();
      assert.equal(tools.length, 18);
      const ingest = await callTool(client, 'artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        content: NOTE,
      });
      assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
      await waitForEvents(client, String(ingest.data.artifact_uid));
      await assertDecisionFound(client);
      assert.match(stderr, /MCP over stdio ready/, 'logs go to stderr');
    } finally {
      await client.close();
    }
  });
});

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { freePort } from '../src/embedded/chroma-server.js';
import { BIN, exitOf, runCli, SLOW_MS, stopChild, within } from './helpers/cli.js';
import { callTool, connectClient } from './helpers/server.js';
import { eventually } from './helpers/worker.js';

const NOTE = 'Pricing review, March 3.\nWe decided to adopt freemium pricing for the starter plan.';

/** Chroma processes (and their supervisors) whose data lives under `dir`. */
function chromaProcesses(dir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('chromadb') && line.includes(dir))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
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
    env: { PATH: process.env.PATH ?? '', MCP_PORT: String(port) },
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

    const check = await runCli(['check', '--service', 'all'], {}, dir);
    assert.equal(check.code, 0, check.stdout);
    assert.match(
      check.stdout,
      /^mcp-server: ok \(offline: local\/hashed-ngrams-v1 embedder and rules extractor/m,
    );

    first.child.kill('SIGTERM');
    assert.equal(await within(first.exited, SLOW_MS, 'serve to exit on SIGTERM'), 0, first.output());
    assert.deepEqual(chromaProcesses(dir), [], 'no Chroma left after SIGTERM');

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
    const refused = await runCli(['serve'], { MCP_PORT: String(await freePort()) }, dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`another memory server \\(pid ${second.child.pid}`));

    // SIGKILL of the parent leaves no Chroma behind either.
    second.child.kill('SIGKILL');
    await second.exited;
    await eventually(
      async () => (chromaProcesses(dir).length === 0 ? true : undefined),
      SLOW_MS,
      'Chroma to stop',
    );
  });

  test('stdio: the same through a spawned `memory serve --stdio`, nothing but protocol on stdout', async () => {
    const dir = tempDir();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [BIN, 'serve', '--stdio'],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
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
      // `initialize` is answered once the embedded Postgres and Chroma are up: 15 s on a busy
      // machine, more than the SDK's default 60 s request timeout with the suite's load on top.
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
    await eventually(
      async () => (chromaProcesses(dir).length === 0 ? true : undefined),
      SLOW_MS,
      'Chroma to stop',
    );
  });
});

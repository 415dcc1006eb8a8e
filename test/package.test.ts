/**
 * The install path of a new user: `npm pack`, the tarball installed into an empty folder, and the
 * installed `memory-mcp-server serve --stdio` started the way Claude Desktop or Cursor start it,
 * from a working directory of their choosing, with a fresh HOME and nothing configured.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { exitOf, SLOW_MS, stopChild, within } from './helpers/cli.js';
import { callTool } from './helpers/server.js';
import { eventually } from './helpers/worker.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Installing pulls the dependencies from the registry: minutes on a slow link. */
const INSTALL_MS = 15 * 60_000;

const NOTE = 'Pricing review, March 3.\nWe decided to adopt freemium pricing for the starter plan.';

/** Processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'));
}

describe('the packed tarball, installed and started over stdio like an MCP client does', () => {
  let work: string;
  let bin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'memory-package-'));
    // The build is done (npm test builds first); packing must not rebuild under running tests.
    const packed = execFileSync(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const [info] = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((file) => file.path);
    for (const needed of [
      'bin/memory',
      'dist/src/cli/main.js',
      'dist/pglite-template.tar.gz',
      'sql/001_artifact_revision.sql',
    ]) {
      assert.ok(files.includes(needed), `the tarball carries ${needed}`);
    }
    assert.ok(!files.some((path) => path.startsWith('dist/test/')), 'no tests in the tarball');
    const project = join(work, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "private": true }\n');
    await promisify(execFile)(
      NPM,
      ['install', '--no-audit', '--no-fund', '--omit=dev', join(work, info!.filename)],
      { cwd: project, timeout: INSTALL_MS, maxBuffer: 64 * 1024 * 1024 },
    );
    bin = join(project, 'node_modules', '.bin', 'memory-mcp-server');
    assert.ok(existsSync(bin), 'the package-named bin is installed');
  });

  after(async () => {
    await Promise.all(children.map((child) => stopChild(child, 'SIGKILL')));
    if (work === undefined) return;
    // Servers spawned by the SDK transport stop on their own once their stdin closed; their
    // folders are removed after they are gone (a stopping server still writes to them).
    await eventually(
      async () => (processesMentioning(work).length === 0 ? true : undefined),
      SLOW_MS,
      'the installed servers to exit',
    ).catch(() => {
      for (const line of processesMentioning(work))
        process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    });
    rmSync(work, { recursive: true, force: true });
  });

  /** A fresh HOME and a working directory the client chose. */
  function freshUser(name: string): { home: string; cwd: string } {
    const home = join(work, `${name}-home`);
    const cwd = join(work, `${name}-cwd`);
    mkdirSync(home);
    mkdirSync(cwd);
    return { home, cwd };
  }

  test('initialize, tools/list, memory_store + memory_search, artifact_ingest + its event; stdin closed ends it all', async () => {
    const { home, cwd } = freshUser('ok');
    const transport = new StdioClientTransport({
      command: bin,
      args: ['serve', '--stdio'],
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: home },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const client = new Client({ name: 'memory-package-test', version: '1.0.0' });
    let pid: number | null = null;
    try {
      await client.connect(transport, { timeout: SLOW_MS });
      pid = transport.pid;
      const { tools } = await client.listTools();
      assert.equal(tools.length, 18);

      const stored = await callTool(client, 'memory_store', {
        content: 'The user prefers dark mode in every editor',
        type: 'preference',
        confidence: 0.9,
      });
      assert.equal(stored.isError, false, JSON.stringify(stored.data));
      const found = await callTool(client, 'memory_search', { query: 'dark mode editor' });
      const memories = found.data.memories as Array<{ content: string }>;
      assert.equal(
        memories[0]?.content,
        'The user prefers dark mode in every editor',
        JSON.stringify(found.data),
      );

      const ingest = await callTool(client, 'artifact_ingest', {
        artifact_type: 'note',
        source_system: 'manual',
        content: NOTE,
      });
      assert.equal(ingest.isError, false, JSON.stringify(ingest.data));
      await eventually(
        async () => {
          const status = await callTool(client, 'job_status', { artifact_uid: ingest.data.artifact_uid });
          const job = status.data.job as { status: string } | undefined;
          if (job?.status === 'FAILED') throw new Error(JSON.stringify(status.data));
          return job?.status === 'DONE' ? true : undefined;
        },
        SLOW_MS,
        'the in-process worker to extract the note',
      );
      const events = await callTool(client, 'event_search', { query: 'decision about pricing' });
      const decision = (events.data.events as Array<{ category: string }>).find(
        (e) => e.category === 'Decision',
      );
      assert.ok(decision, JSON.stringify(events.data));

      // The data went to the per-user data folder, not to the client's working directory.
      assert.ok(existsSync(join(home, '.local', 'share', 'memory-mcp-server', 'pg')), stderr);
      assert.deepEqual(readdirSync(cwd), []);
    } finally {
      await client.close();
    }
    assert.match(stderr, /stdin closed: stopping/, 'the server stopped because its stdin closed');
    assert.ok(pid !== null);
    await eventually(
      async () => (processesMentioning(work).length === 0 ? true : undefined),
      SLOW_MS,
      'no process of the installed package to be left',
    );
  });

  test('a data folder that cannot be made: initialize answers, tools say why, the process exits 1', async () => {
    const { home, cwd } = freshUser('fail');
    const blocker = join(home, 'a-file');
    writeFileSync(blocker, 'not a folder\n');
    const dataDir = join(blocker, 'data');

    // Through the SDK client: the tool error.
    const transport = new StdioClientTransport({
      command: bin,
      args: ['serve', '--stdio'],
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: home, MEMORY_DATA_DIR: dataDir },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'memory-package-test', version: '1.0.0' });
    try {
      await client.connect(transport, { timeout: SLOW_MS });
      const { tools } = await client.listTools();
      assert.equal(tools.length, 18);
      const stored = await callTool(client, 'memory_store', { content: 'x', type: 'fact', confidence: 1 });
      assert.equal(stored.isError, true);
      const error = stored.data.error as { code: string; message: string };
      assert.equal(error.code, 'STARTUP_FAILED');
      assert.match(error.message, /cannot use the data folder .*a-file\/data.*MEMORY_DATA_DIR/);
    } catch (error) {
      // The process may already have exited after its grace period on a very slow machine: the
      // connection then closed, which is an exit too, not a hang.
      if (!/closed/i.test(String(error))) throw error;
    } finally {
      await client.close();
    }

    // A plain spawn with stdin held open: the exit code, without any client closing anything.
    const child = spawn(bin, ['serve', '--stdio'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: home, MEMORY_DATA_DIR: dataDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await within(exitOf(child), SLOW_MS, 'the failed server to exit');
    assert.equal(code, 1, stderr);
    assert.match(stderr, /cannot use the data folder .*not a directory.*MEMORY_DATA_DIR/);
  });
});

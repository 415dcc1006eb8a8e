/**
 * `memory work` loads no server code: the worker is what scales out, and it should start fast
 * and carry nothing it does not use. A real `bin/memory work` runs with a module-resolution hook
 * that records every module Node loads (static and dynamic imports alike), until the worker has
 * started and is stopped.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { BIN } from './helpers/cli.js';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';

const SERVER_PACKAGES = [
  '/node_modules/hono/',
  '/node_modules/@hono/',
  '/node_modules/@modelcontextprotocol/',
  '/node_modules/prom-client/',
  '/node_modules/chromadb/',
];

describe('memory work: what it loads', () => {
  let db: TestDatabase;
  let dir: string;

  before(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'memory-imports-'));
  });
  after(async () => {
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a running worker has loaded no HTTP, MCP, metrics or Chroma module', async () => {
    const log = join(dir, 'modules.txt');
    writeFileSync(log, '');
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      [
        "import { appendFileSync } from 'node:fs';",
        'export async function resolve(specifier, context, next) {',
        '  const result = await next(specifier, context);',
        `  appendFileSync(${JSON.stringify(log)}, result.url + '\\n');`,
        '  return result;',
        '}',
      ].join('\n'),
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
    );

    const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, BIN, 'work'], {
      env: {
        PATH: process.env.PATH ?? '',
        EVENTS_DB_DSN: db.url,
        WORKER_ID: 'imports',
        LOG_LEVEL: 'INFO',
      },
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolveExit) =>
      child.once('exit', (code) => resolveExit(code)),
    );
    let output = '';
    try {
      await new Promise<void>((resolveStart, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Worker started')) resolveStart();
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', () => reject(new Error(`memory work exited before starting:\n${output}`)));
      });
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }

    const modules = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    assert.ok(
      modules.some((url) => url.endsWith('/dist/src/worker/worker.js')),
      'the hook saw the worker module load',
    );
    const server = modules.filter(
      (url) => SERVER_PACKAGES.some((pkg) => url.includes(pkg)) || url.includes('/dist/src/server/'),
    );
    assert.deepEqual([...new Set(server)], [], 'memory work loaded server modules');
  });
});

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, platformDataDirectory, redactUrl, withDotEnv } from '../src/config.js';
import { runCli } from './helpers/cli.js';

describe('configuration', () => {
  test('defaults follow the specification', () => {
    const config = loadConfig({});
    assert.equal(config.openai.embedModel, 'text-embedding-3-large');
    assert.equal(config.openai.embedDims, 3072);
    assert.equal(config.openai.eventModel, 'gpt-4o-mini');
    assert.equal(config.openai.timeoutMs, 30_000);
    assert.equal(config.openai.maxRetries, 3);
    assert.equal(config.openai.batchSize, 100);
    assert.equal(config.databaseUrl, undefined);
    assert.deepEqual(config.postgres, { db: 'events', user: 'events', password: 'events' });
    assert.equal(config.chroma.host, undefined);
    assert.equal(config.chroma.port, 8000);
    assert.equal(config.mcp.port, 3000);
    assert.equal(config.mcp.host, '127.0.0.1');
    assert.equal(config.logLevel, 'INFO');
    assert.equal(config.worker.pollIntervalMs, 1000);
    assert.equal(config.worker.maxAttempts, 5);
    assert.equal(config.worker.concurrency, 4);
    assert.equal(loadConfig({ WORKER_CONCURRENCY: '16' }).worker.concurrency, 16);
    assert.equal(config.worker.leaseSeconds, 30);
    assert.match(config.worker.id, /-\d+$/);
    assert.deepEqual(config.chunking, { singlePieceMaxTokens: 1200, targetTokens: 900, overlapTokens: 100 });
    assert.equal(config.rrfConstant, 60);
    assert.equal(config.embeddingProvider, 'local');
    assert.equal(config.eventExtractor, 'rules');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.openai));
  });

  test('data folder: MEMORY_DATA_DIR, else an existing ./.memory, else the per-user data folder', () => {
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), 'memory-config-'));
    process.chdir(dir);
    try {
      const home = '/home/someone';
      assert.equal(
        loadConfig({ HOME: home }).dataDir,
        platformDataDirectory({ HOME: home }, process.platform),
      );
      assert.equal(
        platformDataDirectory({ HOME: home }, 'linux'),
        '/home/someone/.local/share/memory-mcp-server',
      );
      assert.equal(
        platformDataDirectory({ HOME: home, XDG_DATA_HOME: '/data/xdg' }, 'linux'),
        '/data/xdg/memory-mcp-server',
      );
      assert.equal(
        platformDataDirectory({ HOME: home, XDG_DATA_HOME: 'relative/xdg' }, 'linux'),
        '/home/someone/.local/share/memory-mcp-server',
        'a relative XDG_DATA_HOME is ignored',
      );
      assert.equal(
        platformDataDirectory({ HOME: '/Users/someone' }, 'darwin'),
        '/Users/someone/Library/Application Support/memory-mcp-server',
      );
      assert.equal(
        platformDataDirectory({ HOME: home, APPDATA: '/c/Users/someone/AppData/Roaming' }, 'win32'),
        '/c/Users/someone/AppData/Roaming/memory-mcp-server',
      );
      assert.equal(loadConfig({ HOME: home, MEMORY_DATA_DIR: 'here' }).dataDir, resolve(dir, 'here'));
      // A checkout that already has ./.memory keeps using it.
      mkdirSync(join(dir, '.memory'));
      assert.equal(loadConfig({ HOME: home }).dataDir, join(realpathSync(dir), '.memory'));
      assert.equal(loadConfig({ HOME: home, MEMORY_DATA_DIR: '/elsewhere' }).dataDir, '/elsewhere');
    } finally {
      process.chdir(cwd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a key or base URL switches to the OpenAI embedder and LLM extractor', () => {
    const withKey = loadConfig({ OPENAI_API_KEY: 'sk-test' });
    assert.equal(withKey.embeddingProvider, 'openai');
    assert.equal(withKey.eventExtractor, 'llm');
    const withBase = loadConfig({
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      EMBEDDING_PROVIDER: 'local',
    });
    assert.equal(withBase.embeddingProvider, 'local');
    assert.equal(withBase.eventExtractor, 'llm');
  });

  const invalid: Array<[Record<string, string>, string, RegExp]> = [
    [{ MCP_PORT: 'abc' }, 'MCP_PORT', /integer from 0 to 65535/],
    [{ MCP_PORT: '70000' }, 'MCP_PORT', /integer/],
    [{ OPENAI_EMBED_DIMS: '0' }, 'OPENAI_EMBED_DIMS', /integer from 1/],
    [{ OPENAI_TIMEOUT: 'soon' }, 'OPENAI_TIMEOUT', /seconds/],
    [{ LOG_LEVEL: 'LOUD' }, 'LOG_LEVEL', /DEBUG, INFO, WARN, ERROR/],
    [{ EVENTS_DB_DSN: 'mysql://x' }, 'EVENTS_DB_DSN', /postgres:\/\//],
    [{ OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL', /URL/],
    [{ CHUNK_TARGET_TOKENS: '100', CHUNK_OVERLAP_TOKENS: '100' }, 'CHUNK_OVERLAP_TOKENS', /fewer tokens/],
    [{ EVENT_EXTRACTOR: 'llm' }, 'EVENT_EXTRACTOR', /OPENAI_API_KEY/],
    [{ MCP_ALLOWED_ORIGINS: 'example.com' }, 'MCP_ALLOWED_ORIGINS', /origins/],
    [{ CHROMA_HOST: 'bad host/' }, 'CHROMA_HOST', /host name/],
    [{ WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY', /integer from 1 to 64/],
    [{ WORKER_CONCURRENCY: '65' }, 'WORKER_CONCURRENCY', /integer from 1 to 64/],
    [{ WORKER_CONCURRENCY: '2.5' }, 'WORKER_CONCURRENCY', /integer from 1 to 64/],
  ];
  for (const [env, variable, expected] of invalid) {
    test(`rejects ${JSON.stringify(env)} naming ${variable}`, () => {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.variable === variable &&
          error.message.startsWith(`${variable}=`) &&
          expected.test(error.message) &&
          !error.message.includes('\n'),
      );
    });
  }

  test('never echoes a DSN password in an error', () => {
    assert.throws(
      () => loadConfig({ EVENTS_DB_DSN: 'mysql://user:hunter2@db/x' }),
      (error: Error) => !error.message.includes('hunter2') && error.message.includes('***'),
    );
    assert.equal(redactUrl('postgres://u:p%40ss@h:5432/db'), 'postgres://u:***@h:5432/db');
  });

  test('.env is read when present and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'memory-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'MCP_PORT=4000\nLOG_LEVEL=DEBUG\n# comment\n');
    const config = loadConfig(withDotEnv({ LOG_LEVEL: 'WARN' }, file));
    assert.equal(config.mcp.port, 4000);
    assert.equal(config.logLevel, 'WARN');
  });

  test('the binary exits 2 with one line naming the variable', async () => {
    const result = await runCli(['check', '--service', 'postgres'], { MCP_PORT: 'abc' });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /MCP_PORT="abc" is invalid: expected an integer/);
  });
});

describe('command line', () => {
  test('--help lists migrate and check', async () => {
    const result = await runCli(['--help'], {});
    assert.equal(result.code, 0);
    assert.match(result.stdout, /migrate/);
    assert.match(result.stdout, /check/);
  });

  test('an unknown command prints usage and exits 2', async () => {
    const result = await runCli(['frobnicate'], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'frobnicate'/);
    assert.match(result.stderr, /Usage: memory/);
  });

  test('an invalid --service value exits 2', async () => {
    const result = await runCli(['check', '--service', 'redis'], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Allowed choices are all, mcp-server, worker, postgres, chroma/);
  });
});

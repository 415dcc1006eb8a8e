/**
 * The deployment files (Dockerfile, compose.yaml, .env.example, scripts/backup.sh and restore.sh)
 * checked without a Docker engine: compose.yaml as `docker-compose config` validates and resolves
 * it, the files' structure against the product (the CLI's commands, every variable
 * `src/config.ts` reads, the operator guide's table), the healthcheck commands run
 * against the real services they probe, and a backup/restore round trip against the local
 * PostgreSQL, directly and through a stand-in `docker` command for the compose path.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig, withDotEnv } from '../src/config.js';
import { freePort } from '../src/embedded/chroma-server.js';
import { connect } from '../src/store/connect.js';
import { startTestChroma, type TestChroma } from './helpers/chroma.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/database.js';

/** Compiled tests run from dist/test, so repository files are two folders up. */
function repoPath(file: string): string {
  return fileURLToPath(new URL(`../../${file}`, import.meta.url));
}

function readRepoFile(file: string): string {
  return readFileSync(repoPath(file), 'utf8');
}

/** The deployment guide's "Environment Variables Reference" table. */
const GUIDE_VARIABLES = [
  'OPENAI_API_KEY',
  'OPENAI_EMBED_MODEL',
  'OPENAI_EVENT_MODEL',
  'POSTGRES_DB',
  'POSTGRES_USER',
  'POSTGRES_PASSWORD',
  'EVENTS_DB_DSN',
  'CHROMA_HOST',
  'CHROMA_PORT',
  'MCP_PORT',
  'LOG_LEVEL',
  'WORKER_ID',
  'POLL_INTERVAL_MS',
  'EVENT_MAX_ATTEMPTS',
];

const APP_SERVICES = ['migrate', 'mcp-server', 'event-worker'] as const;

interface ComposeService {
  image?: string;
  build?: { context: string } | string;
  command?: string[];
  container_name?: string;
  restart?: string;
  ports?: string[];
  volumes?: string[];
  env_file?: string | string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
  stop_grace_period?: string;
  deploy?: {
    resources?: {
      limits?: { memory?: string; cpus?: string };
      reservations?: { memory?: string; cpus?: string };
    };
  };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, { name?: string } | null>;
}

/**
 * compose.yaml as Compose itself reads it: `docker-compose config` (Debian's docker-compose
 * package; `.ci/run` installs it) validates the file against the Compose schema, resolves the
 * `<<` merge keys, interpolates `${...}` from `dotEnv` (written as the project's .env, which is
 * also every app service's env_file) and prints the result. No Docker engine is needed. The
 * copy lives in a temporary project folder, so `build: .` resolves to that folder.
 */
async function composeConfig(dotEnv: Record<string, string>): Promise<{
  compose: ComposeFile | undefined;
  projectDir: string;
  result: RunResult;
}> {
  const projectDir = mkdtempSync(join(tmpdir(), 'memory-compose-'));
  try {
    writeFileSync(join(projectDir, 'compose.yaml'), readRepoFile('compose.yaml'));
    writeFileSync(
      join(projectDir, '.env'),
      Object.entries(dotEnv)
        .map(([key, value]) => `${key}=${value}\n`)
        .join(''),
    );
    const result = await run(
      'docker-compose',
      ['--project-directory', projectDir, '-f', join(projectDir, 'compose.yaml'), 'config'],
      {},
    );
    if (result.code !== 0 && result.stdout === '' && result.stderr === '') {
      assert.fail('docker-compose is not installed: apt-get install -y docker-compose (.ci/run installs it)');
    }
    return {
      compose: result.code === 0 ? (parse(result.stdout) as ComposeFile) : undefined,
      projectDir,
      result,
    };
  } finally {
    rmSync(projectDir, { recursive: true, force: true });
  }
}

function service(compose: ComposeFile, name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found, `compose.yaml has no service ${name}`);
  return found;
}

/** The `$$` escapes that `docker-compose config` prints back, as the container's shell sees them. */
function unescapeDollars(value: string): string {
  return value.replaceAll('$$', '$');
}

/** `NAME=value` and `# NAME=value` lines of .env.example. */
function envExampleEntries(): { name: string; value: string; commented: boolean }[] {
  return readRepoFile('.env.example')
    .split('\n')
    .map((line) => /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ name: match[2]!, value: match[3]!, commented: match[1] !== undefined }));
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a script with exactly `env` (plus PATH); never rejects on a non-zero exit. */
function run(file: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile(
      file,
      args,
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

describe('compose.yaml', () => {
  const dotEnv = {
    POSTGRES_PASSWORD: 's3cret',
    LOG_LEVEL: 'DEBUG',
    EVENTS_DB_DSN: 'postgres://elsewhere/x',
    WORKER_ID: 'worker-1',
  };
  let compose: ComposeFile;
  let projectDir: string;
  before(async () => {
    const loaded = await composeConfig(dotEnv);
    assert.equal(loaded.result.code, 0, `docker-compose config: ${loaded.result.stderr}`);
    compose = loaded.compose!;
    projectDir = loaded.projectDir;
  });

  test('is a valid Compose file with the five services', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'chroma',
      'event-worker',
      'mcp-server',
      'migrate',
      'postgres',
    ]);
  });

  test('the app services are one image built from the project folder, with different commands', () => {
    const commands: Record<string, string[]> = {
      migrate: ['migrate'],
      'mcp-server': ['serve', '--no-worker'],
      'event-worker': ['work'],
    };
    const images = new Set<string | undefined>();
    for (const name of APP_SERVICES) {
      const app = service(compose, name);
      images.add(app.image);
      const context = typeof app.build === 'string' ? app.build : app.build?.context;
      assert.equal(context, projectDir, `${name} builds from the folder compose.yaml is in`);
      assert.deepEqual(app.command, commands[name], `${name} command`);
    }
    assert.equal(images.size, 1);
    assert.equal(service(compose, 'postgres').image, 'postgres:16-alpine');
    assert.equal(service(compose, 'chroma').image, 'chromadb/chroma:1.0.0');
  });

  test('publishes the guide ports, on loopback only', () => {
    const published = (name: string) => (service(compose, name).ports ?? []).map(String);
    assert.deepEqual(published('mcp-server'), ['127.0.0.1:3001:3000/tcp']);
    assert.deepEqual(published('chroma'), ['127.0.0.1:8001:8000/tcp']);
    assert.deepEqual(published('postgres'), ['127.0.0.1:5432:5432/tcp']);
    for (const name of ['migrate', 'event-worker']) {
      assert.deepEqual(published(name), [], `${name} publishes nothing`);
    }
  });

  test('every service has a healthcheck; app services probe their role with memory check', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      assert.ok(definition.healthcheck?.test, `${name} has a healthcheck`);
    }
    const roles: Record<string, string> = {
      migrate: 'postgres',
      'mcp-server': 'mcp-server',
      'event-worker': 'worker',
    };
    for (const name of APP_SERVICES) {
      assert.deepEqual(service(compose, name).healthcheck?.test, [
        'CMD',
        'memory',
        'check',
        '--service',
        roles[name],
      ]);
    }
  });

  test('start order: migrate after postgres is healthy, the rest after migrate succeeded', () => {
    assert.deepEqual(service(compose, 'migrate').depends_on, {
      postgres: { condition: 'service_healthy' },
    });
    assert.deepEqual(service(compose, 'mcp-server').depends_on, {
      migrate: { condition: 'service_completed_successfully' },
      postgres: { condition: 'service_healthy' },
      chroma: { condition: 'service_healthy' },
    });
    assert.deepEqual(service(compose, 'event-worker').depends_on, {
      migrate: { condition: 'service_completed_successfully' },
      postgres: { condition: 'service_healthy' },
    });
  });

  test('restart policies: long-running services come back, migrate runs once', () => {
    for (const name of ['postgres', 'chroma', 'mcp-server', 'event-worker']) {
      assert.equal(service(compose, name).restart, 'unless-stopped', name);
    }
    assert.equal(service(compose, 'migrate').restart, 'no');
  });

  test('event-worker scales: no container_name, and each replica gets its own WORKER_ID', () => {
    for (const [name, definition] of Object.entries(compose.services)) {
      assert.equal(definition.container_name, undefined, `${name} has no container_name`);
    }
    // .env says WORKER_ID=worker-1; the service's empty value wins, so the default applies.
    const env = service(compose, 'event-worker').environment ?? {};
    assert.equal(env.WORKER_ID, '');
    assert.equal(loadConfig(env).worker.id, `${hostname()}-${process.pid}`);
  });

  test('event-worker gets longer than its 25 s shutdown grace to finish a job', () => {
    const grace = String(service(compose, 'event-worker').stop_grace_period ?? '');
    assert.match(grace, /^\d+(\.\d+)?s$/);
    assert.ok(Number.parseFloat(grace) > 25, `stop_grace_period ${grace}`);
  });

  test('named volumes are declared with fixed names and mounted', () => {
    assert.equal(compose.volumes.postgres_data?.name, 'mcp-postgres-data');
    assert.equal(compose.volumes.chroma_data?.name, 'mcp-chroma-data');
    assert.deepEqual(service(compose, 'postgres').volumes, ['postgres_data:/var/lib/postgresql/data:rw']);
    assert.deepEqual(service(compose, 'chroma').volumes, ['chroma_data:/data:rw']);
  });

  test('resource limits as in the guide', () => {
    const resources = service(compose, 'mcp-server').deploy?.resources;
    assert.equal(resources?.limits?.memory, '2G');
    assert.equal(Number(resources?.limits?.cpus), 1);
    assert.equal(resources?.reservations?.memory, '512M');
    assert.equal(Number(resources?.reservations?.cpus), 0.25);
    for (const name of ['postgres', 'chroma', 'event-worker']) {
      const limits = service(compose, name).deploy?.resources;
      assert.ok(limits?.limits?.memory && limits.limits.cpus, `${name} has limits`);
      assert.ok(limits.reservations?.memory, `${name} has reservations`);
    }
  });

  test('compose refuses to start without POSTGRES_PASSWORD, naming it', async () => {
    for (const env of [{}, { POSTGRES_PASSWORD: '' }] as Array<Record<string, string>>) {
      const { result } = await composeConfig(env);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /POSTGRES_PASSWORD/);
    }
  });

  test('the app containers get a valid configuration pointing at the compose services', () => {
    for (const name of APP_SERVICES) {
      const env = service(compose, name).environment ?? {};
      for (const key of Object.keys(env)) {
        assert.ok((CONFIG_VARIABLES as readonly string[]).includes(key), `${name}: ${key} is not read`);
      }
      const config = loadConfig(env);
      assert.equal(config.databaseUrl, 'postgresql://events:s3cret@postgres:5432/events');
      assert.equal(config.chroma.host, 'chroma');
      assert.equal(config.chroma.port, 8000);
      assert.equal(config.mcp.host, '0.0.0.0');
      assert.equal(config.mcp.port, 3000);
      assert.equal(config.logLevel, 'DEBUG', `${name} takes the rest from .env`);
    }
  });

  test('POSTGRES_USER and POSTGRES_DB from .env reach both Postgres and the app DSN', async () => {
    const { compose: custom, result } = await composeConfig({
      POSTGRES_PASSWORD: 'pw',
      POSTGRES_USER: 'mem',
      POSTGRES_DB: 'memdb',
    });
    assert.equal(result.code, 0, result.stderr);
    const postgres = service(custom!, 'postgres').environment ?? {};
    assert.equal(postgres.POSTGRES_USER, 'mem');
    assert.equal(postgres.POSTGRES_DB, 'memdb');
    const dsn = loadConfig(service(custom!, 'mcp-server').environment ?? {}).databaseUrl;
    assert.equal(dsn, 'postgresql://mem:pw@postgres:5432/memdb');
    assert.deepEqual(service(custom!, 'postgres').healthcheck?.test.slice(0, 6), [
      'CMD',
      'pg_isready',
      '-h',
      '127.0.0.1',
      '-U',
      'mem',
    ]);
  });

  describe('healthcheck commands against real services', () => {
    let chroma: TestChroma;
    before(async () => {
      chroma = await startTestChroma();
    });
    after(async () => {
      await chroma.destroy();
    });

    /** The chroma healthcheck's bash script, aimed at `port` instead of the container's 8000. */
    function chromaProbe(port: number): string[] {
      const testCommand = service(compose, 'chroma').healthcheck?.test ?? [];
      assert.deepEqual(testCommand.slice(0, 3), ['CMD', 'bash', '-c']);
      const script = unescapeDollars(testCommand[3] ?? '');
      assert.match(script, /\/dev\/tcp\/127\.0\.0\.1\/8000/);
      assert.match(script, /GET \/api\/v2\/heartbeat /);
      return ['-c', script.replace('/dev/tcp/127.0.0.1/8000', `/dev/tcp/127.0.0.1/${port}`)];
    }

    test('chroma: the bash heartbeat probe passes on a live Chroma and fails on a closed port', async () => {
      const ok = await run('bash', chromaProbe(chroma.port), {});
      assert.equal(ok.code, 0, ok.stderr);
      const closed = await run('bash', chromaProbe(await freePort('127.0.0.1')), {});
      assert.notEqual(closed.code, 0);
    });

    test('postgres: pg_isready with the interpolated user and database', async (t) => {
      const admin = new URL(ADMIN_URL);
      if (admin.hostname !== '127.0.0.1' || (admin.port !== '' && admin.port !== '5432')) {
        t.skip('the healthcheck probes 127.0.0.1:5432, and the test server is elsewhere');
        return;
      }
      const { compose: local, result: loaded } = await composeConfig({
        POSTGRES_PASSWORD: 'pw',
        POSTGRES_USER: 'postgres',
        POSTGRES_DB: admin.pathname.slice(1),
      });
      assert.equal(loaded.code, 0, loaded.stderr);
      const [kind, command, ...args] = (service(local!, 'postgres').healthcheck?.test ?? []).map(
        unescapeDollars,
      );
      assert.equal(kind, 'CMD');
      assert.equal(command, 'pg_isready');
      const result = await run(command, args, {});
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readRepoFile('Dockerfile').replace(/\\\n/g, ' ');
  const instructions = dockerfile
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const froms = instructions.filter((line) => /^FROM /i.test(line));
  const runtime = instructions.slice(instructions.lastIndexOf(froms.at(-1)!));

  test('is multi-stage on Debian bookworm slim Node images', () => {
    assert.ok(froms.length >= 2, 'at least a build and a runtime stage');
    for (const from of froms) assert.match(from, /^FROM node:\$\{NODE_MAJOR\}-bookworm-slim AS \w+$/);
    assert.match(dockerfile, /^ARG NODE_MAJOR=20$/m);
  });

  test('the build stage compiles every folder tsconfig.json includes', () => {
    const tsconfig = JSON.parse(readRepoFile('tsconfig.json')) as { include: string[] };
    for (const folder of tsconfig.include) {
      assert.ok(instructions.includes(`COPY ${folder} ./${folder}`), `COPY ${folder} into the build stage`);
    }
    assert.ok(instructions.includes('RUN npm run build'));
  });

  test('the runtime stage installs production dependencies only and holds what package.json ships', () => {
    assert.ok(instructions.some((line) => /^RUN npm ci --omit=dev\b/.test(line)));
    assert.ok(runtime.some((line) => /^COPY --from=deps \/app\/node_modules /.test(line)));
    assert.ok(runtime.includes('COPY --from=build /app/dist/src ./dist/src'));
    const pkg = JSON.parse(readRepoFile('package.json')) as { files: string[] };
    for (const entry of pkg.files.filter((file) => !file.startsWith('dist/'))) {
      assert.ok(runtime.includes(`COPY ${entry} ./${entry}`), `runtime copies ${entry}`);
    }
    // What the build makes comes from the build stage.
    const fromBuild = runtime.filter((line) => line.startsWith('COPY --from=build ')).join(' ');
    for (const entry of pkg.files.filter((file) => file.startsWith('dist/') && file !== 'dist/src')) {
      assert.ok(fromBuild.includes(`/app/${entry}`), `runtime copies ${entry} from the build stage`);
    }
    assert.ok(runtime.includes('COPY package.json ./'));
  });

  test('runs as a non-root user with memory on PATH as the entrypoint', () => {
    const users = runtime.filter((line) => /^USER /.test(line));
    assert.equal(users.length, 1);
    assert.doesNotMatch(users[0]!, /^USER (root|0)(:|$)/);
    assert.ok(runtime.some((line) => line.includes('ln -s /app/bin/memory /usr/local/bin/memory')));
    assert.ok(runtime.includes('ENTRYPOINT ["memory"]'));
    assert.ok(runtime.includes('CMD ["serve"]'));
    assert.ok(runtime.includes('EXPOSE 3000'));
  });

  test('has a HEALTHCHECK through memory check', () => {
    const healthcheck = runtime.find((line) => /^HEALTHCHECK /.test(line));
    assert.match(healthcheck ?? '', /CMD \["memory", "check", "--service", "mcp-server"\]$/);
  });

  test('sets the container defaults, each a variable the program reads', () => {
    const env = runtime.find((line) => line.startsWith('ENV ')) ?? '';
    const pairs = Object.fromEntries([...env.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    assert.equal(pairs.MCP_HOST, '0.0.0.0');
    assert.equal(pairs.MCP_PORT, '3000');
    assert.equal(pairs.NODE_ENV, 'production');
    for (const name of Object.keys(pairs).filter((key) => key !== 'NODE_ENV')) {
      assert.ok((CONFIG_VARIABLES as readonly string[]).includes(name), `${name} is not read`);
    }
  });

  test('.dockerignore keeps secrets, local data and build output out of the context', () => {
    const ignored = readRepoFile('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', '.memory', '.git', '.env', '*.log']) {
      assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
    }
  });
});

describe('.env.example', () => {
  const entries = envExampleEntries();
  const names = entries.map((entry) => entry.name);

  test('documents every variable the program reads, once, and nothing else', () => {
    assert.equal(new Set(names).size, names.length, `duplicates: ${names.join(', ')}`);
    assert.deepEqual([...names].sort(), [...CONFIG_VARIABLES].sort());
  });

  test("covers the guide's Environment Variables Reference", () => {
    for (const name of GUIDE_VARIABLES) assert.ok(names.includes(name), name);
  });

  test('leaves POSTGRES_PASSWORD empty, so compose refuses to start until it is set', () => {
    assert.deepEqual(
      entries.find((entry) => entry.name === 'POSTGRES_PASSWORD'),
      { name: 'POSTGRES_PASSWORD', value: '', commented: false },
    );
  });

  test('copied as .env it is a valid configuration for `memory` outside compose (embedded mode)', () => {
    const config = loadConfig(withDotEnv({}, repoPath('.env.example')));
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.chroma.host, undefined);
    assert.equal(config.embeddingProvider, 'local');
    assert.equal(config.mcp.host, '127.0.0.1');
  });

  test('every commented default is a valid value', () => {
    const env = Object.fromEntries(
      entries
        .filter((entry) => entry.commented && entry.value !== '')
        .map((entry) => [entry.name, entry.value]),
    );
    const config = loadConfig(env);
    assert.equal(config.openai.embedModel, 'text-embedding-3-large');
    assert.equal(config.worker.pollIntervalMs, 1000);
  });
});

describe('scripts/backup.sh and scripts/restore.sh', () => {
  const BACKUP = repoPath('scripts/backup.sh');
  const RESTORE = repoPath('scripts/restore.sh');
  const PASSWORD = 'secretpw';
  const ids = (n: number) => ({
    uid: `uid_${String(n).repeat(16)}`,
    rev: `rev_${String(n).repeat(16)}`,
    art: `art_${String(n).repeat(16)}`,
  });
  let db: TestDatabase;
  let work: string;
  /** The test database's URL with a password: trust authentication ignores it. */
  let dsn: string;

  before(async () => {
    db = await createTestDatabase();
    work = mkdtempSync(join(tmpdir(), 'memory-backup-'));
    const url = new URL(db.url);
    url.password = PASSWORD;
    dsn = url.toString();
  });
  after(async () => {
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  });

  async function insertArtifact(n: number): Promise<void> {
    const { uid, rev, art } = ids(n);
    await db.sql`
      insert into artifact_revision
        (artifact_uid, revision_id, artifact_id, artifact_type, source_system, content_hash, token_count, is_chunked)
      values (${uid}, ${rev}, ${art}, 'note', 'deployment-test', ${`hash${n}`}, 3, false)`;
    await db.sql`
      insert into artifact_content (artifact_uid, revision_id, content)
      values (${uid}, ${rev}, ${`content of artifact ${n}`})`;
  }

  /** Read over a fresh connection: the restore dropped and recreated the tables. */
  async function artifacts(): Promise<{ artifact_uid: string; content: string }[]> {
    const sql = connect(db.url, { max: 1 });
    try {
      const rows = await sql<{ artifact_uid: string; content: string }[]>`
        select r.artifact_uid, c.content
        from artifact_revision r join artifact_content c using (artifact_uid, revision_id)
        order by r.artifact_uid`;
      // A plain array: postgres.js answers with an Array subclass.
      return rows.map(({ artifact_uid, content }) => ({ artifact_uid, content }));
    } finally {
      await sql.end();
    }
  }

  async function reset(): Promise<void> {
    await db.sql`delete from artifact_revision`;
  }

  function files(dir: string): string[] {
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  }

  test('round trip with EVENTS_DB_DSN: the restore replaces what changed since the backup', async () => {
    await reset();
    await insertArtifact(1);
    const backupDir = join(work, 'direct');
    const backup = await run(BACKUP, [], { EVENTS_DB_DSN: dsn, BACKUP_DIR: backupDir, COMPOSE: '0' });
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);
    const [dump, ...others] = files(backupDir);
    assert.match(dump ?? '', /^backup_postgres_\d{8}_\d{6}\.sql\.gz$/);
    assert.deepEqual(others, [], 'no Chroma archive without CHROMA_DATA_DIR, no partial file');

    await db.sql`delete from artifact_revision where artifact_uid = ${ids(1).uid}`;
    await insertArtifact(2);
    const restore = await run(RESTORE, [join(backupDir, dump!)], { EVENTS_DB_DSN: dsn });
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    assert.deepEqual(await artifacts(), [{ artifact_uid: ids(1).uid, content: 'content of artifact 1' }]);

    for (const output of [backup.stdout, backup.stderr, restore.stdout, restore.stderr]) {
      assert.ok(!output.includes(PASSWORD), `a password was printed: ${output}`);
    }
    assert.match(backup.stdout, /pg_dump postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
    assert.match(restore.stdout, /PostgreSQL restored/);
  });

  test('errors name the problem without printing the password', async () => {
    const url = new URL(dsn);
    url.pathname = '/memory_no_such_database';
    const backupDir = join(work, 'failed');
    const backup = await run(BACKUP, [], {
      EVENTS_DB_DSN: url.toString(),
      BACKUP_DIR: backupDir,
      COMPOSE: '0',
    });
    assert.notEqual(backup.code, 0);
    assert.match(backup.stderr, /memory_no_such_database/);
    assert.ok(!(backup.stdout + backup.stderr).includes(PASSWORD));
    assert.deepEqual(files(backupDir), [], 'a failed dump leaves no file behind');

    const restore = await run(RESTORE, [join(work, 'missing.sql.gz')], { EVENTS_DB_DSN: dsn });
    assert.notEqual(restore.code, 0);
    assert.match(restore.stderr, /no such file/);

    const nowhere = await run(BACKUP, [], { BACKUP_DIR: backupDir, COMPOSE: '0' });
    assert.notEqual(nowhere.code, 0);
    assert.match(nowhere.stderr, /EVENTS_DB_DSN/);
  });

  test('CHROMA_DATA_DIR is archived and restored in place', async () => {
    const chromaDir = join(work, 'chroma-data');
    mkdirSync(join(chromaDir, 'segment'), { recursive: true });
    writeFileSync(join(chromaDir, 'chroma.sqlite3'), 'sqlite');
    writeFileSync(join(chromaDir, 'segment', 'data_level0.bin'), 'vectors');
    const backupDir = join(work, 'with-chroma');
    const backup = await run(BACKUP, [], {
      EVENTS_DB_DSN: dsn,
      BACKUP_DIR: backupDir,
      COMPOSE: '0',
      CHROMA_DATA_DIR: chromaDir,
    });
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);
    const archive = files(backupDir).find((file) => /^backup_chroma_\d{8}_\d{6}\.tar\.gz$/.test(file));
    assert.ok(archive, files(backupDir).join(', '));

    rmSync(join(chromaDir, 'segment'), { recursive: true });
    writeFileSync(join(chromaDir, 'stray'), 'written after the backup');
    const restore = await run(RESTORE, [join(backupDir, archive)], { CHROMA_DATA_DIR: chromaDir });
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    assert.deepEqual(readdirSync(chromaDir).sort(), ['chroma.sqlite3', 'segment']);
    assert.equal(readFileSync(join(chromaDir, 'segment', 'data_level0.bin'), 'utf8'), 'vectors');
  });

  test('compose mode: pg_dump and psql run in the postgres service, the workers pause', async () => {
    // A stand-in for the docker CLI: it logs every call, runs `compose exec ... postgres CMD`
    // here with the postgres service's environment (pointed at the test server), and makes
    // `docker run ... tar czf /backup/X` produce X.
    const admin = new URL(ADMIN_URL);
    const bin = join(work, 'bin');
    const log = join(work, 'docker.log');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'docker'),
      `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$*" >>"$DOCKER_LOG"
if [[ "$1" == compose ]]; then
  shift
  case "$1" in
    ps) if [[ "$*" == *--services* ]]; then printf 'postgres\\nchroma\\nmcp-server\\nevent-worker\\n'; else echo 0123abcd; fi ;;
    exec)
      shift
      envs=()
      while [[ "$1" == -* ]]; do
        if [[ "$1" == -e ]]; then envs+=("$2"); shift 2; else shift; fi
      done
      shift # the service
      exec env \${envs[@]+"\${envs[@]}"} POSTGRES_USER="$STUB_USER" POSTGRES_DB="$STUB_DB" \\
        PGHOST="$STUB_HOST" PGPORT="$STUB_PORT" "$@" ;;
  esac
elif [[ "$1" == run ]]; then
  backup_dir=""
  for arg in "$@"; do
    case "$arg" in
      *:/backup | *:/backup:ro) backup_dir="\${arg%%:/backup*}" ;;
      /backup/*) [[ -z "$backup_dir" ]] || echo archive >"$backup_dir/\${arg#/backup/}" ;;
    esac
  done
fi
`,
    );
    chmodSync(join(bin, 'docker'), 0o755);
    const env = {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      DOCKER_LOG: log,
      STUB_USER: decodeURIComponent(admin.username) || 'postgres',
      STUB_DB: db.name,
      STUB_HOST: admin.hostname,
      STUB_PORT: admin.port || '5432',
    };

    await reset();
    await insertArtifact(3);
    const backupDir = join(work, 'compose');
    // No COMPOSE and no EVENTS_DB_DSN: detected from the running postgres service.
    const backup = await run(BACKUP, [], { ...env, BACKUP_DIR: backupDir });
    assert.equal(backup.code, 0, backup.stdout + backup.stderr);
    const backupFiles = files(backupDir);
    assert.equal(backupFiles.length, 2, backupFiles.join(', '));
    const [chromaArchive, dump] = backupFiles as [string, string];
    assert.match(chromaArchive, /^backup_chroma_\d{8}_\d{6}\.tar\.gz$/);
    assert.match(dump, /^backup_postgres_\d{8}_\d{6}\.sql\.gz$/);
    const backupCalls = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(backupCalls.slice(0, 2), [
      'compose ps --status running -q postgres',
      'compose exec -T postgres sh -c pg_dump --clean --if-exists --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB"',
    ]);
    assert.equal(
      backupCalls[2],
      `run --rm -v mcp-chroma-data:/data:ro -v ${backupDir}:/backup busybox:1.36 tar czf /backup/${chromaArchive}.partial -C /data .`,
    );

    rmSync(log);
    await reset();
    await insertArtifact(4);
    const restore = await run(RESTORE, [join(backupDir, dump), join(backupDir, chromaArchive)], env);
    assert.equal(restore.code, 0, restore.stdout + restore.stderr);
    assert.deepEqual(await artifacts(), [{ artifact_uid: ids(3).uid, content: 'content of artifact 3' }]);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(
      calls.map((call) => call.split(' -c ')[0]),
      [
        'compose ps --status running -q postgres',
        'compose ps --status running --services',
        'compose stop mcp-server event-worker',
        'compose exec -T -e PGOPTIONS=-c client_min_messages=warning postgres sh',
        'compose stop chroma',
        `run --rm -v mcp-chroma-data:/data -v ${backupDir}:/backup:ro busybox:1.36 sh`,
        'compose start chroma',
        'compose start mcp-server event-worker',
      ],
    );
  });
});

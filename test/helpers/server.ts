/**
 * A real `memory serve` in this process against a fresh test database and a real Chroma, and the
 * SDK's own MCP client over Streamable HTTP to talk to it.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type RunningServer, runServe } from '../../src/cli/serve.js';
import { loadConfig } from '../../src/config.js';
import { configureLogging } from '../../src/log.js';
import { COLLECTIONS } from '../../src/vectors/index.js';
import { startTestChroma, type TestChroma } from './chroma.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestServer {
  url: string;
  db: TestDatabase;
  chroma: TestChroma;
  server: RunningServer;
  client: Client;
  /** Calls a tool and returns its structured content; `isError` results are returned too. */
  call(name: string, args?: Record<string, unknown>): Promise<ToolAnswer>;
  /** Opens another MCP client, e.g. on `/mcp` without the slash or with headers. */
  connect(path?: string, headers?: Record<string, string>): Promise<Client>;
  stop(): Promise<void>;
}

export interface ToolAnswer {
  isError: boolean;
  data: Record<string, unknown> & {
    error?: { code: string; message: string; details?: Record<string, unknown> };
  };
}

export async function connectClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'memory-tests', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<ToolAnswer> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const data = (result.structuredContent ??
    JSON.parse((result.content[0] as { text: string }).text)) as ToolAnswer['data'];
  return { isError: result.isError === true, data };
}

export async function startTestServer(
  env: Record<string, string> = {},
  shared?: { db?: TestDatabase; chroma?: TestChroma },
): Promise<TestServer> {
  // Whatever this call started is stopped again if a later step fails: a Chroma left running
  // keeps the test file's process (and so the whole run) alive.
  const [dbResult, chromaResult] = await Promise.allSettled([
    shared?.db ?? createTestDatabase(),
    shared?.chroma ?? startTestChroma(),
  ]);
  const cleanUp = async () => {
    if (!shared?.db && dbResult.status === 'fulfilled') await dbResult.value.drop().catch(() => {});
    if (!shared?.chroma && chromaResult.status === 'fulfilled') await chromaResult.value.destroy();
  };
  if (dbResult.status === 'rejected' || chromaResult.status === 'rejected') {
    await cleanUp();
    throw dbResult.status === 'rejected' ? dbResult.reason : (chromaResult as PromiseRejectedResult).reason;
  }
  const db = dbResult.value;
  const chroma = chromaResult.value;
  try {
    return await startOn(db, chroma, env, shared);
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

async function startOn(
  db: TestDatabase,
  chroma: TestChroma,
  env: Record<string, string>,
  shared: { db?: TestDatabase; chroma?: TestChroma } | undefined,
): Promise<TestServer> {
  const config = loadConfig({
    EVENTS_DB_DSN: db.url,
    CHROMA_HOST: '127.0.0.1',
    CHROMA_PORT: String(chroma.port),
    MCP_PORT: '0',
    LOG_LEVEL: 'ERROR',
    ...env,
  });
  configureLogging(config.logLevel);
  const server = await runServe(config, {
    endpoints: { databaseUrl: db.url, chromaUrl: chroma.url },
    worker: false,
  });
  const clients: Client[] = [];
  const connect = async (path = '/mcp/', headers: Record<string, string> = {}) => {
    const client = await connectClient(`${server.url}${path}`, headers);
    clients.push(client);
    return client;
  };
  // With OAuth alone there is no header to connect with: the test signs in and connects itself.
  let client: Client;
  try {
    client =
      config.oauth !== undefined && config.mcp.authToken === undefined
        ? new Client({ name: 'memory-tests', version: '1.0.0' })
        : await connect(
            '/mcp/',
            config.mcp.authToken !== undefined ? { authorization: `Bearer ${config.mcp.authToken}` } : {},
          );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    url: server.url,
    db,
    chroma,
    server,
    client,
    call: (name, args) => callTool(client, name, args),
    connect,
    async stop() {
      for (const c of clients) await c.close().catch(() => {});
      await server.stop();
      if (!shared?.db) await db.drop();
      if (!shared?.chroma) await chroma.destroy();
    },
  };
}

/** Row counts of every table in the schema and of every vector collection. */
export async function snapshot(t: TestServer): Promise<Record<string, number>> {
  const tables = await t.db.sql<Array<{ name: string }>>`
    select table_name as name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`;
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await t.db.sql.unsafe<Array<{ n: number }>>(`select count(*)::int as n from "${name}"`);
    counts[name] = row!.n;
  }
  for (const collection of COLLECTIONS) {
    counts[`vectors:${collection}`] = await t.server.services.vectors.count(collection);
  }
  return counts;
}

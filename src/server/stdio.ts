/**
 * MCP over stdin/stdout, for clients that spawn the server (Claude Desktop, Cursor). Connected
 * before the services start, so `initialize` and `tools/list` are answered at once.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpServer, type ServicesSource } from './mcp.js';
import { TOOLS } from './tools/index.js';

export async function serveStdio(services: ServicesSource): Promise<{ close(): Promise<void> }> {
  const server = createMcpServer(services, TOOLS);
  await server.connect(new StdioServerTransport());
  return { close: () => server.close() };
}

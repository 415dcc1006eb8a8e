/** MCP over stdin/stdout, for clients that spawn the server (Claude Desktop, Cursor). */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Services } from '../domain/services.js';
import { createMcpServer } from './mcp.js';
import { TOOLS } from './tools/index.js';

export async function serveStdio(services: Services): Promise<{ close(): Promise<void> }> {
  const server = createMcpServer(services, TOOLS);
  await server.connect(new StdioServerTransport());
  return { close: () => server.close() };
}

/**
 * Where the services are. With EVENTS_DB_DSN / CHROMA_HOST set they are external; without them a
 * running `memory serve` has started embedded ones on loopback ports and written them to
 * `runtime.json` in the data folder, so `memory check` (and a second instance) can find them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

export interface RuntimeInfo {
  pid: number;
  startedAt: string;
  databaseUrl?: string;
  chromaUrl?: string;
  mcpUrl?: string;
}

export function runtimeFile(config: Config): string {
  return join(config.dataDir, 'runtime.json');
}

/** The embedded server's runtime file, if one is there and its process is alive. */
export function readRuntime(config: Config): RuntimeInfo | undefined {
  let info: RuntimeInfo;
  try {
    info = JSON.parse(readFileSync(runtimeFile(config), 'utf8')) as RuntimeInfo;
  } catch {
    return undefined;
  }
  return isAlive(info.pid) ? info : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ResolvedEndpoints {
  databaseUrl: string | undefined;
  chromaUrl: string | undefined;
  mcpUrl: string;
  embedded: boolean;
}

/** The URLs a probe or client should use for this configuration. */
export function resolveEndpoints(config: Config): ResolvedEndpoints {
  const runtime =
    config.databaseUrl === undefined || config.chroma.host === undefined ? readRuntime(config) : undefined;
  const mcpHost = config.mcp.host === '0.0.0.0' || config.mcp.host === '::' ? '127.0.0.1' : config.mcp.host;
  return {
    databaseUrl: config.databaseUrl ?? runtime?.databaseUrl,
    chromaUrl:
      config.chroma.host !== undefined
        ? chromaUrl(config.chroma.host, config.chroma.port)
        : runtime?.chromaUrl,
    mcpUrl:
      runtime?.mcpUrl ?? `http://${mcpHost.includes(':') ? `[${mcpHost}]` : mcpHost}:${config.mcp.port}`,
    embedded: runtime !== undefined,
  };
}

export function chromaUrl(host: string, port: number): string {
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

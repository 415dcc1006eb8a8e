/**
 * Starts the Chroma server that the `chromadb` npm package ships (its `chroma run` CLI, a native
 * binding) as a child process on a loopback port. Used by the embedded mode and by the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../errors.js';

export interface ChromaServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

export interface StartChromaOptions {
  /** Persistence folder. */
  path: string;
  port?: number;
  host?: string;
  /** File that receives the server's own output; discarded when absent. */
  logFile?: string;
  startTimeoutMs?: number;
}

/** A free TCP port on the loopback interface. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

function chromaCliPath(): string {
  // The package's `exports` hide package.json, so find its root from the main entry.
  const entry = createRequire(import.meta.url).resolve('chromadb');
  const marker = `${sep}node_modules${sep}chromadb${sep}`;
  const root = entry.slice(0, entry.lastIndexOf(marker) + marker.length);
  return join(root, 'dist', 'cli.mjs');
}

async function waitForHeartbeat(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the Chroma server exited during start (code ${child.exitCode ?? child.signalCode})`);
    }
    try {
      const response = await fetch(`${url}/api/v2/heartbeat`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
      lastError = new Error(`HTTP ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `the Chroma server did not answer its heartbeat within ${timeoutMs} ms: ${describeError(lastError)}`,
  );
}

export async function startChromaServer(options: StartChromaOptions): Promise<ChromaServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  mkdirSync(options.path, { recursive: true });
  const output = options.logFile === undefined ? 'ignore' : openSync(options.logFile, 'a');
  // Started through the supervisor, which stops Chroma when this process dies in any way.
  const supervisor = fileURLToPath(new URL('./supervisor.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      supervisor,
      process.execPath,
      chromaCliPath(),
      'run',
      '--path',
      options.path,
      '--host',
      host,
      '--port',
      String(port),
    ],
    { stdio: ['pipe', output, output] },
  );
  // Never written: its closing is the supervisor's signal that this process is gone.
  child.stdin?.on('error', () => {});
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const url = `http://${host}:${port}`;
  try {
    await waitForHeartbeat(url, child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    host,
    port,
    pid: child.pid ?? -1,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

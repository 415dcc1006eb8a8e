/**
 * Starts the Chroma server that the `chromadb` npm package ships (its `chroma run` CLI, a native
 * binding) as a child process on a loopback port. Used by the embedded mode and by the tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join, sep } from 'node:path';
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

/**
 * Runs Chroma as a background job of a tiny shell that ties Chroma's life to ours. The Chroma CLI
 * blocks its own event loop inside the native binding, so it cannot watch for its parent's death
 * itself, and Node offers no PR_SET_PDEATHSIG. The shell can: we hold its stdin pipe open and
 * never write to it; when this process dies, however it dies (even SIGKILL), the pipe closes,
 * `cat` returns and the shell stops Chroma. (A Node supervisor did the same for 40 MB of
 * resident memory; the shell and `cat` take about 2 MB.)
 */
const SUPERVISOR = '"$@" </dev/null & pid=$!; cat >/dev/null; kill $pid 2>/dev/null; wait $pid';

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // Already gone.
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/api/v2/heartbeat`, { signal: AbortSignal.timeout(500) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
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
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      SUPERVISOR,
      'memory-chroma',
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
    // Its own process group, so that stop() can signal the shell, its `cat` and Chroma at once.
    { stdio: ['pipe', output, output], detached: true },
  );
  // Never written: its closing is the supervisor's signal that this process is gone.
  child.stdin?.on('error', () => {});
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const url = `http://${host}:${port}`;
  try {
    await waitForHeartbeat(url, child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    throw error;
  }
  return {
    url,
    host,
    port,
    pid: child.pid ?? -1,
    async stop(graceMs = 5000) {
      const group = child.pid;
      if (group === undefined || child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(group, 'SIGTERM');
      await exited;
      // The shell is gone; Chroma got the same signal. Wait until its port is free.
      const deadline = Date.now() + graceMs;
      while (Date.now() < deadline && (await answers(url))) await new Promise((r) => setTimeout(r, 50));
      signalGroup(group, 'SIGKILL');
    },
  };
}

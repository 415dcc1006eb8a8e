/** Real `memory work` processes for queue tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { BIN, SLOW_MS } from './cli.js';

export { SLOW_MS };

export interface WorkerProcess {
  id: string;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves once the worker logged "Worker started" (its import and migration can take seconds). */
  started(): Promise<void>;
  /** SIGKILL unless it already exited, and wait for the exit. */
  kill(): Promise<void>;
}

export function spawnWorker(id: string, env: Record<string, string>, args: string[] = []): WorkerProcess {
  const child = spawn(process.execPath, [BIN, 'work', ...args], {
    env: { PATH: process.env.PATH ?? '', WORKER_ID: id, LOG_LEVEL: 'INFO', ...env },
    cwd: tmpdir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  // 'close' comes after the exit and the end of both output streams: no output after it.
  let streamsClosed = false;
  child.once('close', () => {
    streamsClosed = true;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
    // A process that could not be spawned emits no 'exit'.
    child.once('error', () => resolveExit({ code: child.exitCode, signal: child.signalCode }));
  });
  const waitForOutput = (pattern: RegExp, timeoutMs = SLOW_MS): Promise<void> =>
    new Promise((resolveWait, reject) => {
      const check = () => {
        if (pattern.test(output)) {
          listeners.delete(check);
          clearTimeout(timer);
          resolveWait();
        } else if (streamsClosed) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`worker ${id} exited before printing ${pattern}; output:\n${output}`));
        }
      };
      child.once('close', check);
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`worker ${id} did not print ${pattern} within ${timeoutMs} ms; output:\n${output}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    id,
    child,
    output: () => output,
    exited,
    waitForOutput,
    started: () => waitForOutput(/Worker started/),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Stops every worker still running (SIGKILL unless told otherwise) and waits until each has exited. */
export async function stopWorkers(workers: readonly WorkerProcess[], signal: NodeJS.Signals = 'SIGKILL') {
  for (const worker of workers) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill(signal);
    await worker.exited;
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = SLOW_MS,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

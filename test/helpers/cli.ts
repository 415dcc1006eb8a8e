import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../../bin/memory', import.meta.url));

/**
 * The deadline for things that do happen, only slowly on a busy machine: a `memory` process
 * starts in about 1 s on an idle 2-core machine and in 5-13 s with the suite and other load on it.
 * A generous deadline costs nothing when the condition comes; it turns a hang into a failure.
 */
export const SLOW_MS = 60_000;

/** `promise`, or a rejection naming `what` once `ms` have passed. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Resolves with the exit code (null after a signal) once `child` has exited; at once if it has. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => {
    child.once('exit', (code) => resolveExit(code));
    child.once('error', () => resolveExit(child.exitCode));
  });
}

/**
 * For after hooks and `finally` blocks: `signal` (SIGTERM by default), then SIGKILL if the
 * process is still there after `graceMs`; resolves once it has exited, whatever happened.
 */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const stopped = await within(exited, graceMs, 'exit').then(
    () => true,
    () => false,
  );
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs the real `bin/memory` with exactly `env` (plus PATH), from `cwd`, so no `.env` or variable
 * of the developer's shell leaks in.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  timeoutMs = SLOW_MS,
): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd: cwd ?? tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/**
 * What a benchmark hands back, and how it is printed. Every bench module exports
 * `run(options): Promise<BenchResult[]>`; `bench/index.ts` runs them in turn and prints each
 * result as a GitHub-markdown table, so the figures can be pasted into an issue as they are.
 */
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchResult {
  /** The table's heading. */
  name: string;
  /** One object per table row; the keys of the first row are the columns, in order. */
  rows: Array<Record<string, string | number>>;
  /** Lines printed under the table: conditions, caveats, what a figure means. */
  notes?: string[];
}

export interface BenchOptions {
  /** Small sizes, for a sanity run; the figures we quote come from full runs. */
  quick: boolean;
}

function cell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = typeof value === 'number' ? formatNumber(value) : value;
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Integers as they are; other numbers rounded to about 3 significant digits. */
function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toFixed(decimals);
}

/** Prints the result as a markdown table (heading, table, notes) on stdout. */
export function printTable(result: BenchResult): void {
  const columns: string[] = [];
  for (const row of result.rows)
    for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const lines = [`### ${result.name}`, ''];
  if (columns.length === 0) lines.push('(no rows)');
  else {
    lines.push(`| ${columns.map((c) => cell(c)).join(' | ')} |`);
    lines.push(
      `| ${columns.map((c) => (typeof result.rows[0]?.[c] === 'number' ? '---:' : '---')).join(' | ')} |`,
    );
    for (const row of result.rows) lines.push(`| ${columns.map((c) => cell(row[c])).join(' | ')} |`);
  }
  if (result.notes !== undefined && result.notes.length > 0) {
    lines.push('');
    for (const note of result.notes) lines.push(`- ${note}`);
  }
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The q-quantile (0..1) of the values, by linear interpolation; NaN for no values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const lower = sorted[below]!;
  const upper = sorted[Math.min(below + 1, sorted.length - 1)]!;
  return lower + (upper - lower) * (position - below);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started with. */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && resolve(script) === fileURLToPath(moduleUrl);
}

const interruptCleanups = new Set<() => Promise<void>>();

/**
 * Registers work to do if the script is interrupted (SIGINT/SIGTERM) before it finishes, such as
 * dropping the benchmark's database: `finally` blocks do not run when a signal ends the process.
 * Returns the function that unregisters it (call it in the same `finally`).
 */
export function cleanupOnInterrupt(cleanup: () => Promise<void>): () => void {
  interruptCleanups.add(cleanup);
  return () => interruptCleanups.delete(cleanup);
}

async function interrupted(signal: NodeJS.Signals): Promise<void> {
  process.stderr.write(`bench: ${signal}, cleaning up\n`);
  const deadline = new Promise<void>((resolveDeadline) => setTimeout(resolveDeadline, 10_000).unref());
  await Promise.race([Promise.allSettled([...interruptCleanups].map((cleanup) => cleanup())), deadline]);
  process.exit(130);
}

/**
 * Runs a bench module as a script: `node dist/bench/<name>.js [--quick]`. Prints every table;
 * a failure is printed and sets exit code 1. On SIGINT/SIGTERM the registered cleanups run
 * (worker processes of the queue bench stop by themselves when their parent goes).
 */
export async function runAsScript(run: (options: BenchOptions) => Promise<BenchResult[]>): Promise<void> {
  process.once('SIGINT', (signal) => void interrupted(signal));
  process.once('SIGTERM', (signal) => void interrupted(signal));
  try {
    const results = await run({ quick: process.argv.includes('--quick') });
    for (const result of results) printTable(result);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolveSleep) => setTimeout(resolveSleep, ms));

/** Resolves true once `child` has exited, or false after `ms`. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });
}

/**
 * One consola instance for the whole program, with a tag per area (`server`, `worker`, `migrate`).
 * Lines go to stderr only: in `serve --stdio` stdout belongs to the MCP protocol. On a terminal a
 * line reads `12:00:00 INFO  [worker] Job done job_id=...`; elsewhere it is one JSON object.
 * Every line passes through `redact`, so a registered secret never reaches the output.
 */
import { type ConsolaInstance, createConsola, type LogObject } from 'consola';
import type { LogLevel } from './config.js';

const CONSOLA_LEVELS: Record<LogLevel, number> = { ERROR: 0, WARN: 1, INFO: 3, DEBUG: 4 };
const LEVEL_NAMES: Record<number, LogLevel> = {
  0: 'ERROR',
  1: 'WARN',
  2: 'INFO',
  3: 'INFO',
  4: 'DEBUG',
  5: 'DEBUG',
};

const secrets = new Set<string>();

/** Registers values (API keys, passwords, tokens) that must never appear in a log line. */
export function registerSecrets(...values: Array<string | undefined>): void {
  for (const value of values) if (value !== undefined && value.length >= 4) secrets.add(value);
}

/** Replaces every registered secret, and any password inside a URL, with `***`. */
export function redact(line: string): string {
  let out = line;
  for (const secret of secrets) out = out.split(secret).join('***');
  return out.replace(/(\/\/[^:/?#@\s"]*:)[^@/?#\s"]*@/g, '$1***@');
}

function splitArgs(args: unknown[]): { message: string; fields: Record<string, unknown> } {
  const words: string[] = [];
  const fields: Record<string, unknown> = {};
  for (const arg of args) {
    if (arg instanceof Error) {
      words.push(arg.message);
      if ('code' in arg && arg.code !== undefined) fields.code = arg.code;
    } else if (arg !== null && typeof arg === 'object') Object.assign(fields, arg);
    else words.push(String(arg));
  }
  return { message: words.join(' '), fields };
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

const jsonReporter = {
  log(entry: LogObject) {
    const { message, fields } = splitArgs(entry.args);
    const line = JSON.stringify({
      time: entry.date.toISOString(),
      level: LEVEL_NAMES[entry.level] ?? 'INFO',
      tag: entry.tag || undefined,
      msg: message,
      ...fields,
    });
    process.stderr.write(`${redact(line)}\n`);
  },
};

const textReporter = {
  log(entry: LogObject) {
    const { message, fields } = splitArgs(entry.args);
    const level = (LEVEL_NAMES[entry.level] ?? 'INFO').padEnd(5);
    const tag = entry.tag ? ` [${entry.tag}]` : '';
    const extra = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => ` ${key}=${formatValue(value)}`)
      .join('');
    const time = entry.date.toISOString().slice(11, 19);
    process.stderr.write(`${redact(`${time} ${level}${tag} ${message}${extra}`)}\n`);
  },
};

export const log: ConsolaInstance = createConsola({
  level: CONSOLA_LEVELS.INFO,
  reporters: [process.stderr.isTTY ? textReporter : jsonReporter],
});

const tagged: ConsolaInstance[] = [];

/**
 * A logger for one area (`server`, `worker`, ...). consola copies the level into a tagged
 * instance when it is made, and modules make theirs when they load, possibly before the level
 * is configured; so every tagged instance is kept here and follows `configureLogging`.
 */
export function taggedLogger(tag: string): ConsolaInstance {
  const instance = log.withTag(tag);
  tagged.push(instance);
  return instance;
}

/** Sets the level from the configuration; call once at start. */
export function configureLogging(level: LogLevel): void {
  log.level = CONSOLA_LEVELS[level];
  for (const instance of tagged) instance.level = CONSOLA_LEVELS[level];
}

/**
 * `memory export [--out FILE]` and `memory import FILE [--dry-run]` (domain/transfer/). Export
 * writes JSON Lines to the file (or stdout); import validates every line before writing any.
 * A summary goes to stdout (export to a file) or stderr (export to stdout) as one JSON line.
 */
import { once } from 'node:events';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Config } from '../config.js';
import { exportStore } from '../domain/transfer/export.js';
import { importFile } from '../domain/transfer/import.js';
import { LineError } from '../domain/transfer/lines.js';
import { describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { openIndexServices } from './index-services.js';

const logger = taggedLogger('transfer');

async function writeAll(out: Writable, line: string): Promise<void> {
  if (!out.write(line)) await once(out, 'drain');
}

/** Returns the exit code: 0 written, 1 failed. */
export async function runExportCommand(config: Config, options: { out?: string }): Promise<number> {
  const services = await openIndexServices(config, 'memory-export');
  // A file is written beside its final name and renamed when complete: a failed export leaves
  // no file that looks whole.
  const partial = options.out === undefined ? undefined : `${options.out}.partial`;
  const out: Writable = partial === undefined ? process.stdout : createWriteStream(partial);
  try {
    const counts = await exportStore(services.sql, (line) => writeAll(out, line));
    if (partial !== undefined) {
      out.end();
      await once(out, 'finish');
      renameSync(partial, options.out!);
    }
    const summary = `${JSON.stringify({ type: 'export', ...(options.out ? { file: options.out } : {}), records: counts })}\n`;
    (options.out === undefined ? process.stderr : process.stdout).write(summary);
    return 0;
  } catch (error) {
    logger.error(`export failed: ${describeError(error)}`);
    if (partial !== undefined) {
      out.destroy();
      rmSync(partial, { force: true });
    }
    return 1;
  } finally {
    await services.close();
  }
}

/** Returns the exit code: 0 imported (or valid, with --dry-run), 1 invalid file or failure. */
export async function runImportCommand(
  config: Config,
  options: { file: string; dryRun: boolean },
): Promise<number> {
  const services = await openIndexServices(config, 'memory-import');
  try {
    const { live, embedder } = services;
    if (
      !options.dryRun &&
      (live.space.provider !== embedder.space.provider ||
        live.space.model !== embedder.space.model ||
        live.space.dimensions !== embedder.space.dimensions)
    ) {
      process.stderr.write(
        `memory: the index is in ${live.space.provider}/${live.space.model} (${live.space.dimensions} dimensions) but the configuration embeds with ` +
          `${embedder.space.provider}/${embedder.space.model} (${embedder.space.dimensions} dimensions): run memory reindex first, or restore the embedding settings\n`,
      );
      return 1;
    }
    const report = await importFile({ sql: services.sql, vectors: live, embedder }, options.file, {
      dryRun: options.dryRun,
    });
    process.stdout.write(`${JSON.stringify({ type: 'import', file: options.file, ...report })}\n`);
    return 0;
  } catch (error) {
    if (error instanceof LineError) {
      process.stderr.write(
        `memory: VALIDATION_ERROR: ${options.file}: ${error.message}; nothing was imported\n`,
      );
      return 1;
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`memory: ${options.file}: no such file\n`);
      return 1;
    }
    logger.error(`import failed: ${describeError(error)}`);
    return 1;
  } finally {
    await services.close();
  }
}

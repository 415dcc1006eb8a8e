/**
 * `memory reindex [--only memories|history|artifacts] [--check] [--repair]`.
 *
 * Default: rebuild the vector collections from Postgres beside the live ones and switch
 * (domain/reindex/rebuild.ts). `--check`: compare the live index with Postgres and exit 1 if
 * anything is off. `--repair`: fix what `--check` finds without embedding everything again.
 * Progress is a bar on a terminal and JSON lines otherwise.
 */
import type { Config } from '../config.js';
import { KINDS, type KindName } from '../domain/reindex/kinds.js';
import { type RebuildProgress, rebuildIndex, reconcile } from '../domain/reindex/rebuild.js';
import { AppError, describeError } from '../errors.js';
import { taggedLogger } from '../log.js';
import { openIndexServices } from './index-services.js';
import { embedderFor } from './services.js';

const logger = taggedLogger('reindex');

export interface ReindexOptions {
  only?: KindName[];
  check: boolean;
  repair: boolean;
  batchSize?: number;
  /** Where progress goes (stderr); a TTY gets a bar, anything else JSON lines on stdout. */
  tty?: boolean;
}

function progressWriter(tty: boolean): (progress: RebuildProgress) => void {
  if (!tty)
    return (progress) => process.stdout.write(`${JSON.stringify({ type: 'progress', ...progress })}\n`);
  return (progress) => {
    const width = 30;
    const fraction = progress.total ? Math.min(1, progress.items / progress.total) : undefined;
    const bar =
      fraction === undefined
        ? `${'#'.repeat(progress.items % width).padEnd(width, '.')}`
        : `${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}`;
    process.stderr.write(
      `\r${progress.kind.padEnd(9)} [${bar}] ${String(progress.items).padStart(7)} ${progress.phase}${progress.resumed ? ' (resumed)' : ''}   ${progress.phase === 'done' ? '\n' : ''}`,
    );
  };
}

/** Returns the exit code: 0 done (or nothing found), 1 problems found or failure. */
export async function runReindexCommand(config: Config, options: ReindexOptions): Promise<number> {
  const services = await openIndexServices(config, 'memory-reindex');
  const kinds = (options.only?.length ? options.only : (Object.keys(KINDS) as KindName[])).map(
    (k) => KINDS[k],
  );
  const tty = options.tty ?? process.stderr.isTTY === true;
  try {
    if (options.check || options.repair) {
      const { live, sql } = services;
      const sameSpace =
        live.space.provider === services.embedder.space.provider &&
        live.space.model === services.embedder.space.model &&
        live.space.dimensions === services.embedder.space.dimensions;
      const embedder = sameSpace ? services.embedder : embedderFor(config, live.space);
      const context = { sql, embedder: embedder ?? services.embedder, source: live };
      const report: Array<Record<string, unknown>> = [];
      let problems = 0;
      let fixed = 0;
      for (const kind of kinds) {
        const findings = await kind.check(context, live);
        for (const f of findings) {
          const line = {
            collection: f.collection,
            scanned: f.scanned,
            orphans: f.orphans.length,
            missing: f.missing.length,
            other_space: f.otherSpace.length,
          };
          problems += line.orphans + line.missing + line.other_space;
          report.push(line);
        }
        if (
          options.repair &&
          findings.some((f) => f.orphans.length + f.missing.length + f.otherSpace.length > 0)
        ) {
          if (embedder === undefined) {
            throw new AppError(
              'EMBEDDING_SPACE_MISMATCH',
              `the index is in ${live.space.provider}/${live.space.model} (${live.space.dimensions} dimensions), which this configuration cannot embed with: run memory reindex (without --repair) to rebuild it in the configured space`,
            );
          }
          fixed += await reconcile(context, kind, live);
        }
      }
      const after = options.repair
        ? (await Promise.all(kinds.map((kind) => kind.check(context, live))))
            .flat()
            .reduce((n, f) => n + f.orphans.length + f.missing.length + f.otherSpace.length, 0)
        : problems;
      const summary = {
        type: options.repair ? 'repair' : 'check',
        index: live.description,
        space: live.space,
        configured_space: services.embedder.space,
        collections: report,
        problems,
        ...(options.repair ? { fixed, remaining: after } : {}),
        ...(sameSpace
          ? {}
          : { note: 'the index is in another embedding space than configured: run memory reindex' }),
      };
      process.stdout.write(`${JSON.stringify(summary, null, tty ? 2 : undefined)}\n`);
      return after > 0 || !sameSpace ? 1 : 0;
    }

    const result = await rebuildIndex(
      { sql: services.sql, embedder: services.embedder, live: services.live },
      {
        ...(options.only ? { only: options.only } : {}),
        pollMs: config.index.pollMs,
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        onProgress: progressWriter(tty),
      },
    );
    process.stdout.write(
      `${JSON.stringify({ type: 'reindex', space: result.space, kinds: result.kinds }, null, tty ? 2 : undefined)}\n`,
    );
    return 0;
  } catch (error) {
    logger.error(`reindex failed: ${describeError(error)}`);
    return 1;
  } finally {
    await services.close();
  }
}

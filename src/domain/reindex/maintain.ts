/**
 * What a running server does for its vector index: follow the active generations a reindex
 * switches to, and sweep what crashes and reindexes leave behind.
 */
import { describeError } from '../../errors.js';
import { taggedLogger } from '../../log.js';
import type { Embedder, EmbeddingSpace } from '../../providers/embedder.js';
import type { Sql } from '../../store/connect.js';
import {
  forgetGeneration,
  listGenerations,
  retiredBefore,
  withTryLock,
} from '../../store/vector-generations.js';
import { COLLECTIONS, type CollectionName, type Generations, type VectorIndex } from '../../vectors/index.js';
import { type Finding, KINDS } from './kinds.js';
import { activeGenerations } from './rebuild.js';

const logger = taggedLogger('index');

/** The parts of the services a switch replaces. */
export interface Switchable {
  readonly sql: Sql;
  vectors: VectorIndex;
  embedder: Embedder;
}

function sameGenerations(a: Generations, b: Generations): boolean {
  return COLLECTIONS.every((name) => (a[name] ?? 0) === (b[name] ?? 0));
}

function sameSpace(a: EmbeddingSpace, b: EmbeddingSpace): boolean {
  return a.provider === b.provider && a.model === b.model && a.dimensions === b.dimensions;
}

/**
 * Checks once whether a reindex switched the active generations and, if so, points `services`
 * at them (with an embedder of their space when it changed). Calls in flight finish with what
 * they started with; the next call uses the new collections. Answers whether it switched.
 */
export async function followGenerations(
  services: Switchable,
  embedderFor: (space: EmbeddingSpace) => Embedder | undefined,
): Promise<boolean> {
  const rows = await listGenerations(services.sql);
  const active = activeGenerations(rows);
  if (sameGenerations(active, services.vectors.generations)) return false;
  const row = rows.find((r) => r.state === 'active');
  const space: EmbeddingSpace =
    row === undefined
      ? services.vectors.space
      : {
          provider: row.embedding_provider as EmbeddingSpace['provider'],
          model: row.embedding_model,
          dimensions: row.embedding_dimensions,
        };
  const embedder = sameSpace(space, services.embedder.space) ? services.embedder : embedderFor(space);
  if (embedder === undefined) {
    logger.error(
      `The index was rebuilt in ${space.provider}/${space.model} (${space.dimensions} dimensions), which this server cannot embed with: ` +
        'restart it with the embedding settings the reindex used',
    );
    return false;
  }
  services.vectors = services.vectors.at(active, space);
  services.embedder = embedder;
  logger.info('Switched to the rebuilt vector collections', { generations: active, embedder: space.model });
  return true;
}

export interface SweepResult {
  /** Orphan vectors removed, by collection. */
  removed: Partial<Record<CollectionName, number>>;
  /** Retired collections dropped ("name@generation"). */
  dropped: string[];
}

/**
 * Removes vectors with no Postgres row written more than `graceSeconds` ago (younger ones may be
 * an ingest still in flight, whose Postgres transaction has not committed yet), and drops
 * collections a reindex retired that long ago. Under an advisory lock: with several servers, one
 * sweeps and the others skip (answering undefined).
 */
export async function sweepIndex(
  services: { sql: Sql; vectors: VectorIndex; embedder: Embedder },
  graceSeconds: number,
): Promise<SweepResult | undefined> {
  return withTryLock(services.sql, 'memory:index-sweep', async (sql) => {
    const result: SweepResult = { removed: {}, dropped: [] };
    const vectors = services.vectors;
    const findings: Finding[] = [];
    for (const kind of Object.values(KINDS)) {
      const context = { sql, embedder: services.embedder, source: vectors };
      const options = { olderThan: new Date(Date.now() - graceSeconds * 1000), orphansOnly: true };
      findings.push(...(await kind.check(context, vectors, options)));
    }
    for (const finding of findings) {
      if (finding.orphans.length === 0) continue;
      await vectors.delete(finding.collection, { ids: finding.orphans });
      result.removed[finding.collection] = finding.orphans.length;
    }
    for (const row of await retiredBefore(sql, graceSeconds)) {
      const name = row.collection as CollectionName;
      if ((vectors.generations[name] ?? 0) === row.generation) continue;
      await vectors.at({ [name]: row.generation }, vectors.space).drop(name);
      await forgetGeneration(sql, name, row.generation);
      result.dropped.push(`${name}@${row.generation}`);
    }
    return result;
  });
}

/**
 * Runs `followGenerations` every `pollMs` and `sweepIndex` every `sweepSeconds` (0: never) until
 * stopped. Failures are logged and retried at the next tick.
 */
export function maintainIndex(
  services: Switchable,
  options: {
    pollMs: number;
    sweepSeconds: number;
    graceSeconds: number;
    embedderFor: (space: EmbeddingSpace) => Embedder | undefined;
    onSweep?: (result: SweepResult) => void;
  },
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = (what: string, work: () => Promise<unknown>) => {
    if (stopped) return;
    running = running.then(work).catch((error: unknown) => {
      logger.warn(`Vector index ${what} failed; retrying later`, { error: describeError(error) });
    });
  };
  const follow = setInterval(
    () => run('generation check', () => followGenerations(services, options.embedderFor)),
    options.pollMs,
  );
  follow.unref();
  let sweep: NodeJS.Timeout | undefined;
  if (options.sweepSeconds > 0) {
    sweep = setInterval(
      () =>
        run('sweep', async () => {
          const result = await sweepIndex(services, options.graceSeconds);
          if (result === undefined) return;
          const removed = Object.values(result.removed).reduce((a, b) => a + (b ?? 0), 0);
          if (removed > 0 || result.dropped.length > 0) {
            logger.info('Swept the vector index', { removed: result.removed, dropped: result.dropped });
          }
          options.onSweep?.(result);
        }),
      options.sweepSeconds * 1000,
    );
    sweep.unref();
  }
  return {
    async stop() {
      stopped = true;
      clearInterval(follow);
      if (sweep) clearInterval(sweep);
      await running;
    },
  };
}

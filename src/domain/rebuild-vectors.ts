/**
 * Rebuilds the artifact vectors of an empty index from Postgres, which keeps the text and chunks
 * of every revision: each latest revision is embedded again and written as ingest writes it. Used
 * when a data folder from before (whose vectors lived in an embedded Chroma) first starts with the
 * vectors in PGlite.
 *
 * Memories and conversation turns are kept in the vector index alone (docs/architecture.md), so
 * they cannot be rebuilt from Postgres; what the old index held of them stays in its folder.
 */
import { describeError } from '../errors.js';
import { revisionChunks } from '../store/chunks.js';
import { countLatestRevisions, latestRevisionsPage } from '../store/latest-revisions.js';
import { artifactVectorRecords } from './artifact-records.js';
import type { Services } from './services.js';

const PAGE = 50;

export interface RebuildProgress {
  done: number;
  total: number;
  chunks: number;
}

/**
 * Re-embeds and indexes every latest revision. `onProgress` is called after each page;
 * `onFailure` for a revision that could not be indexed (the others go on).
 */
export async function rebuildArtifactVectors(
  services: Services,
  report: {
    /** Stops between two artifacts when aborted (the server is stopping). */
    signal?: AbortSignal;
    onProgress(progress: RebuildProgress): void;
    onFailure(artifactId: string, reason: string): void;
  },
): Promise<RebuildProgress & { failed: number }> {
  const { sql, vectors, embedder } = services;
  const total = await countLatestRevisions(sql);
  let done = 0;
  let chunks = 0;
  let failed = 0;
  let after = '';
  for (;;) {
    const page = await latestRevisionsPage(sql, after, PAGE);
    if (page.length === 0) break;
    for (const revision of page) {
      if (report.signal?.aborted) return { done, total, chunks, failed };
      try {
        const chunkRows = await revisionChunks(sql, revision.artifact_uid, revision.revision_id);
        const embeddings = await embedder.embed(
          chunkRows.map((chunk) => chunk.text),
          'document',
        );
        const { artifactRecord, chunkRecords } = artifactVectorRecords({
          revision,
          content: revision.content,
          chunks: chunkRows,
          embeddings,
          space: embedder.space,
          ingestedAt: revision.ingested_at,
        });
        await vectors.upsert('artifacts', [artifactRecord]);
        await vectors.upsert('artifact_chunks', chunkRecords);
        chunks += chunkRecords.length;
      } catch (error) {
        // One revision that cannot be embedded must not stop the others; ingesting it again
        // writes its vectors.
        failed++;
        report.onFailure(revision.artifact_id, describeError(error));
      }
      done++;
    }
    after = page[page.length - 1]!.artifact_uid;
    report.onProgress({ done, total, chunks });
  }
  return { done, total, chunks, failed };
}

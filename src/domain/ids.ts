/**
 * Identity of artifacts and revisions. An artifact with a source id is the same artifact every
 * time it is ingested (its uid hashes `source_system:source_id`); a revision is its content's
 * hash. Ids are 16 hex characters (64 bits) of a sha256: the original design used 8, and 32 bits
 * collide by the birthday bound at tens of thousands of artifacts.
 */
import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export function revisionIdOf(contentHash: string): string {
  return `rev_${contentHash.slice(0, 16)}`;
}

/**
 * The stable identity of an artifact that has a source id. Without one the uid is random (an
 * id-less note is a new artifact each time, unless its content is already stored, see ingest).
 */
export function artifactUidOf(sourceSystem: string, sourceId: string | undefined): string {
  if (sourceId === undefined) return `uid_${randomBytes(8).toString('hex')}`;
  return `uid_${sha256Hex(`${sourceSystem}:${sourceId}`).slice(0, 16)}`;
}

/**
 * The Chroma id. With a source id: sha256(`source_system:source_id`). Without one, of the
 * content, scoped by source system so the same text from two systems stays two artifacts.
 */
export function artifactIdOf(
  sourceSystem: string,
  sourceId: string | undefined,
  contentHash: string,
): string {
  return `art_${sha256Hex(`${sourceSystem}:${sourceId ?? contentHash}`).slice(0, 16)}`;
}

/** `{artifact_id}::chunk::{NNN}::{8 hex of the chunk's hash}` */
export function chunkIdOf(artifactId: string, index: number, chunkHash: string): string {
  return `${artifactId}::chunk::${String(index).padStart(3, '0')}::${chunkHash.slice(0, 8)}`;
}

/** The artifact id a chunk id begins with (`{artifact_id}::chunk::…`). */
export function artifactIdOfChunk(chunkId: string): string {
  const at = chunkId.indexOf('::chunk::');
  return at < 0 ? chunkId : chunkId.slice(0, at);
}

/** The latest revision of every artifact, a page at a time (for rebuilding a vector index). */
import type { Sql } from './connect.js';
import type { RevisionRow } from './revisions.js';

/** Latest revisions after `afterUid` in artifact_uid order, each with its full text. */
export async function latestRevisionsPage(
  sql: Sql,
  afterUid: string,
  limit: number,
): Promise<Array<RevisionRow & { content: string }>> {
  // Served by the partial unique index on artifact_revision (artifact_uid) where is_latest.
  return sql<Array<RevisionRow & { content: string }>>`
    select r.*, c.content
    from artifact_revision r
    join artifact_content c using (artifact_uid, revision_id)
    where r.is_latest and r.artifact_uid > ${afterUid}
    order by r.artifact_uid
    limit ${limit}`;
}

export async function countLatestRevisions(sql: Sql): Promise<number> {
  const [row] = await sql<Array<{ count: number }>>`
    select count(*)::int as count from artifact_revision where is_latest`;
  return row?.count ?? 0;
}

-- Evidence you can check, and know to be current. Two changes in one file: (1) evidence offsets
-- index the whole revision text; (2) every event carries its revision's is_latest, so event
-- search can answer from current revisions.
--
-- (1) content.slice(start_char, end_char) = quote, whether the revision is chunked or not;
-- chunk_id only names the chunk the quote came from.
--
-- Until now the worker stored offsets relative to the chunk (chunk_id not null), so a reader who
-- checked a quote against the document found other text. Every such row is moved by its chunk's
-- start. Chunk 0 starts at 0 and unchunked evidence (chunk_id null) was already absolute: both
-- stay as they are. Offsets are UTF-16 code units (JavaScript string indices) on both sides, so
-- plain integer addition is exact even where the text holds characters outside the BMP; SQL's
-- substr() counts code points and is used nowhere here for that reason.

-- A row that names a chunk its revision does not have, or whose span does not fit inside that
-- chunk, was not written chunk-relative by any version of the worker: moving it would turn one
-- error into another. Stop instead, and say how to find the rows.
DO $$
DECLARE
  misfits bigint;
BEGIN
  SELECT count(*) INTO misfits
  FROM event_evidence ev
  WHERE ev.chunk_id IS NOT NULL
    AND NOT EXISTS (
      SELECT 1 FROM artifact_chunk c
      WHERE c.artifact_uid = ev.artifact_uid AND c.revision_id = ev.revision_id AND c.chunk_id = ev.chunk_id
        AND ev.end_char <= c.end_char - c.start_char);
  IF misfits > 0 THEN
    -- The whole explanation is in the message: `memory migrate` prints the message, not the hint.
    RAISE EXCEPTION '% event_evidence rows do not fit inside the chunk they name, so their offsets cannot be '
      'made absolute. List them with: select ev.* from event_evidence ev left join artifact_chunk c using '
      '(artifact_uid, revision_id, chunk_id) where ev.chunk_id is not null and (c.chunk_id is null or '
      'ev.end_char > c.end_char - c.start_char); then re-extract their revisions (event_reextract with force) '
      'or delete those rows, and migrate again', misfits;
  END IF;
END
$$;

-- One pass over the evidence; artifact_chunk_chunk_id_idx finds each row's chunk.
UPDATE event_evidence ev
SET start_char = ev.start_char + c.start_char,
    end_char   = ev.end_char + c.start_char
FROM artifact_chunk c
WHERE ev.chunk_id IS NOT NULL
  AND c.artifact_uid = ev.artifact_uid AND c.revision_id = ev.revision_id AND c.chunk_id = ev.chunk_id
  AND c.start_char > 0;

-- From now on, evidence that names a chunk must lie inside it, in revision offsets. This is what
-- keeps a worker of the previous version, still running while this migration is applied during a
-- rolling upgrade, from writing chunk-relative offsets again: its offsets in any chunk but the
-- first start before the chunk does, so its write fails (a transient error: the job is retried,
-- by then by an upgraded worker) instead of storing quotes that point at the wrong text. A span
-- in the overlap at the very start of chunk 1 could still slip through; checking the quote text
-- itself would need UTF-16 offsets, which SQL does not have.
-- Cost: one probe of artifact_chunk_chunk_id_idx per evidence row that names a chunk (0.1 ms at
-- 100k chunks); unchunked evidence skips the trigger (its WHEN clause), and a job writes a handful
-- of rows.
CREATE FUNCTION event_evidence_inside_chunk() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM artifact_chunk c
    WHERE c.artifact_uid = NEW.artifact_uid AND c.revision_id = NEW.revision_id AND c.chunk_id = NEW.chunk_id
      AND c.start_char <= NEW.start_char AND NEW.end_char <= c.end_char
  ) THEN
    RAISE EXCEPTION 'evidence [%, %) does not lie inside chunk % of revision %/%: start_char and end_char '
      'are offsets into the whole revision text', NEW.start_char, NEW.end_char, NEW.chunk_id,
      NEW.artifact_uid, NEW.revision_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER event_evidence_inside_chunk
  BEFORE INSERT OR UPDATE OF chunk_id, start_char, end_char ON event_evidence
  FOR EACH ROW WHEN (NEW.chunk_id IS NOT NULL)
  EXECUTE FUNCTION event_evidence_inside_chunk();

-- (2) Current vs superseded: every event says whether its revision is its artifact's latest, and
-- event search answers from latest revisions unless asked for superseded ones.
--
-- The flag is kept on semantic_event itself, maintained by the triggers below, rather than read
-- through a join with artifact_revision at search time. The join was tried first: counting the
-- matches of a category or a time range then needed every matching event's revision, so the
-- index-only scans of those counts became heap scans plus a hash of all latest revisions
-- (bench/event-search.ts data, 100k events, p50 side by side on one loaded 2-core machine:
-- category 124 ms against 19 ms without the filter, time range 68 against 12), and the hash
-- grows with the number of revisions. With the flag in the indexes below (INCLUDE), those counts
-- stay index-only and the latest-only filter costs next to nothing.
ALTER TABLE semantic_event ADD COLUMN is_latest boolean NOT NULL DEFAULT true;

UPDATE semantic_event e SET is_latest = false
FROM artifact_revision r
WHERE r.artifact_uid = e.artifact_uid AND r.revision_id = e.revision_id AND NOT r.is_latest;

-- An event takes its revision's flag when it is written, whoever writes it. FOR SHARE holds the
-- revision row until the writing transaction ends, so an ingest that makes the revision
-- superseded waits, then its own trigger (below) sees the new events and flips them; an ingest
-- that committed first is seen here. Writers that delete a revision's events before inserting
-- new ones lock the revision first (store/events.ts), so the two never wait on each other.
CREATE FUNCTION semantic_event_take_is_latest() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  latest boolean;
BEGIN
  SELECT r.is_latest INTO latest
  FROM artifact_revision r
  WHERE r.artifact_uid = NEW.artifact_uid AND r.revision_id = NEW.revision_id
  FOR SHARE;
  -- No revision: leave the row as it is, and let the foreign key say what is wrong.
  IF FOUND THEN
    NEW.is_latest := latest;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER semantic_event_take_is_latest
  BEFORE INSERT OR UPDATE OF artifact_uid, revision_id, is_latest ON semantic_event
  FOR EACH ROW EXECUTE FUNCTION semantic_event_take_is_latest();

-- A revision that stops (or, reverted to, starts again) being the latest takes its events along.
-- semantic_event_revision_idx finds them.
CREATE FUNCTION artifact_revision_share_is_latest() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE semantic_event SET is_latest = NEW.is_latest
  WHERE artifact_uid = NEW.artifact_uid AND revision_id = NEW.revision_id AND is_latest <> NEW.is_latest;
  RETURN NULL;
END;
$$;

CREATE TRIGGER artifact_revision_share_is_latest
  AFTER UPDATE OF is_latest ON artifact_revision
  FOR EACH ROW WHEN (OLD.is_latest IS DISTINCT FROM NEW.is_latest)
  EXECUTE FUNCTION artifact_revision_share_is_latest();

-- The indexes that serve counts and orders carry the flag, so that filtering on it needs no heap
-- access: category counts and time-range counts stay index-only scans, and so does the count of
-- an unfiltered search (over the revision index, the smallest).
DROP INDEX semantic_event_category_time_idx;
CREATE INDEX semantic_event_category_time_idx ON semantic_event (category, event_time DESC NULLS LAST)
  INCLUDE (is_latest);
DROP INDEX semantic_event_time_idx;
CREATE INDEX semantic_event_time_idx ON semantic_event (event_time DESC NULLS LAST, created_at DESC)
  INCLUDE (is_latest);
DROP INDEX semantic_event_revision_idx;
CREATE INDEX semantic_event_revision_idx ON semantic_event (artifact_uid, revision_id) INCLUDE (is_latest);

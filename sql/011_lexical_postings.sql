-- Term statistics for the lexical (BM25) channel, kept at write time: one posting per (lexeme,
-- searchable row), ordered by the lexeme's weight in that row. A search reads the best postings of
-- each query term from the top of an index, so its cost no longer grows with how many rows hold
-- the term (store/lexical.ts). The GIN indexes on `text_tsv` stay: filtered searches use them.
--
-- Which rows have postings: the chunks of the latest revision of every artifact, every memory and
-- every conversation turn. Triggers keep them equal to those rows in every transaction that
-- writes them (ingest, a new revision, delete, import, the copy from an old vector store).
--
-- `impact` is the term-frequency part of BM25 (k1 1.2, b 0.75) with a fixed reference length per
-- table, so that a posting never needs rewriting as the corpus grows. It only orders a term's
-- postings. Each posting also carries the term's count in the row (`tf`) and the row's length
-- (`dl`), so a search can score rows from the index alone with the live average length.
--
-- Postings are inserted without ON CONFLICT: a row gets its postings once (a chunk only when its
-- revision is the latest, a revision that becomes the latest only from chunks written before),
-- so a duplicate would be a bug to surface, and ON CONFLICT would cost one more index probe per
-- posting on every ingest.

-- BM25's tf part for a term found `tf` times in a row of `dl` lexeme occurrences.
CREATE FUNCTION lexical_impact(tf integer, dl integer, reference_length float8) RETURNS real
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / reference_length)))::real
$$;

-- The postings of one row: (lexeme, impact, tf) for each lexeme of its tsvector, `dl` being the
-- row's stored `text_length`. A lexeme without positions counts once.
CREATE FUNCTION lexical_postings(tsv tsvector, dl integer, reference_length float8)
RETURNS TABLE (lexeme text, impact real, tf smallint)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT u.lexeme, lexical_impact(coalesce(array_length(u.positions, 1), 1), dl, reference_length),
         coalesce(array_length(u.positions, 1), 1)::smallint
  FROM unnest(tsv) u
$$;

-- The keys lead with (lexeme, impact descending): "the best postings of a term" is the start of
-- one key range, read in the order a search breaks ties (impact, then the row's key), a term's
-- document frequency an index-only count of the range, and a row's postings are found again from
-- its tsvector (deletes probe the exact keys). tf and dl are INCLUDEd: scoring reads the index only.
-- An index-only scan reads the row itself wherever the visibility map does not yet say its page is
-- all-visible, which only VACUUM sets: right after a bulk load, BM25 over 100,000 turns took
-- 58 ms at p50 against 4.7 ms after `vacuum analyze`. Autovacuum therefore visits these tables
-- after 1 % growth rather than the default 20 %; a vacuum of pages already all-visible is skipped.
CREATE TABLE chunk_posting (
  lexeme       text    NOT NULL,
  impact       real    NOT NULL,
  artifact_uid text    NOT NULL,
  chunk_index  integer NOT NULL,
  tf           smallint NOT NULL,
  dl           integer NOT NULL
) WITH (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);
CREATE UNIQUE INDEX chunk_posting_key ON chunk_posting (lexeme, impact DESC, artifact_uid, chunk_index)
  INCLUDE (tf, dl);

CREATE TABLE memory_posting (
  lexeme    text NOT NULL,
  impact    real NOT NULL,
  memory_id text NOT NULL,
  tf        smallint NOT NULL,
  dl        integer NOT NULL
) WITH (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);
CREATE UNIQUE INDEX memory_posting_key ON memory_posting (lexeme, impact DESC, memory_id) INCLUDE (tf, dl);

CREATE TABLE turn_posting (
  lexeme  text NOT NULL,
  impact  real NOT NULL,
  turn_id text NOT NULL,
  tf      smallint NOT NULL,
  dl      integer NOT NULL
) WITH (autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_scale_factor = 0.01);
CREATE UNIQUE INDEX turn_posting_key ON turn_posting (lexeme, impact DESC, turn_id) INCLUDE (tf, dl);

-- Reference lengths (lexeme occurrences): a chunk of prose, a one-sentence memory, a turn.
CREATE FUNCTION chunk_posting_add(uid text, revision text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO chunk_posting (lexeme, impact, artifact_uid, chunk_index, tf, dl)
  SELECT p.lexeme, p.impact, c.artifact_uid, c.chunk_index, p.tf, c.text_length
  FROM artifact_chunk c, lexical_postings(c.text_tsv, c.text_length, 100) p
  WHERE c.artifact_uid = uid AND c.revision_id = revision
$$;

CREATE FUNCTION chunk_posting_remove(uid text, chunk integer, tsv tsvector, text_length integer) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM chunk_posting d
  USING lexical_postings(tsv, text_length, 100) p
  WHERE d.lexeme = p.lexeme AND d.impact = p.impact AND d.artifact_uid = uid AND d.chunk_index = chunk
$$;

-- A chunk gets postings when its revision is the latest; a revision that stops (or starts again)
-- being the latest takes its chunks' postings with it. Ingest flips the old revision first, then
-- writes the new one and its chunks (store/revisions.ts).
CREATE FUNCTION chunk_posting_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'artifact_revision' THEN
    IF NEW.is_latest THEN
      PERFORM chunk_posting_add(NEW.artifact_uid, NEW.revision_id);
    ELSE
      PERFORM chunk_posting_remove(c.artifact_uid, c.chunk_index, c.text_tsv, c.text_length)
      FROM artifact_chunk c
      WHERE c.artifact_uid = NEW.artifact_uid AND c.revision_id = NEW.revision_id;
    END IF;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO chunk_posting (lexeme, impact, artifact_uid, chunk_index, tf, dl)
    SELECT p.lexeme, p.impact, NEW.artifact_uid, NEW.chunk_index, p.tf, NEW.text_length
    FROM lexical_postings(NEW.text_tsv, NEW.text_length, 100) p
    WHERE EXISTS (
      SELECT 1 FROM artifact_revision r
      WHERE r.artifact_uid = NEW.artifact_uid AND r.revision_id = NEW.revision_id AND r.is_latest);
  ELSE
    -- A deleted chunk (also when its revision is deleted, by cascade): its postings, if any.
    PERFORM chunk_posting_remove(OLD.artifact_uid, OLD.chunk_index, OLD.text_tsv, OLD.text_length);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER chunk_posting_keep AFTER INSERT OR DELETE ON artifact_chunk
FOR EACH ROW EXECUTE FUNCTION chunk_posting_keep();

CREATE TRIGGER chunk_posting_keep AFTER UPDATE OF is_latest ON artifact_revision
FOR EACH ROW WHEN (OLD.is_latest IS DISTINCT FROM NEW.is_latest) EXECUTE FUNCTION chunk_posting_keep();

CREATE FUNCTION memory_posting_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM memory_posting d
    USING lexical_postings(OLD.text_tsv, OLD.text_length, 20) p
    WHERE d.lexeme = p.lexeme AND d.impact = p.impact AND d.memory_id = OLD.memory_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO memory_posting (lexeme, impact, memory_id, tf, dl)
    SELECT p.lexeme, p.impact, NEW.memory_id, p.tf, NEW.text_length FROM lexical_postings(NEW.text_tsv, NEW.text_length, 20) p;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER memory_posting_keep AFTER INSERT OR DELETE OR UPDATE OF content, memory_id ON memory
FOR EACH ROW EXECUTE FUNCTION memory_posting_keep();

CREATE FUNCTION turn_posting_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM turn_posting d
    USING lexical_postings(OLD.text_tsv, OLD.text_length, 20) p
    WHERE d.lexeme = p.lexeme AND d.impact = p.impact AND d.turn_id = OLD.turn_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO turn_posting (lexeme, impact, turn_id, tf, dl)
    SELECT p.lexeme, p.impact, NEW.turn_id, p.tf, NEW.text_length FROM lexical_postings(NEW.text_tsv, NEW.text_length, 20) p;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER turn_posting_keep AFTER INSERT OR DELETE OR UPDATE OF content, conversation_id, turn_index
ON conversation_turn FOR EACH ROW EXECUTE FUNCTION turn_posting_keep();

-- What was written before this migration.
INSERT INTO chunk_posting (lexeme, impact, artifact_uid, chunk_index, tf, dl)
SELECT p.lexeme, p.impact, c.artifact_uid, c.chunk_index, p.tf, c.text_length
FROM artifact_revision r
JOIN artifact_chunk c ON c.artifact_uid = r.artifact_uid AND c.revision_id = r.revision_id,
     lexical_postings(c.text_tsv, c.text_length, 100) p
WHERE r.is_latest;

INSERT INTO memory_posting (lexeme, impact, memory_id, tf, dl)
SELECT p.lexeme, p.impact, m.memory_id, p.tf, m.text_length FROM memory m, lexical_postings(m.text_tsv, m.text_length, 20) p;

INSERT INTO turn_posting (lexeme, impact, turn_id, tf, dl)
SELECT p.lexeme, p.impact, t.turn_id, p.tf, t.text_length FROM conversation_turn t, lexical_postings(t.text_tsv, t.text_length, 20) p;

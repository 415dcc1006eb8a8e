-- Artifact revisions: the source of truth for what was ingested. Chroma holds the vectors and
-- the latest text for search; Postgres keeps every revision's full text and chunks so that the
-- evidence of an old revision stays readable and the lexical search channel has an index.

CREATE TABLE artifact_revision (
  artifact_uid     text        NOT NULL CHECK (artifact_uid ~ '^uid_[0-9a-f]{16}$'),
  revision_id      text        NOT NULL CHECK (revision_id ~ '^rev_[0-9a-f]{16}$'),
  artifact_id      text        NOT NULL CHECK (artifact_id ~ '^art_[0-9a-f]{16}$'),
  artifact_type    text        NOT NULL CHECK (artifact_type IN ('email', 'doc', 'chat', 'transcript', 'note')),
  source_system    text        NOT NULL CHECK (length(source_system) BETWEEN 1 AND 100),
  source_id        text,
  source_url       text,
  source_ts        timestamptz,
  title            text,
  author           text,
  participants     jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(participants) = 'array'),
  content_hash     text        NOT NULL,
  token_count      integer     NOT NULL CHECK (token_count >= 0),
  is_chunked       boolean     NOT NULL,
  chunk_count      integer     NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
  sensitivity      text        NOT NULL DEFAULT 'normal'
                   CHECK (sensitivity IN ('normal', 'sensitive', 'highly_sensitive')),
  visibility_scope text        NOT NULL DEFAULT 'me' CHECK (visibility_scope IN ('me', 'team', 'org', 'custom')),
  retention_policy text        NOT NULL DEFAULT 'forever'
                   CHECK (retention_policy IN ('forever', '1y', 'until_resolved', 'custom')),
  is_latest        boolean     NOT NULL DEFAULT true,
  ingested_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (artifact_uid, revision_id),
  CHECK ((is_chunked AND chunk_count >= 1) OR (NOT is_chunked AND chunk_count = 0))
);

-- At most one latest revision per artifact: ingesting a new revision flips the old one in the
-- same transaction, and two racing ingests of the same artifact cannot both win.
CREATE UNIQUE INDEX artifact_revision_latest_idx ON artifact_revision (artifact_uid) WHERE is_latest;
CREATE INDEX artifact_revision_artifact_id_idx ON artifact_revision (artifact_id);
-- Id-less artifacts are deduplicated by content within a source system.
CREATE INDEX artifact_revision_content_idx ON artifact_revision (source_system, content_hash) WHERE source_id IS NULL;

-- The full text of every revision.
CREATE TABLE artifact_content (
  artifact_uid text NOT NULL,
  revision_id  text NOT NULL,
  content      text NOT NULL,
  PRIMARY KEY (artifact_uid, revision_id),
  FOREIGN KEY (artifact_uid, revision_id) REFERENCES artifact_revision ON DELETE CASCADE
);

-- Number of lexeme occurrences in a tsvector: the document length of BM25 scoring.
CREATE FUNCTION tsvector_occurrences(tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest($1)
$$;

-- Every revision's pieces with exact offsets (content.slice(start_char, end_char) = text).
-- An unchunked revision has one piece whose chunk_id is the artifact id. `text_tsv` and
-- `text_length` serve the lexical (BM25) channel of hybrid search.
CREATE TABLE artifact_chunk (
  artifact_uid text    NOT NULL,
  revision_id  text    NOT NULL,
  chunk_index  integer NOT NULL CHECK (chunk_index >= 0),
  chunk_id     text    NOT NULL,
  start_char   integer NOT NULL CHECK (start_char >= 0),
  end_char     integer NOT NULL,
  token_count  integer NOT NULL CHECK (token_count >= 0),
  content_hash text    NOT NULL,
  text         text    NOT NULL,
  text_tsv     tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
  text_length  integer  GENERATED ALWAYS AS (tsvector_occurrences(to_tsvector('english', text))) STORED,
  PRIMARY KEY (artifact_uid, revision_id, chunk_index),
  FOREIGN KEY (artifact_uid, revision_id) REFERENCES artifact_revision ON DELETE CASCADE,
  CHECK (start_char < end_char)
);

-- fastupdate off, as for event narratives (003): ingest inserts chunks continuously, and the
-- lexical channel of every search would otherwise scan the GIN pending list.
CREATE INDEX artifact_chunk_tsv_idx ON artifact_chunk USING gin (text_tsv) WITH (fastupdate = off);
CREATE INDEX artifact_chunk_chunk_id_idx ON artifact_chunk (chunk_id);

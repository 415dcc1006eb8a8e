-- Memories and conversation turns in Postgres, the source of truth (and so in every pg_dump).
-- The vector index holds their vectors under the same ids (`memory_id`, `turn_id`); search
-- results from it are always checked against these tables. `text_tsv` and `text_length` serve
-- the lexical (BM25) channel exactly as artifact_chunk's do (store/lexical.ts).

CREATE TABLE memory (
  memory_id       text        PRIMARY KEY CHECK (memory_id ~ '^mem_[0-9a-f]{12}$'),
  content         text        NOT NULL CHECK (length(content) >= 1),
  type            text        NOT NULL CHECK (type IN ('preference', 'fact', 'project', 'decision')),
  confidence      float8      NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  conversation_id text,
  tags            text[]      NOT NULL DEFAULT '{}',
  metadata        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  ts              timestamptz NOT NULL DEFAULT now(),
  text_tsv        tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
  text_length     integer  GENERATED ALWAYS AS (tsvector_occurrences(to_tsvector('english', content))) STORED
);

-- memory_list: newest first, all or of one type, read from the top of an index (flat cost).
CREATE INDEX memory_ts_idx ON memory (ts DESC, memory_id DESC);
CREATE INDEX memory_type_ts_idx ON memory (type, ts DESC, memory_id DESC);
CREATE INDEX memory_tsv_idx ON memory USING gin (text_tsv) WITH (fastupdate = off);

-- memory_list's `total` without counting the table: one row per type, kept by a trigger. A
-- count(*) grows with the table (about 1 ms per 10k rows), which alone would break the flat cost
-- memory_list promises.
CREATE TABLE memory_count (
  type text   PRIMARY KEY,
  n    bigint NOT NULL DEFAULT 0 CHECK (n >= 0)
);

CREATE FUNCTION memory_count_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE memory_count SET n = n - 1 WHERE type = OLD.type;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO memory_count AS c (type, n) VALUES (NEW.type, 1)
    ON CONFLICT (type) DO UPDATE SET n = c.n + 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER memory_count_keep AFTER INSERT OR DELETE OR UPDATE OF type ON memory
FOR EACH ROW EXECUTE FUNCTION memory_count_keep();

-- One row per turn; appending the same (conversation_id, turn_index) again replaces it.
-- `ts` is when the turn was said (the caller's clock, default the time of the append).
CREATE TABLE conversation_turn (
  conversation_id text        NOT NULL CHECK (length(conversation_id) BETWEEN 1 AND 100),
  turn_index      integer     NOT NULL CHECK (turn_index >= 0),
  turn_id         text        GENERATED ALWAYS AS (conversation_id || '_turn_' || turn_index::text) STORED,
  role            text        NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  speaker         text        CHECK (length(speaker) BETWEEN 1 AND 100),
  content         text        NOT NULL CHECK (length(content) >= 1),
  ts              timestamptz NOT NULL DEFAULT now(),
  metadata        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  written_at      timestamptz NOT NULL DEFAULT now(),
  text_tsv        tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
  text_length     integer  GENERATED ALWAYS AS (tsvector_occurrences(to_tsvector('english', content))) STORED,
  -- history_get reads the newest turns of one conversation from the end of this index.
  PRIMARY KEY (conversation_id, turn_index)
);

CREATE UNIQUE INDEX conversation_turn_id_idx ON conversation_turn (turn_id);
CREATE INDEX conversation_turn_tsv_idx ON conversation_turn USING gin (text_tsv) WITH (fastupdate = off);
-- history_search's time filters across conversations.
CREATE INDEX conversation_turn_ts_idx ON conversation_turn (ts);

-- Which index collections were copied into these tables: stores written before this migration
-- kept memories and turns in the vector index alone. The copy runs once, at start.
CREATE TABLE vector_copy (
  collection text        PRIMARY KEY CHECK (collection IN ('memory', 'history')),
  copied     integer     NOT NULL CHECK (copied >= 0),
  copied_at  timestamptz NOT NULL DEFAULT now()
);

-- Which physical collection of the vector index each logical collection reads from, so that
-- `memory reindex` can build new collections beside the live ones and switch in one statement.
--
-- Generation 0 is the collection's plain name (what every deployment before this migration has);
-- generation n > 0 is "<name>_g<n>". A collection with no 'active' row is at generation 0. Rows:
--   building: being filled by a reindex; `resume_after` is where a killed reindex starts again
--   active:   what the servers read and write (at most one per collection)
--   retired:  replaced by a newer generation; dropped once `state_changed_at` is older than the
--             sweep's grace period, so servers that had not yet seen the switch keep answering.
CREATE TABLE vector_generation (
  collection           text        NOT NULL CHECK (collection IN ('memory', 'history', 'artifacts', 'artifact_chunks')),
  generation           integer     NOT NULL CHECK (generation >= 0),
  state                text        NOT NULL CHECK (state IN ('building', 'active', 'retired')),
  embedding_provider   text        NOT NULL,
  embedding_model      text        NOT NULL,
  embedding_dimensions integer     NOT NULL CHECK (embedding_dimensions > 0),
  resume_after         text,
  items_done           bigint      NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL DEFAULT now(),
  state_changed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, generation)
);

CREATE UNIQUE INDEX vector_generation_active_idx ON vector_generation (collection) WHERE state = 'active';
CREATE UNIQUE INDEX vector_generation_building_idx ON vector_generation (collection) WHERE state = 'building';

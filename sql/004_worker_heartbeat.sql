-- One row per worker process, refreshed every few seconds; `memory check --service worker` and
-- /health read it.

CREATE TABLE worker_heartbeat (
  worker_id    text        PRIMARY KEY,
  hostname     text,
  pid          integer,
  started_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  jobs_done    bigint      NOT NULL DEFAULT 0,
  jobs_failed  bigint      NOT NULL DEFAULT 0
);

CREATE INDEX worker_heartbeat_seen_idx ON worker_heartbeat (last_seen_at DESC);

-- Every `plugboard serve` registers itself at start and heartbeats while it runs; queues and
-- plugins are JSON arrays. last_seen_at is the database's clock, so skewed nodes agree.
CREATE TABLE nodes (
    id           text        PRIMARY KEY,
    hostname     text        NOT NULL,
    pid          bigint      NOT NULL,
    version      text        NOT NULL,
    listen       text        NOT NULL,
    queues       jsonb       NOT NULL,
    plugins      jsonb       NOT NULL,
    heartbeat_ms bigint      NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
CREATE INDEX nodes_last_seen ON nodes (last_seen_at);

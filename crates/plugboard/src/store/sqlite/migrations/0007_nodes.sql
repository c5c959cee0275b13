-- Every `plugboard serve` registers itself at start and heartbeats while it runs. Times are
-- microseconds since the Unix epoch (UTC); queues and plugins are JSON arrays.
CREATE TABLE nodes (
    id           TEXT    PRIMARY KEY,
    hostname     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    listen       TEXT    NOT NULL,
    queues       TEXT    NOT NULL,
    plugins      TEXT    NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    stopped_at   INTEGER
);
CREATE INDEX nodes_last_seen ON nodes (last_seen_at);

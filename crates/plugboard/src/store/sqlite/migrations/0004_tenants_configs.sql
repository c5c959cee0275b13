-- Tenants, their plugin configs with schedule cursors, and event delivery. Times are
-- microseconds since the Unix epoch (UTC).
CREATE TABLE tenants (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE configs (
    id             TEXT    PRIMARY KEY,
    tenant         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    plugin         TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    config_values  TEXT    NOT NULL,
    enabled        INTEGER NOT NULL,
    schedule       TEXT,
    events         TEXT    NOT NULL,
    invalid_reason TEXT,
    last_fire_at   INTEGER,
    next_fire_at   INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (tenant, plugin, name)
);
-- The scheduler asks every tick which configs are due: only runnable ones are indexed.
CREATE INDEX configs_due ON configs (next_fire_at)
    WHERE enabled = 1 AND invalid_reason IS NULL AND next_fire_at IS NOT NULL;
CREATE INDEX configs_subscribed ON configs (tenant) WHERE events <> '[]';

-- An event is delivered once its jobs are enqueued; until then a node finishes its fan-out.
ALTER TABLE events ADD COLUMN delivered_at INTEGER;
ALTER TABLE events ADD COLUMN deliveries INTEGER;
CREATE INDEX events_undelivered ON events (id) WHERE delivered_at IS NULL;
CREATE INDEX events_created ON events (created_at);

-- "Is a run of this config still going?" for the overlap policy.
CREATE INDEX jobs_config_active ON jobs (config) WHERE status IN ('queued', 'running') AND config IS NOT NULL;

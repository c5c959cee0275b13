-- Tenants, their plugin configs with schedule cursors, and event delivery.
CREATE TABLE tenants (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE configs (
    id             text        PRIMARY KEY,
    tenant         text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    plugin         text        NOT NULL,
    name           text        NOT NULL,
    config_values  jsonb       NOT NULL,
    enabled        boolean     NOT NULL,
    schedule       jsonb,
    events         text[]      NOT NULL,
    invalid_reason text,
    last_fire_at   timestamptz,
    next_fire_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, plugin, name)
);
-- The scheduler asks every tick which configs are due: only runnable ones are indexed.
CREATE INDEX configs_due ON configs (next_fire_at)
    WHERE enabled AND invalid_reason IS NULL AND next_fire_at IS NOT NULL;
CREATE INDEX configs_subscribed ON configs (tenant) WHERE cardinality(events) > 0;

-- An event is delivered once its jobs are enqueued; until then a node finishes its fan-out.
ALTER TABLE events ADD COLUMN delivered_at timestamptz;
ALTER TABLE events ADD COLUMN deliveries bigint;
CREATE INDEX events_undelivered ON events (id) WHERE delivered_at IS NULL;
CREATE INDEX events_created ON events (created_at);

-- "Is a run of this config still going?" for the overlap policy.
CREATE INDEX jobs_config_active ON jobs (config) WHERE status IN ('queued', 'running') AND config IS NOT NULL;

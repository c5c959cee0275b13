-- Plugin key-value storage, scoped to (plugin, tenant); '' is "no tenant".
CREATE TABLE kv (
    plugin     text        NOT NULL,
    tenant     text        NOT NULL,
    key        text        NOT NULL,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, tenant, key)
);

-- Events, from the API or a plugin's `emit`. A repeated idempotency key of a tenant is the same event.
CREATE TABLE events (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant          text        NOT NULL,
    type            text        NOT NULL,
    payload         jsonb       NOT NULL,
    idempotency_key text,
    source          text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX events_idempotency ON events (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- What each plugin declared at its last handshake, and from which package it came.
CREATE TABLE plugin_metadata (
    plugin     text        PRIMARY KEY,
    version    text        NOT NULL,
    checksum   text        NOT NULL,
    state      text        NOT NULL CHECK (state IN ('fresh', 'stale', 'error')),
    metadata   jsonb,
    error      text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

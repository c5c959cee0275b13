-- Plugin key-value storage, scoped to (plugin, tenant); '' is "no tenant".
CREATE TABLE kv (
    plugin     TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, tenant, key)
) WITHOUT ROWID;

-- Events, from the API or a plugin's `emit`. A repeated idempotency key of a tenant is the same event.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant          TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    idempotency_key TEXT,
    source          TEXT,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_idempotency ON events (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- What each plugin declared at its last handshake, and from which package it came.
CREATE TABLE plugin_metadata (
    plugin     TEXT    PRIMARY KEY,
    version    TEXT    NOT NULL,
    checksum   TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    metadata   TEXT,
    error      TEXT,
    updated_at INTEGER NOT NULL
);

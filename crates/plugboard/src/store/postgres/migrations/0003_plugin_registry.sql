-- The plugin registry: what is installed, which version is active, and the state the host keeps.
CREATE TABLE plugins (
    id               text        PRIMARY KEY,
    active_version   text,
    previous_version text,
    state            text        NOT NULL CHECK (state IN ('installing', 'enabled', 'disabled', 'failed')),
    error            text,
    source           text,
    changed_by       bigint,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Every installed version's archive, so any node can unpack it.
CREATE TABLE plugin_packages (
    plugin     text        NOT NULL,
    version    text        NOT NULL,
    sha256     text        NOT NULL,
    archive    bytea       NOT NULL,
    manifest   text        NOT NULL,
    source     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, version)
);

-- One admin job at a time per plugin. A row whose job is no longer queued or running is free.
CREATE TABLE plugin_locks (
    plugin      text        PRIMARY KEY,
    job         bigint      NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);

-- The plugin registry: what is installed, which version is active, and the state the host keeps.
CREATE TABLE plugins (
    id               TEXT    PRIMARY KEY,
    active_version   TEXT,
    previous_version TEXT,
    state            TEXT    NOT NULL,
    error            TEXT,
    source           TEXT,
    changed_by       INTEGER,
    updated_at       INTEGER NOT NULL
);

-- Every installed version's archive, so any node can unpack it.
CREATE TABLE plugin_packages (
    plugin     TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,
    archive    BLOB    NOT NULL,
    manifest   TEXT    NOT NULL,
    source     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, version)
);

-- One admin job at a time per plugin. A row whose job is no longer queued or running is free.
CREATE TABLE plugin_locks (
    plugin      TEXT    PRIMARY KEY,
    job         INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL
);

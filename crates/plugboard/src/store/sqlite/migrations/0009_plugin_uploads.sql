-- Packages uploaded through the API, kept until their install or update job ends, so that the job
-- can run on any node (not only the one that received the upload). Times are microseconds since
-- the Unix epoch (UTC).
CREATE TABLE plugin_uploads (
    name       TEXT    PRIMARY KEY,
    sha256     TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

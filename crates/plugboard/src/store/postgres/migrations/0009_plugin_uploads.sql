-- Packages uploaded through the API, kept until their install or update job ends, so that the job
-- can run on any node (not only the one that received the upload).
CREATE TABLE plugin_uploads (
    name       text        PRIMARY KEY,
    sha256     text        NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

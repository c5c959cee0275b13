-- The position of each job's latest change: the id of the transaction that made it. Readers that
-- follow changes (`GET /api/v1/jobs/changes`) see only changes of transactions older than every
-- transaction still running, so a late commit never lands behind a reader. Jobs from before this
-- migration sit at position 0: a reader starting from the beginning sees them first.
ALTER TABLE jobs ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ALTER COLUMN change_seq SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX jobs_changes ON jobs (change_seq, id);

-- The position of each job's latest change, for readers that follow changes and resume where they
-- stopped (`GET /api/v1/jobs/changes`). Jobs from before this migration sit at position 0: a
-- reader starting from the beginning sees them first, in their current state.
ALTER TABLE jobs ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;

-- One row: the last change number handed out. Each write that changes jobs bumps it inside its
-- transaction; writers are serialized, so numbers follow commit order.
CREATE TABLE job_change_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO job_change_counter (id, seq) VALUES (1, 0);

-- The rowid (the job id) rides along, so this serves `ORDER BY change_seq, id`.
CREATE INDEX jobs_changes ON jobs (change_seq);

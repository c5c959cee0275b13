-- Jobs and their logs. Times are timestamptz read from the database's clock (now()); ids come
-- from an identity column (job_enqueue_many reserves them with nextval('jobs_id_seq') and inserts
-- them with OVERRIDING SYSTEM VALUE, so a batch gets ids in input order).
CREATE TABLE jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME jobs_id_seq) PRIMARY KEY,
    kind             text        NOT NULL,
    queue            text        NOT NULL,
    tenant           text,
    plugin           text,
    config           text,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority         integer     NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL,
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    timeout_ms       bigint,
    lease_owner      text,
    lease_expires_at timestamptz,
    cancel_requested boolean     NOT NULL DEFAULT false,
    error            text,
    result           jsonb,
    progress         jsonb,
    unique_key       text,
    log_seq          bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz
-- Free space in each page lets updates that touch no indexed column (progress, log_seq,
-- cancel_requested) stay on the page (HOT), and keeps the table from bloating under churn.
) WITH (fillfactor = 80);

-- Partial indexes keep claiming and rescuing as fast with a million finished jobs as with none.
CREATE INDEX jobs_claim ON jobs (queue, priority, run_at, id) WHERE status = 'queued';
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

CREATE TABLE job_logs (
    job_id  bigint      NOT NULL,
    seq     bigint      NOT NULL,
    time    timestamptz NOT NULL,
    level   text        NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
    message text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);

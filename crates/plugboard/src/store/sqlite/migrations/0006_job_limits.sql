-- Fairness: claims take turns between tenants, and limits cap tenants and plugins.
-- The claim index leads with the tenant (no tenant is ''), so a claim can step from one tenant
-- with runnable jobs to the next without reading their jobs.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, COALESCE(tenant, ''), priority, run_at, id) WHERE status = 'queued';

-- Concurrency and rate limits per tenant or per plugin. `name` '*' applies to every tenant (or
-- plugin) without a row of its own.
CREATE TABLE job_limits (
    scope           TEXT    NOT NULL CHECK (scope IN ('tenant', 'plugin')),
    name            TEXT    NOT NULL,
    max_running     INTEGER,
    rate_per_second REAL,
    burst           INTEGER,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);

-- The token bucket of each tenant or plugin that has a rate limit.
CREATE TABLE job_limit_buckets (
    scope       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    tokens      REAL    NOT NULL,
    refilled_at INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);

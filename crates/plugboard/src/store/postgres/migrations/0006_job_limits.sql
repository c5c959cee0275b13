-- Fairness: claims take turns between tenants, and limits cap tenants and plugins.
-- The claim index leads with the tenant (no tenant is ''), so a claim can step from one tenant
-- with runnable jobs to the next without reading their jobs.
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, (COALESCE(tenant, '')), priority, run_at, id) WHERE status = 'queued';

-- Concurrency and rate limits per tenant or per plugin. `name` '*' applies to every tenant (or
-- plugin) without a row of its own.
CREATE TABLE job_limits (
    scope           text             NOT NULL CHECK (scope IN ('tenant', 'plugin')),
    name            text             NOT NULL,
    max_running     integer,
    rate_per_second double precision,
    burst           integer,
    updated_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name)
);

-- The token bucket of each tenant or plugin that has a rate limit.
CREATE TABLE job_limit_buckets (
    scope       text             NOT NULL,
    name        text             NOT NULL,
    tokens      double precision NOT NULL,
    refilled_at timestamptz      NOT NULL,
    PRIMARY KEY (scope, name)
);

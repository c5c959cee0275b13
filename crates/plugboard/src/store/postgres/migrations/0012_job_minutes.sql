-- How many attempts each node finished per minute, by outcome: the console's charts.
CREATE TABLE job_minutes (
    minute    timestamptz NOT NULL,
    node      text        NOT NULL,
    succeeded bigint      NOT NULL DEFAULT 0,
    failed    bigint      NOT NULL DEFAULT 0,
    retried   bigint      NOT NULL DEFAULT 0,
    cancelled bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, node)
);

-- Console sessions are tokens with the admin's rights.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_access_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_access_check
    CHECK (access IN ('read', 'write', 'admin'));

-- API tokens the admin creates. Only the sha256 of a token's secret is kept.
CREATE TABLE api_tokens (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    hash       text        NOT NULL UNIQUE,
    tenant     text,
    access     text        NOT NULL CHECK (access IN ('read', 'write')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

